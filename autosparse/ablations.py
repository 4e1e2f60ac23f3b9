"""Sanity-check ablations of a pruning mask (Frankle et al. 2021, Sec. 5), for any method.

- ``shuffle``: each layer's mask is permuted at random (seeded): per-layer densities are kept,
  which weights survive within a layer is forgotten (:func:`shuffle_masks`).
- ``reinit``: the mask is kept, the weights are drawn afresh from the same initialiser under
  another seed (:func:`reinit_model`).
- ``invert``: keep the *lowest*-scoring weights instead of the highest, same exact count; this
  changes the selection itself, so it is ``prune(..., invert=True)`` (scores negated, never 1/s).

``ablate(masks, kind, seed=..., model=...)`` applies shuffle/reinit to an existing (masks, model)
pair; :func:`prune_ablated` runs a method with any of the three.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import torch
from torch import nn

from .masks import Masks
from .methods import get_method, prune
from .models import kaiming_init_

ABLATIONS = ("shuffle", "reinit", "invert")


class Ablated(NamedTuple):
    masks: Masks
    model: nn.Module | None


def check_ablation(kind: str | None) -> str | None:
    if kind is not None and kind not in ABLATIONS:
        raise ValueError(f"unknown ablation {kind!r}; valid: {', '.join(ABLATIONS)}")
    return kind


def shuffle_masks(masks: Mapping[str, torch.Tensor], seed: int = 0) -> Masks:
    """Layer-wise shuffle: an independent seeded random permutation of each layer's mask."""
    g = torch.Generator().manual_seed(int(seed))
    out = {}
    for name, m in masks.items():
        flat = m.reshape(-1)
        perm = torch.randperm(flat.numel(), generator=g).to(flat.device)
        out[name] = flat[perm].reshape(m.shape).clone()
    return out


def reinit_model(model: nn.Module, seed: int) -> nn.Module:
    """A copy of ``model`` re-initialised with the library's initialiser (``kaiming_init_``:
    Kaiming-normal weights, zero biases, BatchNorm (1, 0)) under ``seed``; global RNG untouched."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        kaiming_init_(fresh)
    return fresh


def ablate(
    masks: Mapping[str, torch.Tensor], kind: str, *, seed: int = 0, model: nn.Module | None = None
) -> Ablated:
    """Apply the post-hoc ablation ``kind`` ("shuffle" or "reinit") to ``(masks, model)``.

    ``shuffle`` returns shuffled masks and ``model`` unchanged; ``reinit`` returns the same masks
    and a re-initialised copy of ``model`` (required). ``invert`` needs the scores: use
    :func:`prune_ablated` or ``prune(..., invert=True)``.
    """
    check_ablation(kind)
    if kind == "shuffle":
        return Ablated(shuffle_masks(masks, seed), model)
    if kind == "reinit":
        if model is None:
            raise ValueError("ablation 'reinit' needs model=")
        return Ablated(dict(masks), reinit_model(model, seed))
    raise ValueError("ablation 'invert' changes the selection: use prune(..., invert=True) "
                     "or prune_ablated(..., ablation='invert')")


def prune_ablated(
    model: nn.Module, method: str, sparsity: float, ablation: str | None = None,
    data: Iterable | None = None, seed: int = 0, ablation_seed: int | None = None,
    **prune_kwargs,
) -> tuple[Masks, nn.Module, dict]:
    """``prune`` followed by ``ablation`` (None, "shuffle", "reinit", "invert").

    Returns (masks, model to train under them, prune info). ``seed`` is the run's seed: the
    method's ``seed`` option when it has one (random scores, NTK-SAP noise, NPB tie-breaks; the
    default 0 is the methods' own default) and the ablation's draw unless ``ablation_seed``.
    """
    check_ablation(ablation)
    if "seed" in get_method(method).options:
        prune_kwargs["seed"] = int(seed)
    masks, info = prune(model, method, sparsity, data=data, return_info=True,
                        invert=ablation == "invert", **prune_kwargs)
    if ablation in ("shuffle", "reinit"):
        draw = seed if ablation_seed is None else ablation_seed
        masks, model = ablate(masks, ablation, seed=draw, model=model)
    return masks, model, info
