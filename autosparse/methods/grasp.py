"""GraSP: gradient signal preservation (Wang et al. 2020; Frankle et al. 2021, App. C).

GraSP removes the weights with the *highest* ``-theta * (H g)``, where ``g = dL/dtheta`` and
``H g`` is a Hessian-gradient product taken by a double backward, with the logits divided by the
temperature ``T = 200``. Our scores are "higher = keep", so the keep-score is ``theta * (H g)``
(the same ranking; Synaptic-Flow's code prunes the lowest ``theta * Hg`` too). Gradients and the
Hessian are over the prunable weights only. BatchNorm in train mode while scoring, as the PX code.
"""

from __future__ import annotations

import torch

from .base import ScoringContext, loss_gradients, register_method


@register_method("grasp", bn_mode="train", temperature=200.0)
def grasp_scores(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    """Keep-score ``theta * Hg``: g summed over the batches (no graph), then
    ``d/dtheta sum_b <g, stop_grad> `` per batch, accumulated (SF/PX code, App. C)."""
    temperature = float(ctx.options["temperature"])
    names = list(ctx.params)
    params = [ctx.params[n] for n in names]
    stopped = loss_gradients(ctx, temperature=temperature)
    hg = [torch.zeros_like(p) for p in params]
    for x, y in ctx.batches or []:
        loss = torch.nn.functional.cross_entropy(ctx.model(x) / temperature, y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        inner = sum((g * stopped[n]).sum() for n, g in zip(names, grads))
        hg = [a + b for a, b in zip(hg, torch.autograd.grad(inner, params))]
    return {n: p.detach() * h for n, p, h in zip(names, params, hg)}
