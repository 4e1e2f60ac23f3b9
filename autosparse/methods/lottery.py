"""Lottery ticket (LTH / IMP with rewinding, Frankle & Carbin 2019): the mask of an IRP run.

Reads an IRP store through :mod:`autosparse.artifacts.irp_store` (``masks/<layer>`` bool
``[N+1, *shape]``, iteration 0 = dense).
Options: ``store=`` (path); ``iteration=``, default the first iteration whose global density is
<= the requested density (error if none; an explicit iteration denser than requested is an error).
To hit the requested count exactly, the keep-score is the *survival count* (the number of
iterations 0..i in which a weight was kept, AutoS Eq. 4 unnormalised) plus
``0.5 * |theta_0| / max|theta_0|`` as a tie-breaker within a count. The result is therefore the
IRP mask of iteration i, topped up with the weights pruned last, then those with the largest
|theta_0|; when the requested density equals iteration i's, it is exactly the IRP mask. (Any valid
i gives the same mask: the top-k by survival count; ``iteration`` records which IRP mask is used.)
With ``scope="local"`` the same keep-score is ranked within each layer. When the store has a
``theta0`` group, the model must match it (a ticket belongs to its own initialisation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..artifacts.irp_store import read_mask_history
from ..masks import keep_count
from .base import ScoringContext, register_method


def read_irp_masks(store: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``{layer: bool [c+1, *shape]}`` of an IRP store's committed masks and its ``theta0``
    group, verified (:func:`~autosparse.artifacts.irp_store.read_mask_history`)."""
    if store is None:
        raise ValueError("lottery needs store=<path of an IRP zarr store>")
    return read_mask_history(store)


def irp_kept(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Number of weights kept at each IRP iteration 0..N (all layers together)."""
    return sum(m.reshape(m.shape[0], -1).sum(1) for m in masks.values())


@register_method("lottery", needs_data=False, store=None, iteration=None)
def lottery_scores(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    irp, theta0 = read_irp_masks(ctx.options["store"])
    for n, p in ctx.params.items():
        if n not in irp or tuple(irp[n].shape[1:]) != tuple(p.shape):
            got = None if n not in irp else tuple(irp[n].shape[1:])
            raise ValueError(f"IRP store layer {n!r}: shape {got}, model has {tuple(p.shape)}")
        if n in theta0 and not np.allclose(theta0[n], p.detach().cpu().double().numpy(),
                                           rtol=1e-6, atol=1e-8):
            raise ValueError(f"the model's {n!r} differs from the IRP store's theta0 "
                             "(another seed or model?): the ticket belongs to its own theta_0")
    kept = irp_kept({n: irp[n] for n in ctx.params})
    total = sum(p.numel() for p in ctx.params.values())
    # "density <= requested" compared as counts: kept_i <= the requested keep count
    k = None if ctx.density is None else keep_count(total, ctx.density)
    it = ctx.options["iteration"]
    if it is None:
        if k is None:
            raise ValueError("lottery without a target density (score()) needs iteration=")
        below = np.nonzero(kept <= k)[0]
        if below.size == 0:
            raise ValueError(f"no IRP iteration reaches density {ctx.density:.6g} "
                             f"(lowest {kept.min() / total:.6g})")
        it = int(below[0])
    it = int(it)
    if not 0 <= it < len(kept):
        raise ValueError(f"iteration {it} outside the IRP store's 0..{len(kept) - 1}")
    if k is not None and kept[it] > k:
        raise ValueError(f"IRP iteration {it} has density {kept[it] / total:.6g} > requested "
                         f"{ctx.density:.6g}")
    mags = {n: p.detach().abs().to("cpu", torch.float64) for n, p in ctx.params.items()}
    top = max(float(m.max()) for m in mags.values()) or 1.0
    return {
        n: torch.from_numpy(irp[n][: it + 1].sum(0).astype(np.float64)) + 0.5 * mags[n] / top
        for n in ctx.params
    }
