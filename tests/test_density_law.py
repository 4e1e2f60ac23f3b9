"""The learned layer-wise density law (methods/density_law.py): its fit, its counts, and its
transfer to a network of another shape."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers_methods import make_irp_store, prune_nested

import autosparse
from autosparse.masks import keep_count
from autosparse.methods.density_law import (
    erdos_renyi_factor,
    exponent_at,
    fit_exponents,
    law_counts,
)
from autosparse.methods.ticket_density import store_layer_counts

SHAPES = [(300, 784), (100, 300), (10, 100)]


def test_erdos_renyi_factor_of_linear_and_conv_layers():
    assert erdos_renyi_factor((300, 784)) == pytest.approx((784 + 300) / (784 * 300))
    # conv (out 16, in 8, 3 x 3): fan_in 72, fan_out 144
    assert erdos_renyi_factor((16, 8, 3, 3)) == pytest.approx((72 + 144) / (72 * 144))


@pytest.mark.parametrize("beta", [0.0, 0.7, 1.3])
def test_fit_recovers_a_power_law(beta):
    """Counts made by d_l = A e_l^beta (no layer dense or empty) give back beta exactly."""
    e = np.array([erdos_renyi_factor(s) for s in SHAPES])
    sizes = np.array([math.prod(s) for s in SHAPES])
    rows = [sizes]  # iteration 0: dense, no fit (every layer saturated) -> 0
    for a in (0.5, 0.1, 0.02):
        d = a * (e / e.max()) ** beta
        rows.append(d * sizes)  # real-valued counts: the fit itself is exact
    totals, betas = fit_exponents(SHAPES, np.array(rows))
    assert betas[0] == 0.0 and totals[0] == 1.0
    assert betas[1:] == pytest.approx([beta] * 3, abs=1e-9)
    assert totals[1:] == pytest.approx([r.sum() / sizes.sum() for r in rows[1:]])


def test_exponent_is_interpolated_in_log_density():
    totals, betas = np.array([1.0, 0.1, 0.01]), np.array([0.0, 1.0, 2.0])
    assert exponent_at(totals, betas, 0.1) == pytest.approx(1.0)
    assert exponent_at(totals, betas, math.sqrt(0.1 * 0.01)) == pytest.approx(1.5)
    assert exponent_at(totals, betas, 0.001) == pytest.approx(2.0)   # beyond the ticket: its end


def test_counts_follow_the_law_sum_to_k_and_respect_caps():
    sizes = [math.prod(s) for s in SHAPES]
    e = [erdos_renyi_factor(s) for s in SHAPES]
    k = 2662
    got = law_counts(SHAPES, 1.0, k, sizes)
    # hand computation: x_l = A e_l n_l = A (fan_in + fan_out), A = k / sum(fan_in + fan_out)
    fans = [784 + 300, 300 + 100, 100 + 10]
    want = [k * f / sum(fans) for f in fans]
    assert sum(got) == k and all(abs(g - w) < 1 for g, w in zip(got, want))
    # beta = 0: uniform density
    flat = law_counts(SHAPES, 0.0, k, sizes)
    assert sum(flat) == k and all(abs(c - k * n / sum(sizes)) < 1 for c, n in zip(flat, sizes))
    # a layer whose law exceeds its survivors keeps them all; the rest share the remainder
    capped = law_counts(SHAPES, 3.0, 20000, [sizes[0], sizes[1], 40])
    assert capped[2] == 40 and sum(capped) == 20000
    a = (20000 - 40) / sum(ei ** 3 * n for ei, n in zip(e[:2], sizes[:2]))
    assert all(abs(c - a * ei ** 3 * n) < 1 for c, ei, n in zip(capped[:2], e[:2], sizes[:2]))
    with pytest.raises(ValueError, match="cannot keep"):
        law_counts(SHAPES, 1.0, 10**6, sizes)


@pytest.fixture(scope="module")
def ticket(tmp_path_factory):
    src = autosparse.build_model("lenet_300_100", 10, width=0.2, seed=0)
    store, history = make_irp_store(src, tmp_path_factory.mktemp("irp") / "irp.zarr")
    return str(store), history


def _n(model) -> int:
    return sum(p.numel() for p in autosparse.prunable_parameters(model).values())


@pytest.mark.parametrize("width", [0.2, 0.35])
@pytest.mark.parametrize("sparsity", [0.9, 0.99])
def test_law_random_transfers_to_another_shape(width, sparsity, ticket):
    """Exact global count; per-layer counts as the law fitted to the ticket (by np.polyfit
    here) predicts, on the ticket's network and on a wider one whose layers it never saw."""
    store, history = ticket
    model = autosparse.build_model("lenet_300_100", 10, width=width, seed=3)
    masks = autosparse.prune(model, "law_random", sparsity, store=store)
    k = keep_count(_n(model), 1 - sparsity)
    got = [int(m.sum()) for m in masks.values()]
    assert sum(got) == k
    _, tshapes, counts = store_layer_counts(store)
    loge = np.log([erdos_renyi_factor(s) for s in tshapes])
    sizes = np.array([math.prod(s) for s in tshapes])
    dens, slopes = [], []
    for c in counts:
        d = c / sizes
        use = (d > 0) & (d < 1)
        slopes.append(np.polyfit(loge[use], np.log(d[use]), 1)[0] if use.sum() >= 2 else 0.0)
        dens.append(c.sum() / sizes.sum())
    beta = float(np.interp(math.log(k / _n(model)), np.log(dens[::-1]), slopes[::-1]))
    shapes = [tuple(p.shape) for p in autosparse.prunable_parameters(model).values()]
    w = np.array([erdos_renyi_factor(s) ** beta * math.prod(s) for s in shapes])
    n = np.array([math.prod(s) for s in shapes], dtype=float)
    dense = np.zeros(len(w), dtype=bool)  # layers the law would fill past their size: all kept
    while True:
        x = np.where(dense, n, (k - n[dense].sum()) * w / w[~dense].sum())
        if not (x > n).any():
            break
        dense |= x > n
    assert np.all(np.abs(np.array(got) - x) < 1), (got, x)


def test_iterative_law_stays_nested_and_exact(ticket, mnist_batch):
    store, _ = ticket
    model = autosparse.build_model("lenet_300_100", 10, width=0.35, seed=4)
    masks = prune_nested(model, "law_synflow", 0.98, 4, data=[mnist_batch], store=store)
    assert sum(int(m.sum()) for m in masks.values()) == keep_count(_n(model), 0.02)
    again = autosparse.prune(model, "law_synflow", 0.98, data=[mnist_batch], rounds=4,
                             store=store)
    assert all(torch.equal(masks[n], again[n]) for n in masks)
