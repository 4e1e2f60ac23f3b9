"""Shared test inputs for every registered method (an IRP store for ``lottery``, trained weights
for ``magnitude_after_training``)."""

from __future__ import annotations

from pathlib import Path

import torch
import zarr
from torch import nn

import autosparse
from autosparse.artifacts.irp_store import irp_integrity
from autosparse.masks import density_schedule, topk_masks
from autosparse.store import INTEGRITY_ATTR, IRP_STORE, KIND_ATTR, write_arrays


def make_irp_store(model: nn.Module, path: Path, iterations: int = 6, final: float = 0.02,
                   seed: int = 0, theta0: bool = False) -> tuple[Path, list[dict[str, torch.Tensor]]]:
    """A real nested IMP-like record: masks[0] dense, then top-k of |theta_0| + noise among
    survivors down to ``final`` density. Returns the path and the per-iteration masks."""
    g = torch.Generator().manual_seed(seed)
    params = autosparse.prunable_parameters(model)
    cur = {n: torch.ones_like(p, dtype=torch.bool) for n, p in params.items()}
    history = [cur]
    for d in density_schedule(final, iterations):
        scores = {n: p.detach().abs() + 0.1 * torch.rand(p.shape, generator=g)
                  for n, p in params.items()}
        cur = topk_masks(scores, d, current=cur)
        history.append(cur)
    root = zarr.open_group(str(path), mode="w")
    write_arrays(root, "masks", {n: torch.stack([h[n] for h in history]) for n in params})
    digests = write_arrays(root, "theta0", {n: p.detach() for n, p in params.items()}) \
        if theta0 else {}
    # the integrity record the IRP store's writers build (readers refuse a store without it):
    # per-iteration digests and kept counts of every mask slice
    record = irp_integrity(digests, [{n: h[n].numpy() for n in params} for h in history])
    root.attrs.update({"layers": list(params), "completed_iterations": len(history) - 1,
                       KIND_ATTR: IRP_STORE, INTEGRITY_ATTR: record})
    return path, history


def method_options(name: str, model: nn.Module, tmp_path: Path) -> dict:
    """Options a method needs besides data (the special inputs of the reference methods)."""
    if name == "lottery":
        store = tmp_path / "irp.zarr"
        if not store.exists():
            make_irp_store(model, store)
        return {"store": str(store)}
    prefix = next((p for p in ("ticket_", "law_") if name.startswith(p)), None)
    if prefix:  # an IRP store for the layer densities, and the base criterion's options
        store = tmp_path / "irp.zarr"
        if not store.exists():
            make_irp_store(model, store)
        base = method_options(name[len(prefix):], model, tmp_path)
        return {**base, "store": str(store)}
    if name == "magnitude_after_training":
        g = torch.Generator().manual_seed(1)
        return {"trained": {n: torch.randn(p.shape, generator=g)
                            for n, p in autosparse.prunable_parameters(model).items()}}
    if name == "autos":  # an initialised (untrained) cheap scorer: counts do not depend on training
        from autosparse.scorer import Scorer, TrainScorerConfig, init_scorer

        cfg = TrainScorerConfig(arch="mlp", normalize="layer_standardize", seed=0).validate()
        return {"scorer": Scorer(init_scorer(cfg), cfg)}
    return {}


def prune_nested(model: nn.Module, name: str, sparsity: float, rounds: int,
                 **kw) -> dict[str, torch.Tensor]:
    """``autosparse.prune`` over ``rounds`` rounds, asserting that every round's mask lies inside
    the previous one (an iterative method never revives a weight); the final masks."""
    seen: list[dict[str, torch.Tensor]] = []
    masks = autosparse.prune(model, name, sparsity, rounds=rounds, **kw,
                             callback=lambda r, m, s: seen.append({n: v.clone()
                                                                   for n, v in m.items()}))
    assert len(seen) == rounds
    for a, b in zip(seen, seen[1:]):
        assert all(bool((b[n] <= a[n]).all()) for n in a)
    return masks
