"""The survival rows as the scorer reads them: streamed from a survival dataset
(:mod:`autosparse.artifacts.survival_dataset`) with their split hash and (run, layer) group
(:func:`iter_rows`), as shuffled minibatches of the training or validation split
(:func:`stream_split`), and the normalisation statistics of all of them (:func:`survival_stats`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..artifacts.survival_dataset import (
    NUMERIC_COLUMNS,
    check_finite,
    decode,
    dictionary,
    fragments,
    record_batches,
)
from ..features import check_choice
from .inputs import FeatureStats
from .splits import in_train_subsample, is_validation, row_hash

if TYPE_CHECKING:
    import pyarrow.dataset as pds


def iter_rows(
    dataset: pds.Dataset, read_batch: int = 65536, order_seed: int | None = None,
    groups: dict[tuple[str, str], int] | None = None, grow: bool = False,
) -> Iterator[dict[str, np.ndarray]]:
    """Record batches as dicts of numpy columns, file by file (file order permuted by
    ``order_seed`` when given), plus ``hash`` (:func:`row_hash`) and ``gid``: the index of the
    row's (run, layer) in ``groups`` (added to it when ``grow``). Holds one record batch."""
    groups = {} if groups is None else groups
    for frag in fragments(dataset, order_seed):
        for rb in record_batches(frag, read_batch):
            if rb.num_rows == 0:
                continue
            out = {c: rb.column(c).to_numpy(zero_copy_only=False) for c in NUMERIC_COLUMNS}
            run, layer = dictionary(rb.column("run")), dictionary(rb.column("layer"))
            runs, layers = run.dictionary.to_pylist(), layer.dictionary.to_pylist()
            ri = run.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            li = layer.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            uniq, inv = np.unique(ri * len(layers) + li, return_inverse=True)
            table = np.empty(len(uniq), np.int64)
            for k, u in enumerate(uniq.tolist()):
                key = (str(runs[u // len(layers)]), str(layers[u % len(layers)]))
                if key not in groups:
                    if not grow:
                        raise KeyError(f"rows of (run, layer) {key} have no normalisation stats")
                    groups[key] = len(groups)
                table[k] = groups[key]
            out["gid"] = table[inv.reshape(-1)]
            out["layer"] = np.asarray(layers, dtype=object)[li]
            out["kind"] = decode(rb.column("kind"))
            out["hash"] = row_hash(run, layer, out["flat_index"])
            yield out


def stream_split(
    dataset: pds.Dataset, split: str, val_percent: float, batch_size: int,
    shuffle_buffer: int = 0, seed: int = 0, read_batch: int = 65536,
    columns: Sequence[str] | None = None, groups: dict[tuple[str, str], int] | None = None,
    grow: bool | None = None, train_percent: float = 100.0,
) -> Iterator[dict[str, np.ndarray]]:
    """Minibatches (dicts of numpy columns) of the ``"train"`` or ``"val"`` rows.

    Each row of the split appears exactly once per pass. With ``shuffle_buffer > 0`` rows are
    shuffled within a buffer of that many rows (filled from record batches, the file order also
    permuted) under ``seed``; otherwise they come in file order. The last batch may be short.
    ``gid`` indexes ``groups`` (``{(run, layer): i}``; new keys are added when ``grow``, default:
    when no ``groups`` are given; otherwise an unknown key is an error). ``train_percent`` keeps
    that share of the training rows (:func:`in_train_subsample`)."""
    check_choice("split", split, ("train", "val"))
    rng = np.random.default_rng(seed)
    buf: list[dict[str, np.ndarray]] = []
    nbuf = 0
    order_seed = int(rng.integers(2**31)) if shuffle_buffer > 0 else None

    def emit(block: dict[str, np.ndarray], final: bool):
        n = len(block["hash"])
        if shuffle_buffer > 0:
            perm = rng.permutation(n)
            block = {k: v[perm] for k, v in block.items()}
        stop = n if final else n - n % batch_size
        for i in range(0, stop, batch_size):
            yield {k: v[i:i + batch_size] for k, v in block.items()}
        return {k: v[stop:] for k, v in block.items()}

    grow = groups is None if grow is None else grow
    for b in iter_rows(dataset, read_batch, order_seed, groups, grow=grow):
        keep = is_validation(b["hash"], val_percent)
        if split == "train":
            keep = ~keep & in_train_subsample(b["hash"], train_percent)
        if columns is not None:
            b = {k: b[k] for k in sorted(set(columns) | {"hash"})}
        buf.append({k: v[keep] for k, v in b.items()})
        nbuf += int(keep.sum())
        if nbuf >= max(shuffle_buffer, batch_size):
            block = {k: np.concatenate([x[k] for x in buf]) for k in buf[0]}
            rest = yield from emit(block, final=False)
            buf, nbuf = [rest], len(rest["hash"])
    if nbuf:
        block = {k: np.concatenate([x[k] for x in buf]) for k in buf[0]}
        yield from emit(block, final=True)


def survival_stats(dataset: pds.Dataset, read_batch: int = 65536) -> dict:
    """One streaming pass: :class:`FeatureStats` per (run, layer) over all rows (features only,
    no labels), plus the row count."""
    acc = FeatureStats()
    groups: dict[tuple[str, str], int] = {}
    n = 0
    for b in iter_rows(dataset, read_batch, groups=groups, grow=True):
        check_finite(b)
        n += len(b["theta0"])
        for key in list(groups):
            acc.group(*key)  # same order as groups
        for gid in np.unique(b["gid"]).tolist():
            rows = b["gid"] == gid
            acc.update(gid, b["theta0"][rows], b["grad0"][rows], b["flat_index"][rows])
    return {**acc.to_dict(), "rows": n}


def stats_groups(stats: Mapping) -> dict[tuple[str, str], int]:
    """``{(run, layer): group index}`` of normalisation stats."""
    return {(r, la): i for i, (r, la) in enumerate(zip(stats["runs"], stats["layers"]))}


__all__ = ["iter_rows", "stats_groups", "stream_split", "survival_stats"]
