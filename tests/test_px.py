"""PX (PX seed Eq. 6-9): hand path-sum formula on a tiny MLP, real CIFAR models, exact counts."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import autosparse
from autosparse.masks import keep_count


def _tiny_mlp(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(4, 3, bias=False), nn.BatchNorm1d(3), nn.ReLU(),
        nn.Linear(3, 3, bias=True), nn.ReLU(), nn.Linear(3, 2, bias=False),
    )
    with torch.no_grad():  # non-trivial BatchNorm statistics and a bias: they shape f's gates
        net[1].running_mean.copy_(torch.tensor([0.1, -0.2, 0.05]))
        net[1].running_var.copy_(torch.tensor([0.5, 2.0, 1.5]))
        net[1].weight.copy_(torch.tensor([1.5, -0.7, 0.9]))
        net[1].bias.copy_(torch.tensor([0.2, 0.1, -0.3]))
        net[3].bias.copy_(torch.tensor([0.3, -0.1, 0.2]))
    return net


def _mnist_features(mnist_batch) -> torch.Tensor:
    """Real MNIST digits pooled to 2x2 = 4 features (8 samples)."""
    x = mnist_batch[0][::12][:8]
    return F.adaptive_avg_pool2d(x, 2).flatten(1).double()


def _hand_px(net: nn.Sequential, x: torch.Tensor, masks: dict) -> dict[str, torch.Tensor]:
    """Eq. 7-9 by explicit enumeration of every input->output path (s, i, j, k)."""
    d = {k: v.detach().double() for k, v in net.state_dict().items()}
    m1, m2, m3 = (masks[f"{i}.weight"].double() for i in (0, 3, 5))
    W1, W2, W3 = d["0.weight"] * m1, d["3.weight"] * m2, d["5.weight"] * m3
    bn_a = d["1.weight"] / torch.sqrt(d["1.running_var"] + net[1].eps)
    # gates of the original network f, by hand
    b1 = (x @ W1.T - d["1.running_mean"]) * bn_a + d["1.bias"]
    A1 = (b1 > 0).double()
    A2 = ((b1 * A1) @ W2.T + d["3.bias"] > 0).double()
    n_s, n_i, n_j, n_k = 4, 3, 3, 2
    G = torch.zeros(n_k, dtype=torch.float64)
    H = torch.zeros(n_k, dtype=torch.float64)
    paths = list(itertools.product(range(n_s), range(n_i), range(n_j), range(n_k)))
    for s, i, j, k in paths:
        exists = m1[i, s] * m2[j, i] * m3[k, j]
        G[k] += exists * (A1[:, i] * A2[:, j] * x[:, s] ** 2).sum()
        H[k] += (W1[i, s] * bn_a[i] * W2[j, i] * W3[k, j]) ** 2
    S1, S2, S3 = torch.zeros_like(W1), torch.zeros_like(W2), torch.zeros_like(W3)
    for s, i, j, k in paths:  # theta_j^2 dR/d theta_j^2 = sum_k G_k sum_{p through j} v_p^2
        vp2 = G[k] * (W1[i, s] * bn_a[i] * W2[j, i] * W3[k, j]) ** 2
        S1[i, s] += vp2
        S2[j, i] += vp2
        S3[k, j] += vp2
    return {"0.weight": S1, "3.weight": S2, "5.weight": S3}


@pytest.mark.parametrize("pruned", [False, True])
def test_px_equals_hand_path_sum(mnist_batch, pruned):
    net = _tiny_mlp(0)
    x = _mnist_features(mnist_batch)
    gen = torch.Generator().manual_seed(1)
    masks = {n: (torch.rand(p.shape, generator=gen) > (0.3 if pruned else -1.0))
             for n, p in autosparse.prunable_parameters(net).items()}
    got = autosparse.score(net, "px", [(x.float(), torch.zeros(len(x)))], masks=masks)
    want = _hand_px(net, x.float().double(), masks)
    for n in want:
        assert torch.allclose(got[n], want[n], rtol=1e-9, atol=0), n
        assert (got[n] >= 0).all()
    if pruned:
        assert all((got[n][~masks[n]] == 0).all() for n in got)


@pytest.mark.parametrize("name", ["resnet20", "vgg16_bn"])
def test_px_real_cifar_models(cifar_batch, name):
    model = autosparse.build_model(name, 10, width=0.25, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    s = autosparse.score(model, "px", [cifar_batch])
    assert all(torch.isfinite(v).all() and (v >= 0).all() for v in s.values())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # positive homogeneity: gates and pools of f do not change under x -> 3x (zero biases and
    # BN shifts at init), g sees x^2, so scores scale by exactly 9; wrong squaring would not.
    x, y = cifar_batch
    s3 = autosparse.score(model, "px", [(3 * x, y)])
    for n in s:
        assert torch.allclose(s3[n], 9 * s[n], rtol=1e-6), n
    assert all(torch.equal(a, b) for a, b in zip(s.values(),
                                                  autosparse.score(model, "px", [cifar_batch]).values()))
    masks = autosparse.prune(model, "px", 0.9, [cifar_batch], rounds=3)
    n_all = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == keep_count(n_all, 0.1)
    assert autosparse.mask_stats(masks)["collapsed"] == []


def test_px_scores_depend_on_data_gates(cifar_batch):
    """g uses f's ReLU gates on the data: two different batches give different scores."""
    model = autosparse.build_model("resnet20", 10, width=0.25, seed=0)
    x, y = cifar_batch
    a = autosparse.score(model, "px", [(x[:10], y[:10])])
    b = autosparse.score(model, "px", [(x[10:], y[10:])])
    both = autosparse.score(model, "px", [(x[:10], y[:10]), (x[10:], y[10:])])
    assert not torch.allclose(a["conv1.weight"], b["conv1.weight"])
    # R sums over all samples: scores of two batches add up (h does not depend on data)
    for n in a:
        assert torch.allclose(both[n], a[n] + b[n], rtol=1e-9), n


def test_px_rejects_unknown_activation(cifar_batch):
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 8), nn.GELU(), nn.Linear(8, 10))
    with pytest.raises(ValueError, match="GELU"):
        autosparse.score(net, "px", [cifar_batch])
