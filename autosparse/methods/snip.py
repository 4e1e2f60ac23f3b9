"""SNIP: connection sensitivity |theta * dL/dtheta| on the scoring batch (Lee et al. 2019;
Frankle et al. 2021, App. B). BatchNorm in train mode while scoring, as the PX reference code."""

from __future__ import annotations

import torch

from .base import ScoringContext, loss_gradients, register_method


@register_method("snip", bn_mode="train")
def snip_scores(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    grads = loss_gradients(ctx)
    return {n: (p.detach() * grads[n]).abs() for n, p in ctx.params.items()}
