"""Exact top-k selection (issue 15): the same masks, bit for bit, as the stable descending sort.

The reference is ``autosparse.masks._topk_flat_sorted`` (today's rule, kept for tests and
``benchmarks/bench_topk.py`` only); ``reference_masks`` runs ``topk_masks`` with it swapped in.
"""

from __future__ import annotations

import functools
import math
from unittest import mock

import pytest
import torch

from autosparse import masks as M
from autosparse.masks import _SAMPLE, keep_count, topk_masks

BIG = 4 * _SAMPLE + 12_345  # large enough for the sampled (Floyd-Rivest) CPU path
SCOPES = ("global", "local")


def reference_masks(scores, density, scope="global", current=None):
    with mock.patch.object(M, "topk_flat", M._topk_flat_sorted):
        return topk_masks(scores, density, scope, current=current)


def assert_same(scores, density, scope="global", current=None):
    got = topk_masks(scores, density, scope, current=current)
    want = reference_masks(scores, density, scope, current=current)
    assert list(got) == list(want)
    for name in want:
        assert got[name].dtype == torch.bool and got[name].shape == scores[name].shape
        assert torch.equal(got[name], want[name]), (name, density, scope)
    return got


def layers(shapes, fill):
    return {f"l{i}": fill(shape) for i, shape in enumerate(shapes)}


@functools.cache
def flat_cases():
    """(name, 1-D float64 tensor) pairs: random, tied, adversarial."""
    gen = torch.Generator().manual_seed(0)
    n = 1000
    zeros = torch.zeros(n, dtype=torch.float64)
    zeros[torch.randperm(n, generator=gen)[: n // 2]] = -0.0
    signed = torch.randint(-2, 3, (n,), generator=gen).double()
    signed = torch.where((signed == 0) & (torch.rand(n, generator=gen) < 0.5), -0.0, signed)
    infs = torch.randn(n, generator=gen, dtype=torch.float64)
    infs[torch.randperm(n, generator=gen)[:300]] = -math.inf
    infs[torch.randperm(n, generator=gen)[:20]] = math.inf
    skewed = torch.randn(BIG, generator=gen, dtype=torch.float64)
    skewed[:: BIG // _SAMPLE] += 100.0  # the strided sample sees only outliers: bracket misses
    return [
        ("randn", torch.randn(n, generator=gen, dtype=torch.float64)),
        ("randn-big", torch.randn(BIG, generator=gen, dtype=torch.float64)),
        ("ints-big", torch.randint(0, 7, (BIG,), generator=gen).double()),
        ("all-equal", torch.full((n,), 0.25, dtype=torch.float64)),
        ("all-equal-big", torch.full((BIG,), -3.0, dtype=torch.float64)),
        ("zeros-and-negzeros", zeros),
        ("signed-ints-negzeros", signed),
        ("inf", infs),
        ("all-minus-inf", torch.full((n,), -math.inf, dtype=torch.float64)),
        ("sorted", torch.arange(BIG, dtype=torch.float64)),
        ("reversed", torch.arange(BIG, dtype=torch.float64).flip(0)),
        ("skewed-sample", skewed),
    ]


@pytest.mark.parametrize("case", range(12))
def test_flat_selection_matches_sort_for_every_kind_of_k(case):
    name, flat = flat_cases()[case]
    n = flat.numel()
    finite = int(torch.isfinite(flat).sum())
    pos_inf = int((flat == math.inf).sum())
    for k in sorted({0, 1, 2, n // 3, n // 2, n - 2, n - 1, n, finite, finite + 1, pos_inf,
                     pos_inf + 1} & set(range(n + 1))):
        got = M.topk_flat(flat, k)
        assert int(got.sum()) == k, (name, k)
        assert torch.equal(got, M._topk_flat_sorted(flat, k)), (name, k)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_kth_value_helpers_agree_with_sort(dtype):
    gen = torch.Generator().manual_seed(7)
    for flat in (torch.randn(BIG, generator=gen).to(dtype),
                 torch.randint(-3, 4, (5000,), generator=gen).to(dtype) * 0.0,  # +-0.0 only
                 torch.randint(-3, 4, (BIG,), generator=gen).to(dtype)):
        desc = flat.sort(descending=True).values
        for k in (1, 17, flat.numel() // 10, flat.numel() // 2, flat.numel() - 1, flat.numel()):
            for kth in (M._kth_largest_sampled, M._kth_largest_topk):
                t = kth(flat, k)
                assert t.dtype == dtype and t == desc[k - 1], (kth.__name__, k)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_random_scores_of_several_sizes(scope, dtype):
    gen = torch.Generator().manual_seed(0)
    for shapes in ([(10,)], [(300, 100), (100,), (10, 100)], [(64, 32, 3, 3), (256, 512), (10, 256)]):
        scores = layers(shapes, lambda s: torch.randn(s, generator=gen, dtype=dtype))
        for density in (1.0, 0.5, 0.2, 0.05, 0.013, 0.001):
            assert_same(scores, density, scope)


@pytest.mark.parametrize("scope", SCOPES)
def test_heavy_ties(scope):
    gen = torch.Generator().manual_seed(1)
    shapes = [(50, 20), (300,), (7, 7, 3, 3), (1,)]
    cases = [
        layers(shapes, lambda s: torch.randint(0, 4, s, generator=gen).float()),
        layers(shapes, lambda s: torch.full(s, 1.5)),
        layers(shapes, lambda s: torch.where(torch.rand(s, generator=gen) < 0.5, -0.0, 0.0)),
        layers(shapes, lambda s: torch.where(torch.rand(s, generator=gen) < 0.9,
                                             torch.where(torch.rand(s, generator=gen) < 0.5, -0.0, 0.0),
                                             torch.randn(s, generator=gen))),
        layers([(BIG,), (5000,)], lambda s: torch.randint(-2, 3, s, generator=gen).double() * 0.5),
    ]
    for scores in cases:
        for density in (1.0, 0.9, 0.5, 0.31, 0.1, 0.01, 0.0):
            assert_same(scores, density, scope)


@pytest.mark.parametrize("scope", SCOPES)
def test_adversarial_k_and_infinities(scope):
    gen = torch.Generator().manual_seed(2)
    scores = layers([(40, 25), (333,), (6, 3, 3, 3)], lambda s: torch.randn(s, generator=gen))
    scores["l0"][0, :10] = math.inf
    scores["l1"][::3] = -math.inf
    scores["l2"][0] = math.inf
    n = sum(s.numel() for s in scores.values())
    # densities giving k = 0, 1, N-1, N and k at the +inf / finite / -inf boundaries in global scope
    n_inf = sum(int((s == math.inf).sum()) for s in scores.values())
    n_fin = sum(int(torch.isfinite(s).sum()) for s in scores.values())
    ks = {0, 1, n - 1, n, n_inf, n_inf + 1, n_inf + n_fin, n_inf + n_fin + 1}
    for k in ks:
        assert keep_count(n, k / n) == k
        assert_same(scores, k / n, scope)


@pytest.mark.parametrize("scope", SCOPES)
def test_current_masks_pruned_weights_are_selectable_last(scope):
    gen = torch.Generator().manual_seed(3)
    shapes = [(30, 30), (500,), (BIG,)]
    for fill in (lambda s: torch.randn(s, generator=gen),
                 lambda s: torch.randint(0, 3, s, generator=gen).float()):
        scores = layers(shapes, fill)
        current = {k: torch.rand(v.shape, generator=gen) < 0.3 for k, v in scores.items()}
        for density in (0.5, 0.29, 0.05):
            got = assert_same(scores, density, scope, current)
            if density < 0.3:  # below the current density nothing pruned is revived
                for name in got:
                    assert not (got[name] & ~current[name]).any()


def test_global_ties_at_the_threshold_spanning_layers_go_to_the_earlier_layer():
    # threshold value 5.0 occurs in l0 (end), l1 (start, middle) and l2: only the first ones are kept
    scores = {
        "l0": torch.tensor([9.0, 1.0, 5.0, 5.0]),
        "l1": torch.tensor([5.0, 8.0, 5.0, 0.0]),
        "l2": torch.tensor([[5.0, 7.0], [5.0, 2.0]]),
    }
    n = 12
    want_kept = {  # k: kept (layer, flat index) in order of preference
        1: [("l0", 0)],
        4: [("l0", 0), ("l1", 1), ("l2", 1), ("l0", 2)],
        6: [("l0", 0), ("l1", 1), ("l2", 1), ("l0", 2), ("l0", 3), ("l1", 0)],
        8: [("l0", 0), ("l1", 1), ("l2", 1), ("l0", 2), ("l0", 3), ("l1", 0), ("l1", 2), ("l2", 0)],
    }
    for k, kept in want_kept.items():
        got = assert_same(scores, k / n, "global")
        want = {name: torch.zeros(s.numel(), dtype=torch.bool) for name, s in scores.items()}
        for name, i in kept:
            want[name][i] = True
        for name in scores:
            assert torch.equal(got[name].reshape(-1), want[name]), (k, name)


def test_ties_go_to_the_lower_index_local_and_signed_zero():
    scores = {"a": torch.tensor([1.0, 3.0, 1.0, 1.0, 0.0]), "b": torch.tensor([0.0, -0.0, 0.0, -0.0])}
    got = assert_same(scores, 0.5, "local")
    assert got["a"].tolist() == [True, True, False, False, False]  # keep_count(5, 0.5) = round(2.5) = 2
    assert got["b"].tolist() == [True, True, False, False]


@pytest.mark.parametrize("scope", SCOPES)
def test_exact_kept_count(scope):
    gen = torch.Generator().manual_seed(4)
    scores = layers([(37, 11), (101,), (5, 4, 3, 3), (BIG,)],
                    lambda s: torch.randint(0, 5, s, generator=gen).double())
    for density in (0.999, 0.7, 0.5, 0.123, 0.02, 0.0001):
        got = topk_masks(scores, density, scope)
        if scope == "global":
            n = sum(s.numel() for s in scores.values())
            assert sum(int(m.sum()) for m in got.values()) == keep_count(n, density)
        else:
            for m in got.values():
                assert int(m.sum()) == keep_count(m.numel(), density)


def test_rejects_negative_k_and_nan():
    with pytest.raises(ValueError, match="k must be"):
        M.topk_flat(torch.zeros(3), -1)
    with pytest.raises(ValueError, match="NaN"):
        topk_masks({"w": torch.tensor([1.0, math.nan])}, 0.5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_selection_matches_cpu_reference():
    gen = torch.Generator().manual_seed(5)
    for flat in (torch.randn(BIG, generator=gen, dtype=torch.float64),
                 torch.randint(-2, 3, (BIG,), generator=gen).double() * 0.0,
                 torch.randint(0, 5, (BIG,), generator=gen).double()):
        for k in (0, 1, BIG // 10, BIG // 2, BIG - 1, BIG):
            got = M.topk_flat(flat.cuda(), k)
            assert got.device.type == "cuda"
            assert torch.equal(got.cpu(), M._topk_flat_sorted(flat, k)), k
