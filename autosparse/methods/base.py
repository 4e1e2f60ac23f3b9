"""The shared pruning-at-initialization protocol, written once for every method.

A method is a function ``fn(ctx) -> {param_name: scores}`` (higher = keep) registered with
:func:`register_method`. :func:`score` and :func:`prune` do everything else: copying the model so
scoring never touches the caller's weights, applying the current mask, the BatchNorm mode, moving
the scoring batches to the device, the rounds and their exponential schedule, global or local top-k
with exact counts, and never reviving a pruned weight.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from ..masks import Masks, apply_masks, check_sparsity, dense_masks, density_schedule, topk_masks
from ..models import prunable_parameters
from ..registry import Registry

BN_MODES = ("train", "eval")


@dataclass
class ScoringContext:
    """What a method's score function receives."""

    model: nn.Module  # a private copy, current mask applied, in the method's BatchNorm mode
    params: dict[str, nn.Parameter]  # its prunable weights, by name
    batches: list[tuple[torch.Tensor, torch.Tensor]] | None  # on the model's device
    masks: Masks  # current mask (all True before the first round)
    round: int  # 0-based round index
    rounds: int
    options: dict = field(default_factory=dict)
    density: float | None = None  # this round's target density (None when called via score())

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[[ScoringContext], dict[str, torch.Tensor]]
    needs_data: bool
    bn_mode: str
    rounds: int  # default number of rounds (1 = single shot)
    options: Mapping  # default options, documented in the method's docstring


METHODS: Registry[Method] = Registry("method")


def register_method(
    name: str, *, needs_data: bool = True, bn_mode: str = "eval", rounds: int = 1, **defaults
):
    """Register ``fn(ctx) -> scores`` under ``name`` with its protocol settings."""
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {BN_MODES}, got {bn_mode!r}")

    def deco(fn):
        METHODS.register(name)(Method(name, fn, needs_data, bn_mode, rounds, dict(defaults)))
        return fn

    return deco


def list_methods() -> list[str]:
    """Names of the registered pruning methods."""
    return METHODS.names()


def get_method(name: str) -> Method:
    return METHODS.get(name)


def _check_model(model: nn.Module) -> dict[str, nn.Parameter]:
    params = prunable_parameters(model)
    if not params:
        raise ValueError(f"model {type(model).__name__} has no prunable (Conv2d/Linear) layers")
    return params


def prepare_batches(
    model: nn.Module, data: Iterable | None, method: Method
) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """Materialise the scoring batches on the model's device and check they fit the model."""
    if data is None:
        if method.needs_data:
            raise ValueError(f"method {method.name!r} needs scoring data (data=None given)")
        return None
    device = next(model.parameters()).device
    batches = []
    for item in data:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError("data must yield (inputs, labels) batches")
        x, y = item
        batches.append((torch.as_tensor(x).to(device), torch.as_tensor(y).to(device)))
    if not batches:
        raise ValueError("data yielded no batches")
    probe = copy.deepcopy(model).eval()
    try:
        with torch.no_grad():
            probe(batches[0][0][:2])
    except RuntimeError as e:
        raise ValueError(
            f"a data batch of shape {tuple(batches[0][0].shape)} does not fit "
            f"{type(model).__name__}: {e}"
        ) from None
    return batches


def _scoring_copy(model: nn.Module, masks: Masks, bn_mode: str) -> nn.Module:
    work = copy.deepcopy(model)
    apply_masks(work, masks)
    work.train(bn_mode == "train")
    for p in work.parameters():
        p.requires_grad_(True)
        p.grad = None
    return work


def _run(
    method: Method, model, batches, masks, rnd, rounds, options, density=None,
    on_device: bool = False,
) -> dict[str, torch.Tensor]:
    """One scoring round: float64 scores on the CPU, or with ``on_device`` where the method
    computed them (the model's device: :func:`prune` ranks them there)."""
    opts = {**method.options, **options}
    bn_mode = opts.pop("bn_mode", method.bn_mode)
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {BN_MODES}, got {bn_mode!r}")
    work = _scoring_copy(model, masks, bn_mode)
    ctx = ScoringContext(
        work, prunable_parameters(work), batches, masks, rnd, rounds, opts, density
    )
    scores = method.fn(ctx)
    missing = set(ctx.params) - set(scores)
    if missing:
        raise RuntimeError(f"method {method.name!r} returned no scores for {sorted(missing)}")
    where = None if on_device else "cpu"
    return {n: scores[n].detach().to(where, torch.float64) for n in ctx.params}


def score(
    model: nn.Module, method: str, data: Iterable | None = None,
    masks: Mapping[str, torch.Tensor] | None = None, **options,
) -> dict[str, torch.Tensor]:
    """Single-shot scores ``{param_name: scores}`` (higher = keep) of ``model``'s prunable weights.

    The model is not modified. ``masks`` (default: dense) is applied to the scoring copy first.
    """
    m = METHODS.get(method)
    _check_model(model)
    batches = prepare_batches(model, data, m)
    masks = dict(masks) if masks is not None else dense_masks(model)
    return _run(m, model, batches, masks, 0, 1, options)


def prune(
    model: nn.Module, method: str, sparsity: float, data: Iterable | None = None,
    scope: str = "global", rounds: int | None = None, schedule: str = "exponential",
    return_info: bool = False, invert: bool = False,
    callback: Callable[[int, Masks, dict[str, torch.Tensor]], None] | None = None,
    scores: Mapping[str, torch.Tensor] | None = None, **options,
):
    """Masks ``{param_name: bool}`` keeping exactly ``round((1 - sparsity) * N)`` weights.

    Iterative methods score the surviving weights over ``rounds`` rounds with densities
    d^(t/T), t = 1..T (``schedule="exponential"``), pruning only among survivors.
    ``invert=True`` keeps the *lowest*-scoring survivors in every round instead (the "invert"
    sanity ablation, Frankle et al. 2021 Sec. 5): scores are negated, never inverted as 1/score,
    so counts stay exact. ``callback(round, masks, scores)`` is called after each round.
    With ``return_info=True`` returns ``(masks, info)``; info has the last scores and timings.
    ``scores``: this single-shot method's scores of ``model``, computed before (:func:`score`);
    they are thresholded instead of computed again (one scoring, every sparsity).
    """
    s = check_sparsity(sparsity)
    m = METHODS.get(method)
    if scope not in ("global", "local"):
        raise ValueError(f"scope must be 'global' or 'local', got {scope!r}")
    rounds = m.rounds if rounds is None else int(rounds)
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds!r}")
    params = _check_model(model)
    device = next(iter(params.values())).device
    given = None
    if scores is not None:
        if rounds != 1:
            raise ValueError(f"given scores need a single-shot method; {method!r} runs {rounds} "
                             "rounds")
        shapes = {n: tuple(p.shape) for n, p in params.items()}
        if {n: tuple(v.shape) for n, v in scores.items()} != shapes:
            raise ValueError(f"given scores do not fit the model's prunable weights {shapes}")
        given = {n: scores[n].to("cpu", torch.float64) for n in params}
    batches = None if given is not None else prepare_batches(model, data, m)
    t0 = time.perf_counter()
    masks = dense_masks(model)
    for rnd, density in enumerate(density_schedule(1.0 - s, rounds, schedule)):
        # ranked on the scores' device (exact top-k: the same masks on CPU and CUDA)
        scores = given if given is not None else _run(
            m, model, batches, masks, rnd, rounds, options, density, on_device=True)
        ranked = {n: -v for n, v in scores.items()} if invert else scores
        masks = topk_masks(ranked, density, scope, current=masks)
        if callback is not None:
            callback(rnd, masks, scores)
    masks = {n: mk.to(device) for n, mk in masks.items()}
    if return_info:
        elapsed = time.perf_counter() - t0
        scores = {n: v.to("cpu") for n, v in scores.items()}
        return masks, {"scores": scores, "scoring_time": elapsed, "rounds": rounds}
    return masks


# --- shared building blocks for score functions ------------------------------------------------


def loss_gradients(
    ctx: ScoringContext, create_graph: bool = False, temperature: float = 1.0
) -> dict[str, torch.Tensor]:
    """dL/dtheta of the mean cross-entropy of ``logits / temperature``, summed over the batches."""
    names = list(ctx.params)
    params = [ctx.params[n] for n in names]
    total = [torch.zeros_like(p) for p in params]
    for x, y in ctx.batches or []:
        loss = F.cross_entropy(ctx.model(x) / temperature, y)
        grads = torch.autograd.grad(loss, params, create_graph=create_graph)
        total = [t + g for t, g in zip(total, grads)]
    return dict(zip(names, total))


def generator(ctx: ScoringContext) -> torch.Generator:
    """A CPU generator seeded by the ``seed`` option and the round (deterministic scores)."""
    return torch.Generator().manual_seed(int(ctx.options.get("seed", 0)) * 100003 + ctx.round)
