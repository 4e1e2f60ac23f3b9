"""Magnitude pruning at initialization: score = |theta| (Frankle et al. 2021, Sec. 3)."""

from __future__ import annotations

import torch

from .base import ScoringContext, register_method


@register_method("magnitude", needs_data=False)
def magnitude_scores(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    return {n: p.detach().abs() for n, p in ctx.params.items()}
