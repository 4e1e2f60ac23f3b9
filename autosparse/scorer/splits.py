"""Which survival rows train the scorer and which validate it.

Every row is keyed by a 64-bit hash of (run, layer name, flat_index) (:func:`row_hash`), stable
across machines, file layouts and row order: the held-out split (:func:`is_validation`), the
training subsample (:func:`in_train_subsample`) and the quantile samples of the normalisation
statistics (:func:`sample_key`) are functions of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# --- row hashing ------------------------------------------------------------------------------

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _str_hash(s: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little"))


def row_hash(run: Sequence[str] | str, layer: Sequence[str] | str, flat_index) -> np.ndarray:
    """64-bit hash of (run, layer name, flat_index) per row: splitmix64 chained over blake2b of
    the strings. Stable across machines, file layouts and row order."""
    flat = np.asarray(flat_index, dtype=np.int64).astype(np.uint64)
    n = flat.shape[0]
    hr = np.full(n, _str_hash(run)) if isinstance(run, str) else _hash_strings(run)
    hl = np.full(n, _str_hash(layer)) if isinstance(layer, str) else _hash_strings(layer)
    with np.errstate(over="ignore"):
        return _splitmix(hr ^ _splitmix(hl ^ _splitmix(flat)))


def _hash_strings(values) -> np.ndarray:
    arr = pa.array(values) if not isinstance(values, (pa.Array, pa.ChunkedArray)) else values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    table = np.array([_str_hash(str(s)) for s in arr.dictionary.to_pylist()], dtype=np.uint64)
    return table[arr.indices.to_numpy(zero_copy_only=False).astype(np.int64)]


def sample_key(flat_index) -> np.ndarray:
    """Hash of ``flat_index`` alone: the key of the per-layer quantile samples (the same for a
    layer whether read from a survival dataset or taken from the network itself)."""
    with np.errstate(over="ignore"):
        return _splitmix(np.asarray(flat_index, np.int64).astype(np.uint64) ^ _M2)


def is_validation(hashes: np.ndarray, val_percent: float) -> np.ndarray:
    """Held-out rows: ``row_hash mod 10000 < 100 * val_percent`` (disjoint from training rows,
    stable under reordering, and the same for every scorer trained on the same rows)."""
    return (hashes % np.uint64(10000)).astype(np.int64) < int(round(100 * val_percent))


def in_train_subsample(hashes: np.ndarray, train_percent: float) -> np.ndarray:
    """Training rows kept at ``train_percent``: ``(row_hash // 10000) mod 10000 < 100 * percent``,
    bits independent of the validation split, so the subsample is a fixed, unbiased share."""
    if train_percent >= 100:
        return np.ones(len(hashes), dtype=bool)
    return ((hashes // np.uint64(10000)) % np.uint64(10000)).astype(np.int64) < int(
        round(100 * train_percent))


__all__ = ["in_train_subsample", "is_validation", "row_hash", "sample_key"]
