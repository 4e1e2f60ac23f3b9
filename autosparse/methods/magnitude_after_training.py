"""Magnitude after training: one-shot magnitude pruning of the *trained* dense network, score
``|theta_trained|`` (Frankle et al. 2021, Sec. 3, the upper reference; METHODS.md). A reference
method: it needs no scoring data but trained weights, option ``trained=`` (a state_dict, its path
or a model with the same prunable layers). The pipeline retrains the mask from theta_0.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..models import prunable_parameters
from .base import ScoringContext, register_method


def _weights(trained) -> dict[str, torch.Tensor]:
    """Prunable weights from a model, a state_dict or the path of a saved state_dict."""
    if isinstance(trained, (str, Path)):
        if not Path(trained).exists():
            raise FileNotFoundError(f"trained weights not found: {trained}")
        trained = torch.load(trained, map_location="cpu", weights_only=True)
    if isinstance(trained, nn.Module):
        return {n: p.detach() for n, p in prunable_parameters(trained).items()}
    if isinstance(trained, dict):
        return trained
    raise ValueError(
        "magnitude_after_training needs trained=<state_dict or model>, got "
        f"{type(trained).__name__}"
    )


@register_method("magnitude_after_training", needs_data=False, trained=None)
def magnitude_after_training_scores(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    trained = _weights(ctx.options["trained"])
    out = {}
    for n, p in ctx.params.items():
        if n not in trained:
            raise ValueError(f"trained weights lack prunable layer {n!r}")
        w = torch.as_tensor(trained[n])
        if w.shape != p.shape:
            raise ValueError(f"trained {n!r} has shape {tuple(w.shape)}, model has {tuple(p.shape)}")
        out[n] = w.detach().to("cpu", torch.float64).abs()
    return out
