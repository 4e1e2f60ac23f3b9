"""Learned layer-wise density law (beyond the paper): an IRP ticket's layer densities as a law of
layer context, which transfers to networks of another shape.

The ``ticket_*`` methods (:mod:`.ticket_density`) copy the ticket's per-layer counts, so they need
the ticket's very layers. Here the ticket only fits one number per iteration: the exponent
``beta`` of a power law in the Erdős–Rényi layer factor (the context the survival dataset and the
scorer already read, :func:`autosparse.models.layer_fans`)::

    e_l = (fan_in_l + fan_out_l) / (fan_in_l * fan_out_l),     d_l = min(1, A * e_l ** beta)

(``beta = 1`` is the Erdős–Rényi rule of sparse training for linear layers; ``beta = 0`` is
uniform). At IRP iteration ``i`` with survivor
counts ``c_{i,l}`` of layers of ``n_l`` weights, ``beta_i`` is the least-squares slope of
``ln(c_{i,l} / n_l)`` on ``ln e_l`` over the layers neither empty nor dense (0 where fewer than
two such layers differ in ``e_l``). For a target of ``k`` of ``N`` weights, ``beta`` is
interpolated between the two iterations whose total density brackets ``k / N``, linearly in log
density (the ticket's schedule is exponential), and kept at its end values outside them. ``A``
solves ``sum_l min(s_l, A e_l^beta n_l) = k`` by bisection on ``ln A`` (``s_l`` the layer's
current survivors), and the real targets are rounded to integers summing to ``k``
(:func:`.ticket_density.round_counts`).

Within each layer a base criterion keeps its best weights, as in :mod:`.ticket_density`
(iterative bases follow the law at every round's density). Registered methods:
``law_random``, ``law_synflow`` (100 rounds), ``law_px`` (100 rounds).

Options: ``store`` (IRP zarr store of **any** network, required), ``density`` (for
:func:`score` calls), and the base method's own options.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..models import layer_fans
from .base import Method, ScoringContext
from .ticket_density import (
    check_keep,
    register_within_layers,
    round_counts,
    store_key,
    store_layer_counts,
    within_layer_scores,
)

BASES = ("random", "synflow", "px")
PREFIX = "law_"


def erdos_renyi_factor(shape: Sequence[int]) -> float:
    """``e_l = (fan_in + fan_out) / (fan_in * fan_out)`` of a weight of this ``shape``."""
    fan_in, fan_out, _ = layer_fans(tuple(int(x) for x in shape))
    return (fan_in + fan_out) / (fan_in * fan_out)


def fit_exponents(shapes: Sequence[Sequence[int]], counts: np.ndarray) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """(total density ``K_i / N``, exponent ``beta_i``) of every iteration of a ticket with
    layer ``shapes`` and survivor counts ``[n+1, L]`` (module docstring)."""
    sizes = np.array([math.prod(s) for s in shapes], dtype=np.float64)
    loge = np.log([erdos_renyi_factor(s) for s in shapes])
    counts = np.asarray(counts, dtype=np.float64)
    betas = []
    for c in counts:
        d = c / sizes
        use = (d > 0) & (d < 1)
        x, y = loge[use], np.log(d[use])
        betas.append(0.0 if use.sum() < 2 or np.ptp(x) == 0 else
                     float(np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)))
    return counts.sum(1) / sizes.sum(), np.array(betas)


def exponent_at(totals: np.ndarray, betas: np.ndarray, density: float) -> float:
    """``beta`` at a total ``density``, linear in log density between the ticket's iterations
    (their end values outside them)."""
    order = np.argsort(totals)
    lt, b = np.log(totals[order]), betas[order]
    return float(np.interp(math.log(density), lt, b))


def law_counts(shapes: Sequence[Sequence[int]], beta: float, k: int,
               caps: Sequence[int]) -> list[int]:
    """Integer per-layer keep counts summing to ``k`` under ``d_l = min(1, A e_l^beta)`` with
    each layer capped at ``caps[l]`` survivors (module docstring)."""
    sizes = np.array([math.prod(s) for s in shapes], dtype=np.float64)
    check_keep(k, caps)
    caps_f = np.asarray(caps, dtype=np.float64)
    if k == 0:
        return [0] * len(caps)
    w = np.exp(beta * np.log([erdos_renyi_factor(s) for s in shapes])) * sizes

    def kept(log_a: float) -> np.ndarray:
        return np.minimum(caps_f, np.exp(log_a) * w)

    lo, hi = math.log(k / w.sum()) - 1.0, math.log(k / w.min()) + 1.0
    for _ in range(64):  # the bracket shrinks 2^64-fold: far below a weight
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if kept(mid).sum() < k else (lo, mid)
    x = kept(hi)
    return round_counts(x * (k / x.sum()), k, caps)


@lru_cache(maxsize=8)
def _fit(store: str, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    _, shapes, counts = store_layer_counts(store)
    return fit_exponents(shapes, counts)


def store_exponents(store: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """:func:`fit_exponents` of an IRP store (cached per path and modification time, so that an
    iterative method fits once)."""
    return _fit(*store_key(store))


def law_scores(ctx: ScoringContext, base: Method) -> dict[str, torch.Tensor]:
    """Scores of a law method with criterion ``base`` within layers (module docstring)."""
    totals, betas = store_exponents(ctx.options["store"])
    target = [tuple(p.shape) for p in ctx.params.values()]
    total = sum(p.numel() for p in ctx.params.values())
    return within_layer_scores(
        ctx, base, f"{PREFIX}{base.name}",
        lambda k, caps: law_counts(target, exponent_at(totals, betas, k / total), k, caps))


for _b in BASES:
    register_within_layers(PREFIX, _b, law_scores, "a density law fitted to an IRP ticket")
