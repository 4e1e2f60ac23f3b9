"""Masks: exact top-k selection, density schedules, applying and summarising masks.

A mask set is ``{param_name: bool tensor}`` over the weights of
:func:`autosparse.models.prunable_parameters`; ``True`` = kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from .models import prunable_parameters

Masks = dict[str, torch.Tensor]
Scores = Mapping[str, torch.Tensor]


def check_sparsity(sparsity: float) -> float:
    """Return ``sparsity`` as float; raise naming the value unless it lies in [0, 1)."""
    try:
        s = float(sparsity)
    except (TypeError, ValueError):
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}") from None
    if not (0.0 <= s < 1.0) or math.isnan(s):
        raise ValueError(f"sparsity must lie in [0, 1), got {sparsity!r}")
    return s


def keep_count(n: int, density: float) -> int:
    """Number of weights kept out of ``n`` at ``density``: ``round(density * n)``."""
    return int(round(density * n))


def _topk_flat_sorted(flat: torch.Tensor, k: int) -> torch.Tensor:
    """Reference rule for tests and ``benchmarks/bench_topk.py`` only: stable descending sort, first k."""
    mask = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    if k > 0:
        order = torch.argsort(flat, descending=True, stable=True)
        mask[order[:k]] = True
    return mask


_SAMPLE = 1 << 16  # sample size of the CPU selection; inputs under 4x this go straight to kthvalue


def _kth_largest_topk(flat: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th largest entry of 1-D ``flat`` via ``torch.topk`` of the smaller side (GPU path)."""
    n = flat.numel()
    if k <= n - k + 1:
        return torch.topk(flat, k, sorted=False).values.min()
    return torch.topk(flat, n - k + 1, largest=False, sorted=False).values.max()


def _kth_largest_sampled(flat: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th largest entry of 1-D ``flat`` (CPU path), exact, in linear time (Floyd-Rivest).

    Two order statistics of a strided sample bracket it; only the entries inside the bracket are
    selected from. Should the bracket miss (an unrepresentative sample), the whole input is.
    """
    n = flat.numel()
    if n >= 4 * _SAMPLE:
        sample = flat[:: n // _SAMPLE].sort(descending=True).values
        m = sample.numel()
        p = k / n
        r = int(p * m)
        g = 4 * math.ceil(math.sqrt(m * p * (1 - p))) + 8
        hi = float(sample[r - g]) if r - g >= 0 else math.inf
        lo = float(sample[r + g]) if r + g < m else -math.inf
        inside = flat >= lo
        n_ge = int(inside.count_nonzero())
        if hi < math.inf:
            inside &= flat <= hi
        cand = flat[inside]
        if n_ge - cand.numel() < k <= n_ge:  # entries above hi < k <= entries at or above lo
            return torch.kthvalue(cand, n_ge - k + 1).values
    return torch.kthvalue(flat, n - k + 1).values


def topk_flat(flat: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of the k largest entries; ties go to the lower index (as a stable sort would).

    Exact selection without sorting (``flat`` NaN-free): find the k-th largest value t, keep every
    entry >= t, then drop the highest-index entries == t until exactly k are kept.
    """
    n = flat.numel()
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k!r}")
    if k == 0 or k >= n:
        return torch.full((n,), k > 0, dtype=torch.bool, device=flat.device)
    kth = _kth_largest_sampled if flat.device.type == "cpu" else _kth_largest_topk
    t = kth(flat, k)
    keep = flat >= t
    surplus = int(keep.count_nonzero()) - k  # the one host sync when no tie straddles t
    if surplus:
        ties = (flat == t).nonzero().reshape(-1)
        keep[ties[ties.numel() - surplus:]] = False
    return keep


def topk_masks(
    scores: Scores,
    density: float,
    scope: str = "global",
    current: Mapping[str, torch.Tensor] | None = None,
) -> Masks:
    """Keep exactly ``round(density * N)`` weights with the highest scores.

    ``scope="global"`` ranks all layers together (N = all prunable weights); ``"local"`` keeps
    ``round(density * n_l)`` in each layer. Weights already pruned in ``current`` are never revived.
    Ties are broken by position (layer order, then flat index), so the result is deterministic.
    """
    if scope not in ("global", "local"):
        raise ValueError(f"scope must be 'global' or 'local', got {scope!r}")
    names = list(scores)
    flats = []
    for name in names:
        s = scores[name].detach().reshape(-1).to(torch.float64)
        if torch.isnan(s).any():
            raise ValueError(f"scores of {name!r} contain NaN")
        if current is not None:
            s = torch.where(current[name].reshape(-1).to(s.device), s, torch.full_like(s, -math.inf))
        flats.append(s)
    if scope == "local":
        return {
            n: topk_flat(f, keep_count(f.numel(), density)).reshape(scores[n].shape)
            for n, f in zip(names, flats)
        }
    sizes = [f.numel() for f in flats]
    keep = topk_flat(torch.cat(flats), keep_count(sum(sizes), density))
    return {n: part.reshape(scores[n].shape) for n, part in zip(names, torch.split(keep, sizes))}


def exponential_schedule(final_density: float, rounds: int) -> list[float]:
    """Densities d^(t/T), t = 1..T (METHODS.md common protocol)."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds!r}")
    return [final_density ** (t / rounds) for t in range(1, rounds + 1)]


def linear_schedule(final_density: float, rounds: int) -> list[float]:
    """Densities falling linearly from 1 to ``final_density`` over ``rounds`` steps."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds!r}")
    return [1 - (1 - final_density) * t / rounds for t in range(1, rounds + 1)]


SCHEDULES = {"exponential": exponential_schedule, "linear": linear_schedule}


def density_schedule(final_density: float, rounds: int, kind: str = "exponential") -> list[float]:
    try:
        return SCHEDULES[kind](final_density, rounds)
    except KeyError:
        raise ValueError(f"unknown schedule {kind!r}; valid: {sorted(SCHEDULES)}") from None


def dense_masks(model: nn.Module) -> Masks:
    return {n: torch.ones_like(p, dtype=torch.bool) for n, p in prunable_parameters(model).items()}


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """Zero the pruned weights of ``model`` in place and return it."""
    params = prunable_parameters(model)
    unknown = set(masks) - set(params)
    if unknown:
        raise KeyError(f"masks name parameters the model does not have: {sorted(unknown)}")
    for name, mask in masks.items():
        if mask.shape != params[name].shape:
            raise ValueError(
                f"mask {name!r} has shape {tuple(mask.shape)}, weight has {tuple(params[name].shape)}"
            )
        params[name].mul_(mask.to(params[name].device, params[name].dtype))
    return model


def mask_stats(masks: Mapping[str, torch.Tensor]) -> dict:
    """Achieved sparsity, per-layer density and collapsed layers (all weights pruned)."""
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    per_layer = {n: float(m.float().mean()) for n, m in masks.items()}
    return {
        "total": total,
        "kept": kept,
        "sparsity": 1.0 - kept / total if total else 0.0,
        "layer_density": per_layer,
        "collapsed": [n for n, d in per_layer.items() if d == 0.0],
    }


def is_nested(inner: Mapping[str, torch.Tensor], outer: Mapping[str, torch.Tensor]) -> bool:
    """True when every weight kept by ``inner`` is kept by ``outer``."""
    return all(bool((inner[n] <= outer[n]).all()) for n in inner)


class MaskEnforcer:
    """Keeps pruned weights exactly zero during training (grads and weights multiplied by masks)."""

    def __init__(self, model: nn.Module, masks: Mapping[str, torch.Tensor] | None) -> None:
        params = prunable_parameters(model)
        self.params = [params[n] for n in (masks or {})]
        self.masks = [
            masks[n].to(device=params[n].device, dtype=params[n].dtype) for n in (masks or {})
        ]

    @torch.no_grad()
    def weights(self) -> None:
        for p, m in zip(self.params, self.masks):
            p.mul_(m)

    @torch.no_grad()
    def grads(self) -> None:
        grads = [p.grad for p in self.params if p.grad is not None]
        if len(grads) == len(self.params):
            for g, m in zip(grads, self.masks):
                g.mul_(m)
