"""SynFlow: iterative synaptic flow pruning (Tanaka et al. 2020; Frankle et al. 2021, App. D).

Data-free. Every parameter and BatchNorm buffer of the (private, masked) scoring copy is replaced
by its absolute value, an all-ones input of the data's shape is fed in eval mode, and with
``R = 1^T f(1; |theta|)`` (the sum of the outputs) the score is ``|theta * dR/dtheta|``.
Default 100 rounds with the exponential schedule. ``float64=True`` (default) scores in double
precision because R overflows float32 in deep nets (METHODS.md). Signs need no restoring: the
caller's model is never touched. The input shape is taken from the scoring data when given,
otherwise from the ``input_shape`` option, e.g. ``(3, 32, 32)``.
"""

from __future__ import annotations

import torch

from .base import ScoringContext, register_method


def _input_shape(ctx: ScoringContext) -> tuple[int, ...]:
    if ctx.batches:
        return tuple(ctx.batches[0][0].shape[1:])
    shape = ctx.options.get("input_shape")
    if shape is None:
        raise ValueError("synflow needs the input shape: pass data or input_shape=(C, H, W)")
    return tuple(int(d) for d in shape)


@register_method("synflow", needs_data=False, bn_mode="eval", rounds=100, float64=True,
                 input_shape=None)
def synflow_scores(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    model = ctx.model.double() if ctx.options["float64"] else ctx.model
    dtype = torch.float64 if ctx.options["float64"] else torch.float32
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    ones = torch.ones((1, *_input_shape(ctx)), dtype=dtype, device=ctx.device)
    try:
        out = model(ones)
    except RuntimeError as e:
        raise ValueError(f"input of shape {tuple(ones.shape[1:])} does not fit the model: {e}") from None
    names = list(ctx.params)
    grads = torch.autograd.grad(out.sum(), [ctx.params[n] for n in names])
    return {n: (ctx.params[n].detach() * g).abs() for n, g in zip(names, grads)}
