"""Sanity ablations (Frankle et al. 2021, Sec. 5): shuffle, reinit, invert."""

from __future__ import annotations

import math

import pytest
import torch

import autosparse
from autosparse.masks import is_nested, keep_count, mask_stats


@pytest.fixture(scope="module")
def lenet():
    return autosparse.build_model("lenet_300_100", 10, width=0.25, seed=0)


@pytest.fixture(scope="module")
def snip_masks(lenet, mnist_batch):
    return autosparse.prune(lenet, "snip", 0.9, data=[mnist_batch], return_info=True)


def test_shuffle_keeps_layer_counts_and_moves_weights(snip_masks):
    masks, _ = snip_masks
    original = {k: v.clone() for k, v in masks.items()}
    shuffled = autosparse.ablate(masks, "shuffle", seed=0).masks
    for n in masks:
        assert int(shuffled[n].sum()) == int(masks[n].sum()), n
        assert shuffled[n].shape == masks[n].shape
        overlap = int((shuffled[n] & masks[n]).sum()) / max(int(masks[n].sum()), 1)
        density = float(masks[n].float().mean())
        if 0 < density < 0.5 and masks[n].numel() > 1000:
            assert overlap < 2 * density + 0.05, (n, overlap, density)  # ~density if random
    assert all(torch.equal(original[k], masks[k]) for k in masks)  # input untouched
    again = autosparse.shuffle_masks(masks, seed=0)
    other = autosparse.shuffle_masks(masks, seed=1)
    assert all(torch.equal(again[k], shuffled[k]) for k in masks)
    assert any(not torch.equal(other[k], shuffled[k]) for k in masks)


def test_reinit_same_masks_fresh_weights_same_initialiser(lenet, snip_masks):
    masks, _ = snip_masks
    new_masks, fresh = autosparse.ablate(masks, "reinit", seed=7, model=lenet)
    assert all(torch.equal(new_masks[k], masks[k]) for k in masks)
    old_w, new_w = autosparse.prunable_parameters(lenet), autosparse.prunable_parameters(fresh)
    for n, w in new_w.items():
        assert not torch.equal(w, old_w[n])
        fan_in = w[0].numel()
        # Kaiming-normal (fan-in, ReLU): std = sqrt(2 / fan_in)
        assert abs(float(w.detach().std()) / math.sqrt(2 / fan_in) - 1) < 0.15, n
    same = autosparse.reinit_model(lenet, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(same.state_dict().values(),
                                                 fresh.state_dict().values()))
    with pytest.raises(ValueError, match="model"):
        autosparse.ablate(masks, "reinit")


@pytest.mark.parametrize("sparsity", [0.5, 0.9])
@pytest.mark.parametrize("scope", ["global", "local"])
def test_invert_keeps_lowest_scores(lenet, mnist_batch, sparsity, scope):
    masks, info = autosparse.prune(lenet, "snip", sparsity, data=[mnist_batch], scope=scope,
                                   invert=True, return_info=True)
    scores = info["scores"]
    groups = [[n] for n in masks] if scope == "local" else [list(masks)]
    for names in groups:
        s = torch.cat([scores[n].reshape(-1) for n in names])
        m = torch.cat([masks[n].reshape(-1) for n in names])
        assert int(m.sum()) == keep_count(s.numel(), 1 - sparsity)
        # exactly the k lowest scores (check against the sorted scores)
        k = int(m.sum())
        assert torch.equal(torch.sort(s[m]).values, torch.sort(s).values[:k])


def test_invert_iterative_exact_and_nested(lenet, mnist_batch):
    per_round = []
    masks = autosparse.prune(lenet, "synflow", 0.95, data=[mnist_batch], rounds=4, invert=True,
                             callback=lambda t, m, s: per_round.append(m))
    n = sum(m.numel() for m in masks.values())
    assert mask_stats(masks)["kept"] == keep_count(n, 0.05)
    assert all(is_nested(b, a) for a, b in zip(per_round, per_round[1:]))
    normal = autosparse.prune(lenet, "synflow", 0.95, data=[mnist_batch], rounds=4)
    assert any(not torch.equal(masks[k], normal[k]) for k in masks)


def test_prune_ablated_and_errors(lenet, mnist_batch, snip_masks):
    masks, model, _ = autosparse.prune_ablated(lenet, "snip", 0.9, "shuffle", data=[mnist_batch],
                                               seed=3)
    assert model is lenet
    ref = autosparse.shuffle_masks(snip_masks[0], seed=3)
    assert all(torch.equal(masks[k], ref[k]) for k in masks)
    inv, _, _ = autosparse.prune_ablated(lenet, "snip", 0.9, "invert", data=[mnist_batch])
    ref_inv = autosparse.prune(lenet, "snip", 0.9, data=[mnist_batch], invert=True)
    assert all(torch.equal(inv[k], ref_inv[k]) for k in inv)
    with pytest.raises(ValueError, match="unknown ablation 'flip'"):
        autosparse.ablate(masks, "flip")
    with pytest.raises(ValueError, match="invert=True"):
        autosparse.ablate(masks, "invert")
