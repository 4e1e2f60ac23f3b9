"""NPB: ERK allocation, exact global counts, the layer program against brute force, seeding."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

import autosparse
from autosparse.masks import keep_count
from autosparse.methods.npb import erk_densities, solve_pairs, split_counts


def test_erk_densities_follow_the_formula():
    shapes = {"a": (16, 3, 3, 3), "b": (32, 16, 3, 3), "c": (64, 32, 3, 3), "fc": (10, 64)}
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    for d in (0.05, 0.3, 0.6):
        dens = erk_densities(shapes, d)
        assert sum(dens[n] * sizes[n] for n in shapes) == pytest.approx(d * sum(sizes.values()))
        free = [n for n in shapes if dens[n] < 1.0]
        ratios = [dens[n] / (sum(shapes[n]) / sizes[n]) for n in free]  # the same epsilon
        assert max(ratios) == pytest.approx(min(ratios))
        assert all(0 < v <= 1.0 for v in dens.values())
    assert erk_densities(shapes, 0.6)["a"] == 1.0  # capped: the smallest layer goes dense first


def test_split_counts_exact_and_within_one():
    real = {"a": 10.4, "b": 3.5, "c": 7.1}
    counts = split_counts(real, {"a": 100, "b": 100, "c": 100}, 21)
    assert sum(counts.values()) == 21
    assert all(abs(counts[n] - real[n]) < 1 for n in real)


def _objective(m, p_in, k, max_p, alpha, beta):
    c_in, c_out = m.shape
    dead = (m.sum(1) == 0).sum() + (m.sum(0) == 0).sum()
    nodes = (c_in + c_out - dead) / (c_in + c_out)
    order = np.sort(p_in)[::-1]
    full, rem = divmod(k, c_out * max_p)
    max_path = order[:full].sum() * c_out * max_p + (rem * order[full] if full < c_in else 0.0)
    paths = (p_in[:, None] * m).sum() / max_path
    edges = (m > 0).sum() / k
    return alpha * nodes + (1 - alpha) * paths + beta * edges


@pytest.mark.parametrize("alpha,beta", [(0.01, 1.0), (0.9, 0.0), (0.5, 0.3)])
def test_layer_program_matches_brute_force(alpha, beta):
    p_in = np.array([5.0, 1.0, 2.0])
    c_out, k, max_p = 2, 5, 3
    m = solve_pairs(p_in, c_out, k, max_p, alpha, beta)
    assert m.sum() == k and m.min() >= 0 and m.max() <= max_p
    best = max(
        _objective(np.array(v).reshape(3, c_out), p_in, k, max_p, alpha, beta)
        for v in itertools.product(range(max_p + 1), repeat=3 * c_out) if sum(v) == k
    )
    assert _objective(m, p_in, k, max_p, alpha, beta) == pytest.approx(best, abs=1e-9)


def test_resnet20_npb_masks(cifar_batch):
    model = autosparse.build_model("resnet20", 10, width=0.25, seed=0)
    masks = autosparse.prune(model, "npb", 0.9, [cifar_batch], seed=1)
    params = autosparse.prunable_parameters(model)
    sizes = {n: p.numel() for n, p in params.items()}
    n_all = sum(sizes.values())
    kept = {n: int(m.sum()) for n, m in masks.items()}
    assert sum(kept.values()) == keep_count(n_all, 0.1)
    dens = erk_densities({n: tuple(p.shape) for n, p in params.items()}, 0.1)
    assert all(abs(kept[n] - dens[n] * sizes[n]) < 1 for n in masks)
    # max_p: <= 9 entries per 3x3 kernel in the first stage, <= 7 after the first shortcut
    per_kernel = {n: m.sum(dim=(2, 3)) for n, m in masks.items() if m.dim() == 4}
    assert int(per_kernel["layers.1.1.conv1.weight"].max()) <= 7
    # same seed -> same mask; another seed moves kernel positions
    again = autosparse.prune(model, "npb", 0.9, input_shape=(3, 32, 32), seed=1)
    other = autosparse.prune(model, "npb", 0.9, input_shape=(3, 32, 32), seed=2)
    assert all(torch.equal(masks[n], again[n]) for n in masks)
    assert not all(torch.equal(masks[n], other[n]) for n in masks)
    assert sum(int(m.sum()) for m in other.values()) == keep_count(n_all, 0.1)
    with pytest.raises(ValueError, match="density"):
        autosparse.score(model, "npb", input_shape=(3, 32, 32))


def test_tied_inputs_are_spread_by_the_seed():
    """An all-ones input ties every input's path count; chunks must not all wire index 0, 1, ..."""
    model = nn.Sequential(nn.Linear(300, 40), nn.ReLU(), nn.Linear(40, 10))
    masks = autosparse.prune(model, "npb", 0.95, input_shape=(300,), seed=0)
    fc1 = masks["0.weight"]  # (40, 300), above 5120 pairs: solved in chunks of 10 outputs
    chunks = [set(fc1[o:o + 10].any(0).nonzero().flatten().tolist()) for o in range(0, 40, 10)]
    union = set().union(*chunks)
    assert len(union) > 1.5 * max(len(c) for c in chunks)  # identical sets before the fix
    assert sum(i >= 150 for i in union) > len(union) / 4  # both halves of the input are wired
    other = autosparse.prune(model, "npb", 0.95, input_shape=(300,), seed=1)
    assert not torch.equal(fc1.any(0), other["0.weight"].any(0))
