"""Integrity of zarr stores: content digests, the integrity record, verified reads.

Every zarr store records, in the ``autosparse_integrity`` attr, a content digest
(:func:`array_digest`: BLAKE2b-128 of dtype, shape and bytes, computed from the numpy array
written) of each array, and for masks the kept count per layer. Readers verify before use and
raise :class:`DamagedArtifactError` naming the store, the array and what is wrong (a deleted
chunk reads as zarr's fill value: a digest mismatch; a truncated one fails to decode). A store
with the kind marker but no record is damaged (the writers record both together). Stores written
before the record cannot be verified: they are refused unless ``AUTOSPARSE_READ_UNVERIFIED=1``,
then read with an :class:`UnverifiedArtifactWarning`. Torch-free; zarr is imported when a store
is opened.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .atomic import KIND_ATTR

if TYPE_CHECKING:
    import zarr

INTEGRITY_ATTR = "autosparse_integrity"
DIGEST = "blake2b-128"
UNVERIFIED_ENV = "AUTOSPARSE_READ_UNVERIFIED"

# Snakemake marks directory outputs (our zarr stores) with a `.snakemake_timestamp` file.
warnings.filterwarnings("ignore", message=r"Object at \.snakemake_timestamp is not recognized")


class DamagedArtifactError(ValueError):
    """A stored artifact is damaged or incomplete (missing/undecodable chunk, digest mismatch)."""


class UnverifiedArtifactWarning(UserWarning):
    """A store written before integrity records: read without verification."""


def array_digest(a: np.ndarray) -> str:
    """BLAKE2b-128 (hex) of an array's dtype, shape and C-order bytes (little-endian)."""
    a = np.asarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.dtype.str}{tuple(a.shape)}".encode())
    h.update(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
    return h.hexdigest()


def new_record(arrays: Mapping[str, str], **extra) -> dict:
    """An integrity record (the ``autosparse_integrity`` attr): the digest's name, ``arrays``
    (``{"<group>/<layer>": digest}`` of whole arrays) and the format's other entries (``kept``
    counts of a mask store; per-iteration ``iterations`` and ``kept`` of an IRP store)."""
    return {"hash": DIGEST, "arrays": dict(arrays), **extra}


_warned: set[str] = set()


def warn_unverified(path: str | os.PathLike) -> None:
    """Warn (once per store and process) that a store has no integrity record."""
    key = os.path.abspath(path)
    if key in _warned:
        return
    _warned.add(key)
    warnings.warn(f"{path}: written before integrity records (no content digests): read "
                  "without verification", UnverifiedArtifactWarning, stacklevel=3)


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
    import zarr

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
    import zarr

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


def read_verified(group: zarr.Group, key: str, path: str | os.PathLike, record: Mapping | None,
                  kept: int | None = None) -> np.ndarray:
    """The whole array ``group[key]`` (:func:`read_array`), verified against its digest in
    ``record`` (None: a store written before records, read unverified)."""
    a = read_array(group, key, path)
    if record is not None:
        verify_digest(a, record["arrays"].get(key), path, key, kept=kept)
    return a


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
