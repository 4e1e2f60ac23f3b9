"""NTK-SAP: neural-tangent-kernel spectrum-aware pruning (Wang et al., ICLR 2023).

Score of a weight (METHODS.md; the NTK-SAP / PX reference code)::

    S = | d/dm  sum_r sum_n || f(x_rn; theta_r * m) - f(x_rn; (theta_r + eps * delta_r) * m) ||^2 |

at the current mask ``m``, over ``reinits`` (R = 5) fresh Kaiming re-initialisations ``theta_r``
per round, Gaussian-noise inputs ``x_r`` (data-free: only the *shape* of the scoring batches, or
the ``input_shape``/``batch_size`` options, is used) and weight noise ``delta_r ~ N(0, 1)`` on the
prunable weights, ``eps = 0.01``; 20 rounds with the exponential schedule by default.

BatchNorm: before each pair of forward passes the running statistics are reset and set from the
noise batch by one train-mode forward of the unperturbed masked network (momentum 1, no grad),
then both passes run in eval mode with those *shared* statistics (as the reference code). The
``bn_mode`` protocol option therefore does not apply. Pruned weights score 0. All draws come from
``generator(ctx)`` (options ``seed`` and the round), so scores are reproducible.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn
from torch.func import functional_call

from ..models import kaiming_init_, prunable_parameters
from .base import ScoringContext, generator, register_method

_BN = nn.modules.batchnorm._BatchNorm


@torch.no_grad()
def _set_bn_statistics(model: nn.Module, weights: Mapping[str, torch.Tensor], x: torch.Tensor):
    """Reset BatchNorm running statistics and set them to the batch statistics of ``x``."""
    bns = [m for m in model.modules() if isinstance(m, _BN)]
    if not bns:
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = 1.0
    model.train()
    try:
        functional_call(model, dict(weights), (x,))
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
        model.eval()


def perturbation_gradients(
    model: nn.Module, masks: Mapping[str, torch.Tensor], x: torch.Tensor,
    deltas: Mapping[str, torch.Tensor], eps: float,
) -> dict[str, torch.Tensor]:
    """``d/dm sum_n ||f(x_n; theta*m) - f(x_n; (theta + eps*delta)*m)||^2`` (signed), one draw.

    ``theta`` are ``model``'s current prunable weights; BatchNorm statistics are set from ``x``
    with the unperturbed weights and shared by both passes (eval mode).
    """
    params = prunable_parameters(model)
    m = {n: masks[n].to(p.device, p.dtype).requires_grad_(True) for n, p in params.items()}
    base = {n: p.detach() * m[n] for n, p in params.items()}
    pert = {n: (p.detach() + eps * deltas[n].to(p.device, p.dtype)) * m[n]
            for n, p in params.items()}
    _set_bn_statistics(model, {n: w.detach() for n, w in base.items()}, x)
    out = functional_call(model, base, (x,))
    out_pert = functional_call(model, pert, (x,))
    objective = (out - out_pert).pow(2).sum()
    names = list(params)
    grads = torch.autograd.grad(objective, [m[n] for n in names], allow_unused=True)
    return {n: (g if g is not None else torch.zeros_like(m[n])).detach()
            for n, g in zip(names, grads)}


def _input_shapes(ctx: ScoringContext) -> list[tuple[int, ...]]:
    shape = ctx.options.get("input_shape")
    if shape is not None:
        bs = int(ctx.options.get("batch_size") or 0)
        if bs < 1:
            raise ValueError(f"ntk_sap: batch_size must be >= 1, got {ctx.options.get('batch_size')!r}")
        return [(bs, *(int(d) for d in shape))]
    if ctx.batches:
        return [tuple(x.shape) for x, _ in ctx.batches]
    raise ValueError("ntk_sap needs the noise input shape: pass data or input_shape=(C, H, W)")


@register_method(
    "ntk_sap", needs_data=False, bn_mode="eval", rounds=20,
    seed=0, epsilon=0.01, reinits=5, input_shape=None, batch_size=100,
)
def ntk_sap_scores(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    """|d/dm| of the summed perturbation objective over R re-initialisations (module docstring)."""
    eps = float(ctx.options["epsilon"])
    reinits = int(ctx.options["reinits"])
    if not eps > 0:
        raise ValueError(f"ntk_sap: epsilon must be > 0, got {ctx.options['epsilon']!r}")
    if reinits < 1:
        raise ValueError(f"ntk_sap: reinits must be >= 1, got {ctx.options['reinits']!r}")
    shapes = _input_shapes(ctx)
    gen = generator(ctx)
    device, dtype = ctx.device, next(iter(ctx.params.values())).dtype
    template = copy.deepcopy(ctx.model).cpu()  # initialised on CPU: the generator is a CPU one
    total = {n: torch.zeros_like(p) for n, p in ctx.params.items()}
    for _ in range(reinits):
        kaiming_init_(template, generator=gen)
        ctx.model.load_state_dict(template.state_dict())
        for shape in shapes:
            x = torch.randn(shape, generator=gen).to(device, dtype)
            deltas = {n: torch.randn(p.shape, generator=gen) for n, p in ctx.params.items()}
            grads = perturbation_gradients(ctx.model, ctx.masks, x, deltas, eps)
            for n in total:
                total[n] += grads[n]
    return {n: total[n].abs() * ctx.masks[n].to(total[n].device, total[n].dtype) for n in total}
