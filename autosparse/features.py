"""The initial features of a network's prunable weights, one definition each, used by IRP (the
``theta0`` / ``grad0`` of its store), survival datasets (their rows) and the AutoS scorer (its
inputs when training and when pruning a target):

- theta_0: the weights at initialisation (:func:`initial_weights`);
- g_0 (Alg. 2 line 7; the paper is silent on its details, METHODS.md on the authors' code): the
  **sum over batches of the batch-mean cross-entropy gradient** at theta_0, BatchNorm in eval mode
  by default (:func:`initial_gradient`, :func:`context_gradient`); ``reduction="mean"`` divides
  the sum by the number of batches;
- layer context: layer_index, fan_in, fan_out, kind (conv / linear) and depth = index / (L - 1) of
  each prunable layer, from the weights' shapes alone (:func:`shape_context`, :func:`layer_context`;
  fans: :func:`autosparse.models.layer_fans`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace

import torch
from torch import nn

from .masks import dense_masks
from .methods.base import BN_MODES, Method, ScoringContext, loss_gradients, prepare_batches
from .models import layer_fans, prunable_modules, prunable_parameters

GRAD_REDUCTIONS = ("sum", "mean")
# initial_features' protocol for methods.base.prepare_batches, which reads only its name and
# needs_data: scoring data required. Not registered; its fn is never called.
_NEEDS_DATA = Method("initial_features", lambda ctx: {}, needs_data=True, bn_mode="eval",
                     rounds=1, options={})


def check_choice(name: str, value, valid) -> None:
    """ValueError naming ``name`` and the valid choices unless ``value`` is one of ``valid``."""
    if value not in valid:
        raise ValueError(f"{name} must be one of {sorted(valid)}, got {value!r}")


def initial_weights(params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """theta_0: detached float32 CPU copies of ``params`` (e.g. a model's prunable weights)."""
    return {k: p.detach().to("cpu", torch.float32, copy=True) for k, p in params.items()}


def shape_context(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, dict]:
    """Layer context of prunable weights of these shapes, in this order: ``{name: {layer_index,
    fan_in, fan_out, kind, depth}}`` with depth = index / (L - 1) (0 for a single layer)."""
    n = len(shapes)
    out = {}
    for i, (name, shape) in enumerate(shapes.items()):
        fan_in, fan_out, kind = layer_fans(tuple(shape))
        out[name] = {"layer_index": i, "fan_in": fan_in, "fan_out": fan_out, "kind": kind,
                     "depth": i / (n - 1) if n > 1 else 0.0}
    return out


def layer_context(model: nn.Module) -> dict[str, dict]:
    """Per prunable weight of ``model`` (in prunable order): :func:`shape_context` of its shape."""
    return shape_context({name: tuple(m.weight.shape)
                          for name, m in prunable_modules(model).items()})


def context_gradient(ctx: ScoringContext, reduction: str = "sum") -> dict[str, torch.Tensor]:
    """g_0 of a scoring context (detached float32 on the CPU): the batch-mean cross-entropy
    gradient of ``ctx.params`` summed over ``ctx.batches`` (consumed once, in order; may be a
    generator), divided by their number when ``reduction="mean"``."""
    check_choice("reduction", reduction, GRAD_REDUCTIONS)
    seen = 0

    def counted(batches: Iterable) -> Iterator:
        nonlocal seen
        for b in batches:
            seen += 1
            yield b

    grads = loss_gradients(replace(ctx, batches=counted(ctx.batches or [])))  # type: ignore[arg-type]
    if reduction == "mean":
        grads = {k: g / seen for k, g in grads.items()}
    return {k: g.detach().float().cpu() for k, g in grads.items()}


def _initial_context(model: nn.Module, batches: Iterable, bn_mode: str) -> ScoringContext:
    """A private copy of ``model`` in ``bn_mode`` with every weight requiring a gradient."""
    check_choice("bn_mode", bn_mode, BN_MODES)
    work = copy.deepcopy(model).train(bn_mode == "train")
    for p in work.parameters():
        p.requires_grad_(True)
    return ScoringContext(work, prunable_parameters(work), batches, dense_masks(work), 0, 1, {})  # type: ignore[arg-type]


def initial_gradient(model: nn.Module, batches: Iterable, reduction: str = "sum",
                     bn_mode: str = "eval") -> dict[str, torch.Tensor]:
    """g_0 of ``model``'s prunable weights over ``batches`` ((inputs, labels) on the model's
    device, iterated once: a generator streams a whole training set), BatchNorm in ``bn_mode``
    (:func:`context_gradient`). The model is not modified."""
    check_choice("reduction", reduction, GRAD_REDUCTIONS)
    return context_gradient(_initial_context(model, batches, bn_mode), reduction)


def features_from_context(ctx: ScoringContext, grad_mode: str = "sum") -> dict[str, dict]:
    """``{name: {theta0, grad0, layer_index, fan_in, fan_out, kind, depth}}`` of the model of a
    scoring context (methods.base protocol: a private copy in the method's BatchNorm mode, the
    scoring batches on its device; ``grad_mode`` checked by :func:`context_gradient`)."""
    theta0, grad0 = initial_weights(ctx.params), context_gradient(ctx, grad_mode)
    context = layer_context(ctx.model)
    return {name: {"theta0": theta0[name], "grad0": grad0[name], **context[name]}
            for name in ctx.params}


def initial_features(
    model: nn.Module, data: Iterable, grad_mode: str = "sum", bn_mode: str = "eval"
) -> dict[str, dict]:
    """``{param_name: {theta0, grad0, layer_index, fan_in, fan_out, kind, depth}}`` of ``model``
    on the (inputs, labels) batches of ``data`` (:func:`features_from_context`: g_0 summed over
    the batches by default, BatchNorm in eval mode). The model is not modified. The same function
    feeds survival datasets and the ``autos`` method."""
    check_choice("grad_mode", grad_mode, GRAD_REDUCTIONS)
    check_choice("bn_mode", bn_mode, BN_MODES)
    batches = prepare_batches(model, data, _NEEDS_DATA)
    return features_from_context(_initial_context(model, batches, bn_mode), grad_mode)


__all__ = ["GRAD_REDUCTIONS", "check_choice", "context_gradient", "features_from_context", "initial_features",
           "initial_gradient", "initial_weights", "layer_context", "shape_context"]
