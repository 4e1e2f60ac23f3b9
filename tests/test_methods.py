"""PaI methods: exact counts, determinism, and agreement with independent computations."""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from helpers_methods import make_irp_store, method_options
from torch import nn
from torch.nn import functional as F

import autosparse
from autosparse import masks as M
from autosparse.masks import density_schedule, is_nested, keep_count, mask_stats

ITERATIVE_ROUNDS = 3  # keep iterative methods cheap in tests

# NPB solves an integer program per layer (~25 s on LeNet here): its generic cases run with
# `pytest -m slow`; tests/test_npb.py checks its exact counts on ResNet-20 in the fast set. The
# beyond wrappers share one mechanism (methods/ticket_density.register_within_layers): the fast
# set keeps one single-shot and one iterative of it, the others run with `pytest -m slow`.
SLOW = {"npb", "ticket_synflow", "ticket_px", "ticket_autos", "law_px"}
METHODS = [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m
           for m in autosparse.list_methods()]


@pytest.fixture(scope="module")
def lenet():
    return autosparse.build_model("lenet_300_100", 10, width=0.2, seed=0)


def _prune(model, name, sparsity, batch, tmp_path, **kw):
    m = autosparse.methods.get_method(name)
    rounds = min(m.rounds, ITERATIVE_ROUNDS)
    return autosparse.prune(model, name, sparsity, data=[batch], rounds=rounds,
                            **method_options(name, model, tmp_path), **kw)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.98])
def test_exact_count_global(name, sparsity, lenet, mnist_batch, tmp_path):
    masks = _prune(lenet, name, sparsity, mnist_batch, tmp_path)
    n = sum(p.numel() for p in autosparse.prunable_parameters(lenet).values())
    assert mask_stats(masks)["kept"] == keep_count(n, 1 - sparsity)


@pytest.mark.parametrize("name", METHODS)
def test_exact_count_local(name, lenet, mnist_batch, tmp_path):
    masks = _prune(lenet, name, 0.8, mnist_batch, tmp_path, scope="local")
    for n, p in autosparse.prunable_parameters(lenet).items():
        assert int(masks[n].sum()) == keep_count(p.numel(), 0.2), n


def test_exact_count_resnet_bn(cifar_batch, tmp_path):
    """BatchNorm nets (train-mode GraSP, eval-mode SynFlow) hit the count too."""
    model = autosparse.build_model("resnet20", 10, width=0.25, seed=0)
    n = sum(p.numel() for p in autosparse.prunable_parameters(model).values())
    for name in ("grasp", "synflow", "iter_snip"):
        masks = _prune(model, name, 0.95, cifar_batch, tmp_path)
        assert mask_stats(masks)["kept"] == keep_count(n, 0.05), name


@pytest.mark.parametrize("name", METHODS)
def test_deterministic_and_model_untouched(name, lenet, mnist_batch, tmp_path):
    before = {k: v.clone() for k, v in lenet.state_dict().items()}
    a = _prune(lenet, name, 0.9, mnist_batch, tmp_path)
    b = _prune(lenet, name, 0.9, mnist_batch, tmp_path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(before[k], v) for k, v in lenet.state_dict().items())


@pytest.mark.parametrize("scope", ["global", "local"])
@pytest.mark.parametrize("name", METHODS)
def test_masks_unchanged_by_the_linear_time_top_k(name, scope, mnist_batch, tmp_path):
    """Issue 15: every method's masks equal those of the stable-sort rule it replaced (full-width
    LeNet-300-100: 266,200 weights, past the sampled CPU selection's 4 x 65,536 threshold)."""
    model = autosparse.build_model("lenet_300_100", 10, seed=0)
    new = _prune(model, name, 0.9, mnist_batch, tmp_path, scope=scope)
    with mock.patch.object(M, "topk_flat", M._topk_flat_sorted):
        old = _prune(model, name, 0.9, mnist_batch, tmp_path, scope=scope)
    assert list(new) == list(old) and all(torch.equal(new[k], old[k]) for k in old)


def test_random_seed_changes_mask(lenet):
    a = autosparse.prune(lenet, "random", 0.9, seed=0)
    b = autosparse.prune(lenet, "random", 0.9, seed=1)
    assert any(not torch.equal(a[k], b[k]) for k in a)


def _tiny_mlp(bias: bool = True) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5, bias=bias), nn.ReLU(), nn.Linear(5, 3, bias=bias)).double()


def _tiny_data(seed: int = 0, n: int = 6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def test_snip_matches_finite_differences():
    """SNIP = |theta * dL/dtheta| with dL/dtheta by central differences (double precision)."""
    model, (x, y) = _tiny_mlp(), _tiny_data()
    got = autosparse.score(model, "snip", data=[(x, y)])
    h = 1e-6
    for name, p in autosparse.prunable_parameters(model).items():
        fd = torch.zeros_like(p)
        for i in range(p.numel()):
            with torch.no_grad():
                orig = p.view(-1)[i].item()
                p.view(-1)[i] = orig + h
                lp = F.cross_entropy(model(x), y).item()
                p.view(-1)[i] = orig - h
                lm = F.cross_entropy(model(x), y).item()
                p.view(-1)[i] = orig
            fd.view(-1)[i] = (lp - lm) / (2 * h)
        torch.testing.assert_close(got[name], (p.detach() * fd).abs(), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("temperature", [200.0, 1.0])
def test_grasp_matches_explicit_hessian(temperature):
    """GraSP keep-score = theta * (H g) with H, g of sum_b CE(f(x_b)/T, y_b) w.r.t. the prunable
    weights (biases fixed), H from torch.autograd.functional.hessian on the flattened weights."""
    model = _tiny_mlp()
    batches = [_tiny_data(0), _tiny_data(1)]
    params = autosparse.prunable_parameters(model)
    names = list(params)
    shapes = [params[n].shape for n in names]
    flat0 = torch.cat([params[n].detach().reshape(-1) for n in names])

    def loss(flat):
        ws = dict(zip(names, torch.split(flat, [s.numel() for s in shapes])))
        ws = {n: w.reshape(s) for (n, w), s in zip(ws.items(), shapes)}
        state = {**dict(model.named_parameters()), **ws}
        return sum(F.cross_entropy(torch.func.functional_call(model, state, (x,)) / temperature, y)
                   for x, y in batches)

    g = torch.autograd.functional.jacobian(loss, flat0)
    hess = torch.autograd.functional.hessian(loss, flat0)
    want = flat0 * (hess @ g)
    got = autosparse.score(model, "grasp", data=batches, temperature=temperature)
    got_flat = torch.cat([got[n].reshape(-1) for n in names])
    assert want.abs().max() > 0
    torch.testing.assert_close(got_flat, want, rtol=1e-6, atol=1e-12 * float(want.abs().max()))


def test_synflow_matches_closed_form_path_sums():
    """R = 1^T |W3||W2||W1| 1 and dR/d|W_l| are products of abs-weight matrices."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5, bias=False), nn.ReLU(), nn.Linear(5, 4, bias=False),
                          nn.ReLU(), nn.Linear(4, 3, bias=False))
    a1, a2, a3 = (model[i].weight.detach().double().abs() for i in (0, 2, 4))
    one = {k: torch.ones(k, dtype=torch.float64) for k in (3, 6)}
    want = {
        "0.weight": a1 * torch.outer(a2.T @ a3.T @ one[3], one[6]),
        "2.weight": a2 * torch.outer(a3.T @ one[3], a1 @ one[6]),
        "4.weight": a3 * torch.outer(one[3], a2 @ a1 @ one[6]),
    }
    got = autosparse.score(model, "synflow", input_shape=(6,))
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-12, atol=0)
    # float32 agrees to single precision; the input shape can also come from data
    got32 = autosparse.score(model, "synflow", float64=False, input_shape=(6,))
    for n in want:
        torch.testing.assert_close(got32[n], want[n], rtol=1e-5, atol=0)
    with pytest.raises(ValueError, match="input shape"):
        autosparse.score(model, "synflow")


@pytest.mark.parametrize("name", ["synflow", "iter_snip"])
def test_iterative_never_revives(name, lenet, mnist_batch):
    rounds, per_round = 6, []
    autosparse.prune(lenet, name, 0.99, data=[mnist_batch], rounds=rounds,
                     callback=lambda t, m, s: per_round.append({k: v.clone() for k, v in m.items()}))
    assert len(per_round) == rounds
    n = sum(m.numel() for m in per_round[0].values())
    for t, d in enumerate(density_schedule(0.01, rounds)):
        assert mask_stats(per_round[t])["kept"] == keep_count(n, d)
        if t:
            assert is_nested(per_round[t], per_round[t - 1])


def test_iterative_differs_from_single_shot(lenet, mnist_batch):
    """Re-scoring survivors changes the selection (else the rounds would be no-ops)."""
    one = autosparse.prune(lenet, "iter_snip", 0.99, data=[mnist_batch], rounds=1)
    many = autosparse.prune(lenet, "iter_snip", 0.99, data=[mnist_batch], rounds=5)
    single = autosparse.prune(lenet, "snip", 0.99, data=[mnist_batch])
    assert all(torch.equal(one[k], single[k]) for k in one)
    assert any(not torch.equal(one[k], many[k]) for k in one)


def test_magnitude_after_training_keeps_largest_trained(lenet):
    g = torch.Generator().manual_seed(3)
    trained = {n: torch.randn(p.shape, generator=g)
               for n, p in autosparse.prunable_parameters(lenet).items()}
    masks = autosparse.prune(lenet, "magnitude_after_training", 0.9, trained=trained)
    kept = torch.cat([trained[n][masks[n]].abs() for n in masks])
    pruned = torch.cat([trained[n][~masks[n]].abs() for n in masks])
    assert kept.min() >= pruned.max()
    with pytest.raises(ValueError, match="trained"):
        autosparse.prune(lenet, "magnitude_after_training", 0.9)


def test_magnitude_after_training_reports_collapse(lenet):
    """A layer whose trained weights are tiny is pruned entirely; mask_stats names it."""
    trained = {n: p.detach().clone() for n, p in autosparse.prunable_parameters(lenet).items()}
    trained["fc2.weight"] = trained["fc2.weight"] * 1e-6
    masks = autosparse.prune(lenet, "magnitude_after_training", 0.9, trained=trained)
    assert mask_stats(masks)["collapsed"] == ["fc2.weight"]


def test_lottery_reproduces_and_extends_irp_masks(lenet, tmp_path):
    store, history = make_irp_store(lenet, tmp_path / "irp.zarr", iterations=5, final=0.05)
    n = sum(m.numel() for m in history[0].values())
    for i in (1, 3, 5):
        kept = mask_stats(history[i])["kept"]
        masks = autosparse.prune(lenet, "lottery", 1 - kept / n, store=str(store))
        assert all(torch.equal(masks[k], history[i][k]) for k in masks), i
    # between iterations 2 and 3: a superset of iteration 3, a subset of iteration 2, exact count
    s = 1 - (mask_stats(history[2])["kept"] + mask_stats(history[3])["kept"]) / (2 * n)
    masks = autosparse.prune(lenet, "lottery", s, store=str(store))
    assert is_nested(history[3], masks) and is_nested(masks, history[2])
    assert mask_stats(masks)["kept"] == keep_count(n, 1 - s)
    with pytest.raises(ValueError, match="no IRP iteration"):
        autosparse.prune(lenet, "lottery", 0.99, store=str(store))
    with pytest.raises(ValueError, match="density"):
        autosparse.prune(lenet, "lottery", s, store=str(store), iteration=2)
    other = autosparse.build_model("lenet_300_100", 10, width=0.2, seed=1)
    store0, _ = make_irp_store(lenet, tmp_path / "irp0.zarr", theta0=True)
    autosparse.prune(lenet, "lottery", 0.9, store=str(store0))  # matching theta_0 is accepted
    with pytest.raises(ValueError, match="theta0"):
        autosparse.prune(other, "lottery", 0.9, store=str(store0))
    with pytest.raises(FileNotFoundError):
        autosparse.prune(lenet, "lottery", 0.5, store=str(tmp_path / "missing.zarr"))
