"""The scorer's inputs per weight: theta_0 and g_0 (:mod:`autosparse.features`) normalised with
statistics of the network the rows come from (per IRP run for training rows, the target itself
when pruning; :data:`NORMALIZATIONS`), computed by :class:`FeatureStats` in one streaming pass,
and the optional layer context of the MLP (:func:`context_features`). One definition for training
rows and targets alike."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..features import check_choice
from .config import CONTEXT_COLUMNS, INPUTS, NORMALIZATIONS
from .splits import sample_key

N_QUANTILES = 257  # knots of the per-layer |x| quantile function (layer_rank)
SAMPLE_SIZE = 8192  # per-layer bottom-k hash sample the quantiles are estimated from


class FeatureStats:
    """Per-group (one group = one layer of one network) statistics of theta_0 and g_0 for
    :func:`normalize_features`, accumulated in one streaming pass: count, mean, std (float64
    sums), per-network totals, and quantiles of |x| from the bottom-``SAMPLE_SIZE`` rows by hash
    (hash of flat_index: a deterministic uniform sample, independent of row order and identical
    for a layer whether read from a survival dataset or taken from the network itself)."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []  # (network/run, layer)
        self._index: dict[tuple[str, str], int] = {}
        self._sums: list[np.ndarray] = []  # [count, s_t, s_g, ss_t, ss_g]
        self._sample: list[tuple[np.ndarray, np.ndarray]] = []  # (hashes, |x| pairs [k, 2])

    def group(self, run: str, layer: str) -> int:
        key = (str(run), str(layer))
        if key not in self._index:
            self._index[key] = len(self.keys)
            self.keys.append(key)
            self._sums.append(np.zeros(5))
            self._sample.append((np.zeros(0, np.uint64), np.zeros((0, 2))))
        return self._index[key]

    def update(self, gid: int, theta0: np.ndarray, grad0: np.ndarray, flat_index: np.ndarray
               ) -> None:
        """Add rows of group ``gid`` (``flat_index`` keys the sample: unique within a layer)."""
        t, g = np.asarray(theta0, np.float64), np.asarray(grad0, np.float64)
        self._sums[gid] += [t.size, t.sum(), g.sum(), (t * t).sum(), (g * g).sum()]
        h0, v0 = self._sample[gid]
        h = np.concatenate([h0, sample_key(flat_index)])
        v = np.concatenate([v0, np.stack([np.abs(t), np.abs(g)], 1)])
        if h.size > SAMPLE_SIZE:
            keep = np.argsort(h, kind="stable")[:SAMPLE_SIZE]
            h, v = h[keep], v[keep]
        self._sample[gid] = (h, v)

    def to_dict(self) -> dict:
        """Plain types and tensors (stored in checkpoints, loadable with weights_only=True)."""
        sums = np.stack(self._sums) if self._sums else np.zeros((0, 5))
        n = np.maximum(sums[:, 0], 1)
        mean = sums[:, 1:3] / n[:, None]
        std = np.sqrt(np.maximum(sums[:, 3:5] / n[:, None] - mean**2, 0.0))
        runs = sorted({r for r, _ in self.keys})
        glob = {}
        for r in runs:
            s = sums[[i for i, k in enumerate(self.keys) if k[0] == r]].sum(0)
            m = s[1:3] / max(s[0], 1)
            glob[r] = (m, np.sqrt(np.maximum(s[3:5] / max(s[0], 1) - m**2, 0.0)))
        q = np.linspace(0, 1, N_QUANTILES)
        knots = np.stack([np.quantile(v, q, axis=0).T if len(v) else np.zeros((2, N_QUANTILES))
                          for _, v in self._sample]) if self._sample else np.zeros((0, 2, 0))
        return {
            "runs": [k[0] for k in self.keys], "layers": [k[1] for k in self.keys],
            "count": torch.from_numpy(sums[:, 0].astype(np.int64)),
            "mean": torch.from_numpy(mean), "std": torch.from_numpy(std),
            "global_mean": torch.from_numpy(np.stack([glob[r][0] for r in
                                                      [k[0] for k in self.keys]]))
            if self.keys else torch.zeros(0, 2),
            "global_std": torch.from_numpy(np.stack([glob[r][1] for r in
                                                     [k[0] for k in self.keys]]))
            if self.keys else torch.zeros(0, 2),
            "abs_quantiles": torch.from_numpy(knots),
        }


def normalize_features(
    theta0: np.ndarray, grad0: np.ndarray, gid: np.ndarray | int, stats: Mapping,
    method: str, inputs: str,
) -> np.ndarray:
    """Feature matrix ``[n, len(INPUTS[inputs])]`` (float32) of rows from groups ``gid`` of
    ``stats`` (:meth:`FeatureStats.to_dict`). One function for training rows and targets."""
    check_choice("normalize", method, NORMALIZATIONS)
    check_choice("inputs", inputs, INPUTS)
    x = np.stack([np.asarray(theta0, np.float64), np.asarray(grad0, np.float64)], 1)
    gid = np.broadcast_to(np.asarray(gid, np.int64), (x.shape[0],))
    if method in ("layer_standardize", "global_standardize"):
        pre = "" if method == "layer_standardize" else "global_"
        mean = stats[pre + "mean"].numpy()[gid]
        std = stats[pre + "std"].numpy()[gid]
        x = (x - mean) / np.where(std > 0, std, 1.0)
    elif method == "layer_rank":
        knots = stats["abs_quantiles"].numpy()
        q = np.linspace(0, 1, knots.shape[-1])
        out = np.empty_like(x)
        for g in np.unique(gid):
            rows = gid == g
            for c in range(2):
                out[rows, c] = np.sign(x[rows, c]) * np.interp(np.abs(x[rows, c]), knots[g, c], q)
        x = out
    cols = [{"theta0": 0, "grad0": 1}[c] for c in INPUTS[inputs]]
    return x[:, cols].astype(np.float32)


def context_features(fan_in, fan_out, kind, depth) -> np.ndarray:
    """Layer context for the MLP: log10 fan_in, log10 fan_out, is_conv, depth (``[n, 4]``)."""
    kind = np.asarray(kind)
    return np.stack([
        np.log10(np.maximum(np.asarray(fan_in, np.float64), 1)),
        np.log10(np.maximum(np.asarray(fan_out, np.float64), 1)),
        (kind == "conv").astype(np.float64),
        np.asarray(depth, np.float64),
    ], 1).astype(np.float32)


__all__ = ["CONTEXT_COLUMNS", "INPUTS", "N_QUANTILES", "NORMALIZATIONS", "SAMPLE_SIZE", "FeatureStats",
           "context_features", "normalize_features"]
