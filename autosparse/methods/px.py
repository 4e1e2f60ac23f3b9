"""PX, Path eXclusion (Iurada, Ciccone, Tommasi, CVPR 2024; PX seed Sec. 3.4, Eq. 6-9).

Two auxiliary copies of the (masked, eval-mode) network:

* ``h`` (path kernel, Eq. 8): weights squared, ReLUs replaced by identity, an all-ones input;
  ``h^k = sum_p v_p(theta)^2`` over the paths ending at output k.
* ``g`` (path activation matrix, Eq. 7): kept weights set to one (pruned ones stay zero), squared
  data as input, each ReLU replaced by the 0/1 gate ``1[z > 0]`` that the original network ``f``
  records on the same sample; ``g^k_n = sum_p a_p(x_n) x_{n,s(p)}^2``.

``R = sum_n sum_k g^k_n h^k`` (k = network outputs, n = all scoring samples) and the score is
Eq. 9, ``S = dR/d(theta^2) * theta^2``: every factor is >= 0, so scores are >= 0.

Choices where the paper is silent (documented, by module *type*, never by name):

* Paths run from input neurons to outputs (Sec. 3.3, Eq. 4), so bias paths are not in P: biases
  and BatchNorm shifts are zero in ``h`` and ``g``.
* Eval-mode BatchNorm is a per-channel linear map with weight ``a = gamma / sqrt(var + eps)``: it
  acts as a diagonal layer, squared in ``h`` (``a^2``) and set to one in ``g`` (identity). At
  initialisation ``a = 1/sqrt(1 + eps)``.
* Max-pooling is a gate too: ``g`` routes through the positions ``f`` selected on the same sample;
  ``h`` keeps the ordinary max-pool of its (non-negative) activations, as SynFlow does.
* Activations must be ``nn.ReLU`` modules (the project's models are); an unknown non-linear
  module raises instead of being silently treated as linear.

Everything runs in float64 (``dtype`` option): ``g`` grows like prod(fan-in) with depth.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from .base import ScoringContext, register_method

_LINEAR_OK = (
    nn.Conv2d, nn.Linear, nn.Identity, nn.Flatten, nn.Sequential, nn.AvgPool2d,
    nn.AdaptiveAvgPool2d, nn.Dropout, nn.modules.batchnorm._BatchNorm, nn.ReLU, nn.MaxPool2d,
)


class _Gate(nn.Module):
    """Multiplies by a recorded 0/1 gate (a ReLU of ``f`` frozen on one batch)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate


class _IndexPool(nn.Module):
    """Max-pool that routes through recorded argmax positions (a max-pool of ``f`` frozen)."""

    def __init__(self) -> None:
        super().__init__()
        self.indices: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        idx = self.indices
        return x.flatten(2).gather(2, idx.flatten(2)).view(idx.shape)


class _ChannelScale(nn.Module):
    """Multiplies channel c (dim 1) by a fixed ``scale[c]``."""

    def __init__(self, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.view(1, -1, *([1] * (x.dim() - 2)))


def _check_modules(model: nn.Module) -> None:
    for name, m in model.named_modules():
        if not list(m.children()) and not isinstance(m, _LINEAR_OK):
            raise ValueError(
                f"px: module {name!r} of type {type(m).__name__} is not supported; PX needs "
                "activations as nn.ReLU modules and only linear layers, BatchNorm and pooling"
            )


def _swap(model: nn.Module, kind: type | tuple, make) -> dict[str, nn.Module]:
    """Replace every submodule of type ``kind`` by ``make(old)``; return the new ones by name."""
    new = {}
    for name, m in list(model.named_modules()):
        if name and isinstance(m, kind):
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            new[name] = make(m)
            setattr(parent, attr, new[name])
    return new


def _bn_weight(bn: nn.modules.batchnorm._BatchNorm, dtype: torch.dtype) -> torch.Tensor:
    """Per-channel weight gamma / sqrt(running_var + eps) of an eval-mode BatchNorm."""
    if bn.running_var is None:
        raise ValueError("px: BatchNorm without running statistics cannot be used in eval mode")
    gamma = bn.weight.detach() if bn.weight is not None else torch.ones_like(bn.running_var)
    return (gamma.to(dtype) / torch.sqrt(bn.running_var.to(dtype) + bn.eps)).detach()


def _record(model: nn.Module, x: torch.Tensor) -> tuple[dict, dict]:
    """ReLU gates 1[z > 0] and max-pool argmax indices of ``model`` on ``x``, by module name."""
    gates: dict[str, torch.Tensor] = {}
    pools: dict[str, torch.Tensor] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, nn.ReLU):
            handles.append(m.register_forward_hook(
                lambda mod, inp, out, name=name: gates.__setitem__(name, inp[0] > 0)))
        elif isinstance(m, nn.MaxPool2d):
            def pool_hook(mod, inp, out, name=name):
                pools[name] = F.max_pool2d(
                    inp[0], mod.kernel_size, mod.stride, mod.padding, mod.dilation,
                    mod.ceil_mode, return_indices=True)[1]
            handles.append(m.register_forward_hook(pool_hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return gates, pools


def _zero_biases(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.zero_()


def path_activation(ctx: ScoringContext, dtype: torch.dtype) -> torch.Tensor:
    """``G_k = sum_n g^k(x_n^2, 1, a_n)`` over all scoring samples (Eq. 7 network ``g``)."""
    g = copy.deepcopy(ctx.model).to(dtype)
    with torch.no_grad():
        for name in ctx.params:
            p_g = g.get_parameter(name)
            p_g.copy_(ctx.masks[name].to(p_g.device, dtype))
    _zero_biases(g)
    _swap(g, nn.modules.batchnorm._BatchNorm, lambda m: nn.Identity())
    gates = _swap(g, nn.ReLU, lambda m: _Gate())
    pools = _swap(g, nn.MaxPool2d, lambda m: _IndexPool())
    total = None
    for x, _ in ctx.batches:
        rec_gates, rec_pools = _record(ctx.model, x)
        for name, mod in gates.items():
            if name not in rec_gates:
                raise RuntimeError(f"px: ReLU {name!r} was not called in the forward pass")
            mod.gate = rec_gates[name].to(dtype)
        for name, mod in pools.items():
            mod.indices = rec_pools[name]
        with torch.no_grad():
            out = g(x.to(dtype).pow(2)).sum(0)
        total = out if total is None else total + out
    return total


def path_kernel_network(ctx: ScoringContext, dtype: torch.dtype) -> tuple[nn.Module, dict]:
    """Network ``h`` of Eq. 8: squared (masked) weights as leaf parameters, ReLU -> identity."""
    h = copy.deepcopy(ctx.model).to(dtype)
    for p in h.parameters():
        p.requires_grad_(False)
    _zero_biases(h)
    _swap(h, nn.modules.batchnorm._BatchNorm, lambda m: _ChannelScale(_bn_weight(m, dtype) ** 2))
    _swap(h, nn.ReLU, lambda m: nn.Identity())
    squared = {}
    with torch.no_grad():
        for name in ctx.params:
            p_h = h.get_parameter(name)
            p_h.pow_(2)
            p_h.requires_grad_(True)
            squared[name] = p_h
    return h, squared


@register_method("px", bn_mode="eval", rounds=100, dtype="float64")
def px_scores(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    """Eq. 9: ``S = theta^2 * dR/d(theta^2)``, R = sum_n sum_k g^k_n h^k."""
    dtype = getattr(torch, str(ctx.options["dtype"]), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"px: dtype must name a torch float type, got {ctx.options['dtype']!r}")
    _check_modules(ctx.model)
    G = path_activation(ctx, dtype)
    h, squared = path_kernel_network(ctx, dtype)
    x0 = ctx.batches[0][0]
    H = h(torch.ones((1, *x0.shape[1:]), dtype=dtype, device=x0.device))[0]
    if not (torch.isfinite(G).all() and torch.isfinite(H).all()):
        raise FloatingPointError(f"px: non-finite path sums in {dtype} (use dtype='float64')")
    R = (G * H).sum()
    names = list(squared)
    grads = torch.autograd.grad(R, [squared[n] for n in names], allow_unused=True)
    return {
        n: (squared[n].detach() * (gr if gr is not None else torch.zeros_like(squared[n])))
        for n, gr in zip(names, grads)
    }
