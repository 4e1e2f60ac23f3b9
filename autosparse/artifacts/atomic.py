"""Atomic writes of artifacts: files and directories appear complete or not at all.

Everything is written to a temporary sibling (``.<name>.tmp-<pid>@<host>``) and renamed into
place (``os.replace`` is atomic on one filesystem): :func:`replace_file` (and :func:`write_bytes`,
:func:`write_text`, :func:`write_json_atomic`) for single files, :func:`atomic_dir` and
:func:`publish_dir` for directories (zarr stores, Parquet datasets). A temp left by a writer that
died (its pid is not alive on this host) is removed when the next writer of that output starts.

A directory output is replaced only when it is missing, empty, or an artifact of the same kind
(:func:`artifact_kind`: the ``autosparse_kind`` attr the writers record, or the layout of a store
written before that attr existed); anything else is refused with :class:`OutputConflictError`.
One writer per directory artifact: :func:`writer_lock`.

Torch-free and zarr-free (tables, figures and the data cache write through it).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

KIND_ATTR = "autosparse_kind"
MASK_STORE, SCORE_STORE, IRP_STORE = "mask_store", "score_store", "irp_store"
SURVIVAL_DATASET = "survival_dataset"  # a Parquet dataset directory (autosparse.survival)
KIND_NAMES = {MASK_STORE: "a mask store", SCORE_STORE: "a score store",
              IRP_STORE: "an IRP store", SURVIVAL_DATASET: "a survival dataset"}
# Files other tools put into our outputs; a folder holding only these counts as empty.
_BOOKKEEPING = {".snakemake_timestamp"}


class OutputConflictError(ValueError):
    """An output path holds something that an artifact of this kind may not replace."""


# --- temp names and stale temps --------------------------------------------------------------------


def _host() -> str:
    return socket.gethostname() or "localhost"


def _host_tag() -> str:
    """The host in temp names, without dots: everything a temp name adds to ``<name>`` then lies
    after its last dot (torch.save names the archive inside a file after its path up to there)."""
    return _host().replace(".", "_")


def _tmp_sibling(path: Path, tag: str = "tmp", hidden: bool = True) -> Path:
    """``.<name>.<tag>-<pid>@<host>``: whose temp it is (see :func:`clean_stale_temps`)."""
    return path.with_name(f"{'.' if hidden else ''}{path.name}.{tag}-{os.getpid()}@{_host_tag()}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's live process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def clean_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove temp siblings of ``path`` (``[.]<name>.tmp-<pid>@<host>``, ``.old-``) left by
    writers that died: same host, pid not alive. Others' temps are left alone. Returns them."""
    path = Path(path)
    pattern = re.compile(rf"^\.?{re.escape(path.name)}\.(?:tmp|old)-(\d+)@(.+)$")
    removed = []
    hosts = {_host(), _host_tag()}  # temps written before host tags lost their dots
    for cand in path.parent.glob(f"*{glob.escape(path.name)}.*-*@*"):
        m = pattern.match(cand.name)
        if not m or m.group(2) not in hosts or int(m.group(1)) == os.getpid():
            continue
        if _pid_alive(int(m.group(1))):
            continue
        _remove(cand)
        removed.append(cand)
    return removed


# --- single files ----------------------------------------------------------------------------------


@contextlib.contextmanager
def replace_file(path: str | os.PathLike, hidden: bool = True) -> Iterator[Path]:
    """Yield a temporary sibling of the file ``path`` to write; it replaces ``path`` when the
    block succeeds and is removed when it fails. Creates the parent folder; stale temps of dead
    writers of ``path`` are removed first. ``hidden=False`` drops the temp's leading dot (a file
    written by ``torch.save`` names its inner archive after the temp: ``<name>`` vs ``.<name>``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    tmp = _tmp_sibling(path, hidden=hidden)
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    os.replace(tmp, path)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` (:func:`replace_file`)."""
    with replace_file(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write ``text`` to ``path`` (:func:`replace_file`)."""
    with replace_file(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """``obj`` as indented, key-sorted JSON (non-JSON values as ``str``), written atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


# --- what an output path holds ---------------------------------------------------------------------


def _count_files(path: Path, limit: int = 1_000_000) -> str:
    n = 0
    for _, _, files in os.walk(path):
        n += len(files)
        if n >= limit:
            return f"more than {limit} files"
    return f"{n} file{'s' if n != 1 else ''}"


def _is_empty_dir(path: Path) -> bool:
    return all(p.name in _BOOKKEEPING for p in path.iterdir())


def _zarr_kind(path: Path) -> str | None:
    """Kind of a zarr group written by autosparse: its ``autosparse_kind`` attr, or (stores
    written before that attr) its layout. None when it is not one of ours."""
    meta = json.loads((path / "zarr.json").read_text())
    if not isinstance(meta, dict) or meta.get("node_type") != "group":
        return None
    attrs = meta.get("attributes") or {}
    if attrs.get(KIND_ATTR) in KIND_NAMES:
        return attrs[KIND_ATTR]
    if "layers" not in attrs or "versions" not in attrs:  # every writer recorded both
        return None
    if "completed_iterations" in attrs and (path / "masks" / "zarr.json").exists():
        return IRP_STORE
    if (path / "mask" / "zarr.json").exists():
        return MASK_STORE
    if (path / "scores" / "zarr.json").exists():
        return SCORE_STORE
    return None


def _parquet_kind(path: Path) -> str | None:
    files = [p for p in path.rglob("*") if not p.name.startswith(".") and not p.is_dir()]
    if not files or any(p.suffix != ".parquet" for p in files):
        return None
    import pyarrow.parquet as pq

    for f in files:
        if b"autosparse" not in (pq.read_schema(f).metadata or {}):
            return None
    return SURVIVAL_DATASET


def artifact_kind(path: str | os.PathLike) -> str | None:
    """The kind of autosparse artifact at ``path`` (``mask_store``, ``score_store``,
    ``irp_store``, ``survival_dataset``), or None when it is none of them."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return None
    try:
        if (path / "zarr.json").is_file():
            return _zarr_kind(path)
        return _parquet_kind(path)
    except (OSError, ValueError):  # unreadable metadata: not something we can vouch for
        return None


def check_replaceable(path: str | os.PathLike, kind: str | None) -> str | None:
    """Raise :class:`OutputConflictError` unless an artifact of ``kind`` may replace ``path``:
    missing, an empty folder, or an artifact of the same kind (``kind=None``: of any kind).
    Returns the kind found there (None when missing or empty)."""
    path = Path(path)
    if not os.path.lexists(path):
        return None
    what = KIND_NAMES.get(kind, "an artifact") if kind else "an artifact"
    lead = f"refusing to replace {path}"
    if path.is_symlink():
        raise OutputConflictError(f"{lead}: it is a symbolic link, not {what} written by "
                                  "autosparse")
    if not path.is_dir():
        raise OutputConflictError(f"{lead}: it is a file, not {what} written by autosparse")
    if _is_empty_dir(path):
        return None
    found = artifact_kind(path)
    if found is None:
        raise OutputConflictError(f"{lead}: it is not {what} written by autosparse (it holds "
                                  f"{_count_files(path)}); remove it or choose another --out")
    if kind is not None and found != kind:
        raise OutputConflictError(f"{lead}: it is {KIND_NAMES[found]} written by autosparse, "
                                  f"not {what}; remove it or choose another --out")
    return found


# --- directories -----------------------------------------------------------------------------------

_HELD_LOCKS: dict[Path, list] = {}  # path -> [open lock file, depth]: re-entrant per process


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold the one-writer lock of the artifact ``path`` (an exclusive ``fcntl`` lock on the
    sibling ``.<name>.lock``, which records the holder, removed on release); a second writer
    gets :class:`OutputConflictError` naming the holder at once. The kernel drops the lock when
    its process dies, so a leftover file is never a stale lock. Re-entrant within one process."""
    import fcntl

    path = Path(path).absolute()
    held = _HELD_LOCKS.get(path)
    if held is not None:
        held[1] += 1
        try:
            yield
        finally:
            held[1] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    while True:
        f = open(lock, "a+")  # noqa: SIM115 (held across the yield)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise OutputConflictError(f"{path} is being written by {holder}; wait for it to end "
                                      "or choose another --out") from None
        try:  # the holder before us may have removed the file after we opened it: retry
            if os.stat(lock).st_ino == os.fstat(f.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        f.close()
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {_host()}\n")
    f.flush()
    _HELD_LOCKS[path] = [f, 1]
    try:
        yield
    finally:
        del _HELD_LOCKS[path]
        lock.unlink(missing_ok=True)  # still held: nobody can take the removed file's lock
        f.close()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, kind: str | None = None) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` when the block succeeds.

    ``path`` may only be replaced when it is missing, empty or an artifact of ``kind``
    (:func:`check_replaceable`; checked before the block and again before the swap). With
    ``kind=None`` the kind is read from what the block wrote. Stale temps of dead writers of
    ``path`` are removed first.
    """
    path = Path(path)
    check_replaceable(path, kind)
    with writer_lock(path):
        yield from _atomic_dir_locked(path, kind)


def _atomic_dir_locked(path: Path, kind: str | None) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    tmp = _tmp_sibling(path)
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        yield tmp
        written = kind if kind is not None else artifact_kind(tmp)
        if written is None and os.path.lexists(path) and not (path.is_dir()
                                                               and _is_empty_dir(path)):
            raise OutputConflictError(f"refusing to replace {path}: what was written is not a "
                                      "recognised autosparse artifact")
        check_replaceable(path, written)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_into_place(tmp, path)


def _swap_into_place(src: Path, path: Path) -> None:
    """Rename the directory ``src`` to ``path`` (same filesystem), the old ``path`` aside first."""
    if os.path.lexists(path):
        old = _tmp_sibling(path, "old")
        if os.path.lexists(old):
            shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(src, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, path)


def publish_dir(src: str | os.PathLike, path: str | os.PathLike, kind: str) -> Path:
    """Move the finished artifact ``src`` (a work folder on ``path``'s filesystem) to ``path``,
    which may only be missing, empty or an artifact of ``kind`` (:func:`check_replaceable`)."""
    src, path = Path(src), Path(path)
    if artifact_kind(src) != kind:
        raise OutputConflictError(f"refusing to publish {src}: it is not {KIND_NAMES[kind]}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(path):
        check_replaceable(path, kind)
        _swap_into_place(src, path)
    return path
