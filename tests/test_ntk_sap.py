"""NTK-SAP: its derivative against a hand-written objective, shared BatchNorm, seeds, counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import autosparse
from autosparse.masks import keep_count
from autosparse.methods.ntk_sap import perturbation_gradients


def _tiny_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 5, bias=False), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3)
    ).double()


def _objective(W1, W2, b2, x, delta1, delta2, mean, var, gamma, beta, bn_eps, eps, m1, m2):
    """sum_n ||f(x_n; W*m) - f(x_n; (W + eps*delta)*m)||^2, f = W2 relu(BN(W1 x)) + b2, by hand;
    BatchNorm uses fixed statistics (mean, var) shared by both passes."""

    def f(A, B):
        z = x @ A.T
        z = (z - mean) / torch.sqrt(var + bn_eps) * gamma + beta
        return torch.clamp(z, min=0) @ B.T + b2

    return ((f(W1 * m1, W2 * m2) - f((W1 + eps * delta1) * m1, (W2 + eps * delta2) * m2)) ** 2).sum()


@pytest.mark.parametrize("pruned", [False, True])
def test_gradient_matches_finite_differences(pruned):
    net = _tiny_net()
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(16, 4, generator=gen, dtype=torch.float64)
    params = autosparse.prunable_parameters(net)
    deltas = {n: torch.randn(p.shape, generator=gen, dtype=torch.float64) for n, p in params.items()}
    masks = {n: (torch.rand(p.shape, generator=gen) > (0.4 if pruned else -1.0))
             for n, p in params.items()}
    eps = 0.01
    got = perturbation_gradients(net, masks, x, deltas, eps)

    # statistics the unperturbed masked network sees on x (biased mean, unbiased var: momentum 1)
    W1, W2 = params["0.weight"].detach(), params["3.weight"].detach()
    z = x @ (W1 * masks["0.weight"]).T
    mean, var = z.mean(0), z.var(0, unbiased=True)
    assert torch.allclose(net[1].running_mean, mean) and torch.allclose(net[1].running_var, var)

    fixed = dict(W1=W1, W2=W2, b2=net[3].bias.detach(), x=x, delta1=deltas["0.weight"],
                 delta2=deltas["3.weight"], mean=mean, var=var, gamma=net[1].weight.detach(),
                 beta=net[1].bias.detach(), bn_eps=net[1].eps, eps=eps)
    m1, m2 = masks["0.weight"].double(), masks["3.weight"].double()
    h = 1e-6
    for name, m in (("0.weight", m1), ("3.weight", m2)):
        fd = torch.zeros_like(m)
        for idx in range(m.numel()):
            up, dn = m.clone().view(-1), m.clone().view(-1)
            up[idx] += h
            dn[idx] -= h
            args = (up.view_as(m), m2) if name == "0.weight" else (m1, up.view_as(m))
            args_dn = (dn.view_as(m), m2) if name == "0.weight" else (m1, dn.view_as(m))
            fd.view(-1)[idx] = (_objective(**fixed, m1=args[0], m2=args[1])
                                - _objective(**fixed, m1=args_dn[0], m2=args_dn[1])) / (2 * h)
        assert torch.allclose(got[name], fd, rtol=1e-5, atol=1e-12), name


def test_method_is_abs_of_summed_draws():
    """R = 2 re-initialisations: score = |sum of the two draws' derivatives| * mask."""
    net = _tiny_net()
    a = autosparse.score(net, "ntk_sap", input_shape=(4,), batch_size=8, reinits=2, seed=5)
    one = autosparse.score(net, "ntk_sap", input_shape=(4,), batch_size=8, reinits=1, seed=5)
    assert all((v >= 0).all() for v in a.values())
    assert not all(torch.allclose(a[n], one[n]) for n in a)  # the second draw contributes
    again = autosparse.score(net, "ntk_sap", input_shape=(4,), batch_size=8, reinits=2, seed=5)
    other = autosparse.score(net, "ntk_sap", input_shape=(4,), batch_size=8, reinits=2, seed=6)
    assert all(torch.equal(a[n], again[n]) for n in a)
    assert not all(torch.allclose(a[n], other[n]) for n in a)
    # the caller's weights are untouched by the re-initialisations
    assert torch.equal(net[0].weight, _tiny_net()[0].weight)


def test_resnet20_exact_count_and_data_free(cifar_batch):
    model = autosparse.build_model("resnet20", 10, width=0.25, seed=0)
    x, y = cifar_batch
    kw = dict(rounds=2, reinits=1, seed=0)
    with_data = autosparse.prune(model, "ntk_sap", 0.8, [cifar_batch], **kw)
    # only the batch shape is used: the same shape without data gives the same mask
    no_data = autosparse.prune(model, "ntk_sap", 0.8, input_shape=x.shape[1:],
                               batch_size=len(x), **kw)
    assert all(torch.equal(with_data[n], no_data[n]) for n in with_data)
    n_all = sum(m.numel() for m in no_data.values())
    assert sum(int(m.sum()) for m in no_data.values()) == keep_count(n_all, 0.2)
    with pytest.raises(ValueError, match="input_shape"):
        autosparse.score(model, "ntk_sap")
    with pytest.raises(ValueError, match="epsilon"):
        autosparse.score(model, "ntk_sap", input_shape=(3, 32, 32), epsilon=0)
