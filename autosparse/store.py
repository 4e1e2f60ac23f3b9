"""Artifact I/O: run identity, atomic writes, zarr mask stores, provenance, integrity.

Nothing half-written is ever read as complete: files and zarr stores are written to a temporary
sibling path (``.<name>.tmp-<pid>@<host>``) and renamed into place (``os.replace`` is atomic on
one filesystem). A temp folder left by a writer that died (its pid is not alive on this host) is
removed when the next writer of that output starts.

An output path is replaced only when it is missing, empty, or an artifact of the same kind
(:func:`artifact_kind`: the ``autosparse_kind`` attr the writers record, or the layout of a store
written before that attr existed); anything else is refused with :class:`OutputConflictError`.

Integrity: every zarr store records, in the ``autosparse_integrity`` attr, a content digest
(:func:`array_digest`: BLAKE2b-128 of dtype, shape and bytes, computed from the numpy array
written) of each array, and for masks the kept count per layer. Readers verify before use and
raise :class:`DamagedArtifactError` naming the store, the array and what is wrong (a deleted
chunk reads as zarr's fill value: a digest mismatch; a truncated one fails to decode). A store
with the kind marker but no record is damaged (the writers record both together). Stores written
before the record cannot be verified: they are refused unless ``AUTOSPARSE_READ_UNVERIFIED=1``,
then read with an :class:`UnverifiedArtifactWarning`.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
import zarr

from .data import REPO_ROOT

# Snakemake marks directory outputs (our zarr stores) with a `.snakemake_timestamp` file.
warnings.filterwarnings("ignore", message=r"Object at \.snakemake_timestamp is not recognized")


def canonical_json(obj) -> str:
    """Key-sorted, compact JSON: the identity of a set of parameters."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(params: Mapping, length: int = 12) -> str:
    """Short SHA-256 of the canonical JSON of ``params`` (keys whose value is None are dropped,
    so adding a new option defaulting to None keeps old hashes)."""
    clean = {k: v for k, v in params.items() if v is not None}
    return hashlib.sha256(canonical_json(clean).encode()).hexdigest()[:length]


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance() -> dict:
    """Package versions and git revision, for artifact attributes."""
    import importlib.metadata as md

    versions = {}
    for pkg in ("autosparse", "torch", "numpy", "zarr", "pyarrow", "pandas"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {"versions": versions, "git_revision": git_revision()}


# --- artifact kinds and errors --------------------------------------------------------------------

KIND_ATTR = "autosparse_kind"
INTEGRITY_ATTR = "autosparse_integrity"
MASK_STORE, SCORE_STORE, IRP_STORE = "mask_store", "score_store", "irp_store"
SURVIVAL_DATASET = "survival_dataset"  # a Parquet dataset directory (autosparse.survival)
KIND_NAMES = {MASK_STORE: "a mask store", SCORE_STORE: "a score store",
              IRP_STORE: "an IRP store", SURVIVAL_DATASET: "a survival dataset"}
DIGEST = "blake2b-128"
# Files other tools put into our outputs; a folder holding only these counts as empty.
_BOOKKEEPING = {".snakemake_timestamp"}


class DamagedArtifactError(ValueError):
    """A stored artifact is damaged or incomplete (missing/undecodable chunk, digest mismatch)."""


class OutputConflictError(ValueError):
    """An output path holds something that an artifact of this kind may not replace."""


class UnverifiedArtifactWarning(UserWarning):
    """A store written before integrity records: read without verification."""


def _host() -> str:
    return socket.gethostname() or "localhost"


def _tmp_sibling(path: Path, tag: str = "tmp") -> Path:
    """``.<name>.<tag>-<pid>@<host>``: whose temp it is (see :func:`clean_stale_temps`)."""
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}@{_host()}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return True
    return True


def clean_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove temp siblings of ``path`` (``.<name>.tmp-<pid>@<host>``, ``.old-``) left by
    writers that died: same host, pid not alive. Others' temps are left alone. Returns them."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?:tmp|old)-(\d+)@(.+)$")
    removed = []
    host = _host()
    for cand in path.parent.glob(f".{glob.escape(path.name)}.*-*@*"):
        m = pattern.match(cand.name)
        if not m or m.group(2) != host or int(m.group(1)) == os.getpid():
            continue
        if _pid_alive(int(m.group(1))):
            continue
        if cand.is_dir() and not cand.is_symlink():
            shutil.rmtree(cand, ignore_errors=True)
        else:
            cand.unlink(missing_ok=True)
        removed.append(cand)
    return removed


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


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def write_file_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Create ``path`` by ``write(tmp)`` on a temporary sibling ``.<name>.tmp-<pid>``, renamed
    into place (readers see the old file or the new one; the temp is removed on failure).

    The temp's name is part of a ``torch.save`` file: its zip archive records the stem of the
    path it was written to, so this naming keeps checkpoints byte-identical to earlier ones."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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


# --- integrity -------------------------------------------------------------------------------------


def array_digest(a: np.ndarray) -> str:
    """BLAKE2b-128 (hex) of an array's dtype, shape and C-order bytes (little-endian)."""
    a = np.asarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.dtype.str}{tuple(a.shape)}".encode())
    h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
    return h.hexdigest()


_warned: set[str] = set()


def warn_unverified(path: str | os.PathLike) -> None:
    """Warn (once per store and process) that a store has no integrity record."""
    key = os.path.abspath(path)
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(f"{path}: written before integrity records (no content digests): read "
                  "without verification", UnverifiedArtifactWarning, stacklevel=3)


UNVERIFIED_ENV = "AUTOSPARSE_READ_UNVERIFIED"


def integrity_record(group: zarr.Group, path: str | os.PathLike) -> dict | None:
    """The store's integrity record. A store marked with its kind but without a record is
    damaged; one written before records (no kind marker either) cannot be verified (a deleted
    chunk would read as zeros): refused unless ``$AUTOSPARSE_READ_UNVERIFIED`` is 1, then None
    with a warning."""
    record = group.attrs.get(INTEGRITY_ATTR)
    if record is None:
        if group.attrs.get(KIND_ATTR) is not None:
            raise DamagedArtifactError(f"{path}: integrity record missing (the store names its "
                                       "kind, so it was written with one): damaged metadata")
        if os.environ.get(UNVERIFIED_ENV) != "1":
            raise DamagedArtifactError(
                f"{path}: written before integrity records, so a damaged chunk cannot be told "
                f"from data; rebuild it, or set {UNVERIFIED_ENV}=1 to read it unverified")
        warn_unverified(path)
        return None
    if not isinstance(record, dict) or "arrays" not in record:
        raise DamagedArtifactError(f"{path}: integrity record unreadable")
    return record


def open_group_checked(path: str | os.PathLike) -> zarr.Group:
    """``zarr.open_group(path, mode="r")``; unreadable metadata -> :class:`DamagedArtifactError`
    (a missing store stays FileNotFoundError)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no store at {path}")
    try:
        return zarr.open_group(str(path), mode="r")
    except FileNotFoundError:
        if (Path(path) / "zarr.json").exists():
            raise DamagedArtifactError(f"{path}: zarr.json is not a readable zarr group") from None
        raise
    except (ValueError, OSError) as e:
        raise DamagedArtifactError(f"{path}: metadata unreadable ({type(e).__name__}: {e})") \
            from None


def read_array(group: zarr.Group, key: str, path: str | os.PathLike,
               selection=Ellipsis, what: str = "") -> np.ndarray:
    """``group[key][selection]`` as numpy; a missing array or an undecodable chunk raises
    :class:`DamagedArtifactError` naming the store and the array (``what``: e.g. ``, iteration 2``)."""
    try:
        arr = group[key]
    except KeyError:
        raise DamagedArtifactError(f"{path}: array {key}{what}: missing") from None
    if not isinstance(arr, zarr.Array):
        raise DamagedArtifactError(f"{path}: array {key}{what}: not an array")
    try:
        return np.asarray(arr[selection])
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as e:  # codec errors are RuntimeError, ValueError, ... depending on codec
        raise DamagedArtifactError(
            f"{path}: array {key}{what}: cannot decode a chunk ({type(e).__name__}: {e}): "
            "damaged or truncated chunk") from None


def verify_digest(a: np.ndarray, expected: str | None, path: str | os.PathLike, key: str,
                  what: str = "", kept: int | None = None) -> None:
    """Raise :class:`DamagedArtifactError` unless ``a`` has the recorded digest."""
    if expected is None:
        raise DamagedArtifactError(f"{path}: array {key}{what}: no digest recorded "
                                   "(incomplete store)")
    if array_digest(a) == expected:
        return
    extra = ""
    if kept is not None and a.dtype == bool:
        got = int(np.count_nonzero(a))
        if got != kept:
            extra = f"; {got} weights kept, {kept} recorded"
    raise DamagedArtifactError(f"{path}: array {key}{what}: content digest mismatch (damaged or "
                               f"incomplete chunk{extra})")


def verify_iteration(a: np.ndarray, record: Mapping, path: str | os.PathLike, key: str,
                     i: int) -> None:
    """Verify slice ``i`` of an IRP array (``masks/<layer>``, ``trained/<layer>``) against the
    digest recorded when iteration ``i`` was committed (``record["iterations"][i]``)."""
    its = record.get("iterations") or []
    entry = its[i] if 0 <= i < len(its) else None
    expected = entry.get(key) if isinstance(entry, Mapping) else None
    kept = None
    group, _, layer = key.partition("/")
    if group == "masks":
        ks = record.get("kept") or []
        if 0 <= i < len(ks) and isinstance(ks[i], Mapping):
            kept = ks[i].get(layer)
    verify_digest(a, expected, path, key, f", iteration {i}", kept)


def to_numpy(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def write_arrays(group: zarr.Group, name: str, arrays: Mapping[str, torch.Tensor]
                 ) -> dict[str, str]:
    """Write ``{param_name: tensor}`` as arrays of subgroup ``name`` (one array per layer).
    Returns ``{"<name>/<param_name>": digest}`` of the arrays written."""
    sub = group.require_group(name)
    digests = {}
    for key, value in arrays.items():
        a = to_numpy(value)
        arr = sub.create_array(key, shape=a.shape, dtype=a.dtype, chunks=a.shape or None)
        arr[...] = a
        digests[f"{name}/{key}"] = array_digest(a)
    return digests


def read_arrays(group: zarr.Group, name: str) -> dict[str, torch.Tensor]:
    """All arrays of subgroup ``name``, unverified (see :func:`read_mask_store`)."""
    sub = group[name]
    return {k: torch.from_numpy(np.asarray(sub[k][...])) for k in sorted(sub.array_keys())}


def _write_layers(path: str | os.PathLike, groups: Mapping[str, Mapping[str, torch.Tensor]],
                  layers: list[str], attrs: Mapping | None, kind: str) -> None:
    """Atomically write ``{group: {layer: array}}`` and attrs (layer order in attrs["layers"]),
    with the kind marker and the integrity record (digests; kept counts of bool arrays)."""
    with atomic_dir(path, kind) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        digests: dict[str, str] = {}
        kept: dict[str, int] = {}
        for name, arrays in groups.items():
            digests.update(write_arrays(root, name, arrays))
            if name == "mask":
                kept.update({k: int(v.sum()) for k, v in arrays.items()})
        record = {"hash": DIGEST, "arrays": digests, **({"kept": kept} if kept else {})}
        root.attrs.update({"layers": layers, **dict(attrs or {}), **provenance(),
                           KIND_ATTR: kind, INTEGRITY_ATTR: record})


def write_mask_store(
    path: str | os.PathLike, masks: Mapping[str, torch.Tensor],
    scores: Mapping[str, torch.Tensor] | None = None, attrs: Mapping | None = None,
) -> None:
    """Mask store (DESIGN.md): ``mask/<layer>`` bool, optional ``scores/<layer>``, attrs.

    Layer names keep their order in attrs["layers"] (zarr lists keys sorted).
    """
    groups = {"mask": {k: v.bool() for k, v in masks.items()}}
    if scores is not None:
        groups["scores"] = {k: v.float() for k, v in scores.items()}
    _write_layers(path, groups, list(masks), attrs, MASK_STORE)


def _read_layers(path: str | os.PathLike, name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """(``name/<layer>`` arrays in layer order, attrs), each array verified against the store's
    integrity record (stores without one: a warning)."""
    root = open_group_checked(path)
    attrs = dict(root.attrs)
    record = integrity_record(root, path)
    if "layers" in attrs:
        layers = list(attrs["layers"])
    else:
        try:
            layers = sorted(root[name].array_keys())
        except KeyError:
            raise DamagedArtifactError(f"{path}: group {name} missing") from None
    kept = (record or {}).get("kept", {}) if name == "mask" else {}
    out = {}
    for k in layers:
        key = f"{name}/{k}"
        a = read_array(root, key, path)
        if record is not None:
            verify_digest(a, record["arrays"].get(key), path, key, kept=kept.get(k))
        out[k] = torch.from_numpy(a)
    return out, attrs


def read_mask_store(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(masks in layer order, attrs) of a mask store, verified (:class:`DamagedArtifactError`)."""
    return _read_layers(path, "mask")


def write_score_store(
    path: str | os.PathLike, scores: Mapping[str, torch.Tensor], attrs: Mapping | None = None
) -> None:
    """Score store: ``scores/<layer>`` in float64 (masks thresholded from it equal those of a
    fresh scoring, ties included) and attrs; layer order in attrs["layers"]."""
    _write_layers(path, {"scores": {k: v.double() for k, v in scores.items()}}, list(scores),
                  attrs, SCORE_STORE)


def read_score_store(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(scores in layer order, attrs) of a score store, verified."""
    return _read_layers(path, "scores")
