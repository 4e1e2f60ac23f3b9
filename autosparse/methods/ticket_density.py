"""Ticket densities (beyond the paper): the IRP ticket's layer-wise densities, a criterion within.

Frankle et al. (2021, Sec. 5) find that pruning-at-initialization methods matter mostly through
the *layer-wise densities* they choose, and an iterative-pruning (IRP) ticket carries good ones.
These methods transfer only that structure from an IRP store (the masks of a run on **another**
initialisation, e.g. seed 0, while the pruned network is seed k): never its per-weight mask.

For a target keep count ``k`` (``round(density * N)``, the shared protocol's count) and the
store's per-layer survivor counts ``c_{i,l}`` at iterations ``i = 0..n`` (nested masks, totals
``K_i``), layer ``l``'s share of the survivors is interpolated between the two iterations that
bracket ``k``, linearly in ``t = (ln K_i - ln k) / (ln K_i - ln K_{i+1})`` (the IRP schedule is
exponential, so ``t`` is the fractional iteration)::

    share_l(k) = (1 - t) c_{i,l} / K_i + t c_{i+1,l} / K_{i+1},     x_l = k * share_l(k)

(below the ticket's last density the last iteration's shares are kept). ``x_l`` sums to ``k``;
integer counts ``k_l`` are ``floor(x_l)`` plus one for the largest remainders, so each layer is
within one weight of ``x_l`` (:func:`ticket_counts`), capped at the layer's current survivors.

Within each layer the ``k_l`` survivors with the highest scores of a *base* criterion are kept.
The returned scores are ``1 + r`` for those and ``r`` for the other survivors, ``r`` in
``[0.25, 0.5]`` rising with the base score within the layer (higher = better), so the
protocol's global top-k keeps exactly the ``k_l`` per layer; ``scope="local"`` ignores the ticket
and ranks each layer by the base criterion at the uniform density. An iterative base (``rounds > 1``) re-scores
the survivors every round and each round's per-layer counts follow the ticket's trajectory at
that round's density (iterative application, "score, prune a fraction, rescore").

Registered methods (base criterion, default rounds as the base):

* ``ticket_random`` -- random within layers: what the ticket's layer densities give alone;
* ``ticket_synflow`` -- SynFlow, 100 rounds (data-free, connectivity within layers);
* ``ticket_px`` -- PX, 100 rounds (the best hand-designed criterion of the cpu profile);
* ``ticket_autos`` -- the learned AutoS scorer within layers (needs ``scorer=`` as ``autos``).

Options: ``store`` (IRP zarr store, required), ``density`` (target density for :func:`score`
calls, which carry none), and the base method's own options.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..masks import keep_count, topk_flat
from . import autos, px, random, synflow  # noqa: F401  (the base methods, registered first)
from .base import Method, ScoringContext, get_method, register_method
from .lottery import read_irp_masks

BASES = ("random", "synflow", "px", "autos")
PREFIX = "ticket_"


@lru_cache(maxsize=8)
def _layer_counts(store: str, mtime_ns: int) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...],
                                                        np.ndarray]:
    """(layer names, layer shapes, survivor counts ``[n+1, L]``) of an IRP store; cached per
    path and modification time, so that an iterative method reads the store once."""
    masks, _ = read_irp_masks(store)
    names = tuple(masks)
    shapes = tuple(tuple(masks[n].shape[1:]) for n in names)
    counts = np.stack([masks[n].reshape(masks[n].shape[0], -1).sum(1) for n in names], axis=1)
    return names, shapes, counts.astype(np.int64)


def store_layer_counts(store: str | Path) -> tuple[tuple[str, ...], tuple[tuple[int, ...], ...],
                                                  np.ndarray]:
    """Layer names, shapes and per-iteration survivor counts of an IRP store (cached read)."""
    return _layer_counts(*store_key(store))


def store_key(store: str | Path | None) -> tuple[str, int]:
    """(resolved path, modification time) of an IRP store: the key of the per-store caches."""
    if store is None:
        raise ValueError("ticket methods need store=<path of an IRP zarr store>")
    p = Path(store)
    if not p.exists():
        raise FileNotFoundError(f"IRP store not found: {store}")
    return str(p.resolve()), p.stat().st_mtime_ns


def ticket_shares(counts: np.ndarray, k: int) -> np.ndarray:
    """Each layer's share of ``k`` survivors, interpolated from the ticket's counts ``[n+1, L]``
    (module docstring); shares sum to 1."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(1)
    if (totals <= 0).any():
        raise ValueError("IRP store has an iteration with no weight kept")
    if k >= totals[0]:
        return counts[0] / totals[0]
    i = int(np.nonzero(totals >= k)[0].max())  # last iteration at least as dense as k
    if i == len(totals) - 1 or totals[i] == totals[i + 1]:
        return counts[i] / totals[i]
    t = (math.log(totals[i]) - math.log(k)) / (math.log(totals[i]) - math.log(totals[i + 1]))
    return (1 - t) * counts[i] / totals[i] + t * counts[i + 1] / totals[i + 1]


def ticket_counts(counts: np.ndarray, k: int, caps: Sequence[int]) -> list[int]:
    """Integer per-layer keep counts summing to ``k`` from the ticket's shares
    (:func:`ticket_shares`), rounded by :func:`round_counts`."""
    return round_counts(ticket_shares(counts, k) * k, k, caps)


def check_keep(k: int, caps: Sequence[int]) -> None:
    """ValueError unless ``0 <= k <= sum(caps)``."""
    if k < 0 or k > sum(int(c) for c in caps):
        raise ValueError(f"cannot keep {k} weights out of {sum(int(c) for c in caps)} survivors")


def round_counts(x: np.ndarray, k: int, caps: Sequence[int]) -> list[int]:
    """Integer counts summing to ``k`` from real targets ``x`` (summing to ``k``):
    ``floor(x_l)`` plus one for the largest remainders (ties: lower layer index), at most
    ``caps[l]``; a count cut by its cap goes to the layers with room, largest target first."""
    caps = [int(c) for c in caps]
    check_keep(k, caps)
    if k == 0:
        return [0] * len(caps)
    out = [min(int(math.floor(v)), c) for v, c in zip(x, caps)]
    left = k - sum(out)
    by_remainder = sorted(range(len(x)), key=lambda j: (-(x[j] - math.floor(x[j])), j))
    for j in by_remainder:
        if left <= 0:
            break
        if out[j] < caps[j] and out[j] == math.floor(x[j]):
            out[j] += 1
            left -= 1
    for j in sorted(range(len(x)), key=lambda j: (-x[j], j)):
        if left <= 0:
            break
        add = min(caps[j] - out[j], left)
        out[j] += add
        left -= add
    while left < 0:  # targets rounded up past k (x summing to a little more than k)
        j = max(range(len(x)), key=lambda j: (out[j] - x[j], -j))
        out[j] -= 1
        left += 1
    return out


def layer_keep_scores(base: Mapping[str, torch.Tensor], alive: Mapping[str, torch.Tensor],
                      keep: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """``1 + r`` for the ``keep[l]`` best survivors of each layer by ``base`` (ties: lower index,
    :func:`autosparse.masks.topk_flat`), ``r`` for the other survivors, 0 for pruned weights;
    ``r`` in ``[0.25, 0.5]`` rises with the base score within the layer (its min-max scaling;
    the within-layer rank where a score is infinite)."""
    out = {}
    for n, b in base.items():
        flat = b.detach().reshape(-1).to("cpu", torch.float64)
        if torch.isnan(flat).any():
            raise ValueError(f"base scores of {n!r} contain NaN")
        a = alive[n].reshape(-1).to("cpu", torch.bool)
        vals = flat[a]
        if keep[n] > vals.numel():
            raise ValueError(f"layer {n!r}: cannot keep {keep[n]} of {vals.numel()} survivors")
        s = torch.zeros_like(flat)
        s[a] = 0.25 + 0.25 * _unit(vals) + topk_flat(vals, keep[n]).to(torch.float64)
        out[n] = s.reshape(b.shape)
    return out


def _unit(v: torch.Tensor) -> torch.Tensor:
    """``v`` mapped increasingly onto ``[0, 1]``: min-max scaling, ranks if a value is infinite."""
    if v.numel() == 0:
        return v
    if not torch.isfinite(v).all():
        ranks = torch.empty_like(v)
        ranks[torch.argsort(v, stable=True)] = torch.arange(v.numel(), dtype=v.dtype)
        return ranks / max(v.numel() - 1, 1)
    lo, hi = v.min(), v.max()
    return torch.ones_like(v) if hi == lo else (v - lo) / (hi - lo)


def within_layer_scores(ctx: ScoringContext, base: Method, name: str,
                        layer_counts: Callable[[int, list[int]], list[int]]
                        ) -> dict[str, torch.Tensor]:
    """Scores that keep ``layer_counts(k, caps)[l]`` weights of layer ``l`` (``k`` the protocol's
    keep count at this round's density, ``caps`` the layers' survivors), the best by ``base``."""
    density = ctx.density if ctx.density is not None else ctx.options.get("density")
    if density is None:
        raise ValueError(f"{name} without a target density (score()) needs density=")
    total = sum(p.numel() for p in ctx.params.values())
    alive = {n: ctx.masks[n].to("cpu", torch.bool) for n in ctx.params}
    caps = [int(alive[n].sum()) for n in ctx.params]
    k = layer_counts(keep_count(total, float(density)), caps)
    scores = base.fn(ctx)
    return layer_keep_scores({n: scores[n] for n in ctx.params}, alive, dict(zip(ctx.params, k)))


def ticket_scores(ctx: ScoringContext, base: Method) -> dict[str, torch.Tensor]:
    """Scores of a ticket method with criterion ``base`` within layers (module docstring)."""
    names, shapes, counts = store_layer_counts(ctx.options["store"])
    layers = dict(zip(names, shapes))
    for n, p in ctx.params.items():
        if layers.get(n) != tuple(p.shape):
            raise ValueError(f"IRP store layer {n!r}: shape {layers.get(n)}, model has "
                             f"{tuple(p.shape)}")
    cols = [names.index(n) for n in ctx.params]
    return within_layer_scores(ctx, base, f"{PREFIX}{base.name}",
                               lambda k, caps: ticket_counts(counts[:, cols], k, caps))


def register_within_layers(prefix: str, base_name: str,
                           scores: Callable[[ScoringContext, Method], dict[str, torch.Tensor]],
                           what: str) -> None:
    """Register ``<prefix><base_name>``: ``scores(ctx, base)`` with the base method's data
    needs, rounds and options, plus ``store=`` and ``density=``."""
    base = get_method(base_name)

    def fn(ctx: ScoringContext) -> dict[str, torch.Tensor]:
        return scores(ctx, base)

    fn.__name__ = fn.__qualname__ = f"{prefix}{base_name}_scores"
    fn.__doc__ = f"{base_name} within the layer-wise densities of {what}."
    register_method(f"{prefix}{base_name}", needs_data=base.needs_data, bn_mode=base.bn_mode,
                    rounds=base.rounds, store=None, density=None, **base.options)(fn)


for _b in BASES:
    register_within_layers(PREFIX, _b, ticket_scores, "an IRP ticket")
