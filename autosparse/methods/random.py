"""Random pruning: i.i.d. scores (Frankle et al. 2021, Sec. 3)."""

from __future__ import annotations

import torch

from .base import ScoringContext, generator, register_method


@register_method("random", needs_data=False, seed=0, distribution="normal")
def random_scores(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    """Standard-normal (or ``distribution="uniform"``) scores drawn from the ``seed`` option."""
    g = generator(ctx)
    draw = torch.rand if ctx.options["distribution"] == "uniform" else torch.randn
    return {n: draw(p.shape, generator=g, dtype=torch.float64) for n, p in ctx.params.items()}
