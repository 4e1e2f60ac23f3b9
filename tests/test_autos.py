"""The ``autos`` method: exact counts, agreement with the scorer applied by hand, feature
mismatch errors, and a LeNet/MNIST-trained scorer pruning a ResNet-18 on CIFAR-10."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from survival_data import survival_fixture

import autosparse
from autosparse import scorer as S
from autosparse.masks import keep_count, topk_masks


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist):
    surv = survival_fixture(tmp_path_factory, mnist, "surv_autos")
    cfg = S.TrainScorerConfig(arch="mlp", normalize="layer_standardize", context=True, epochs=1,
                              val_percent=50, shuffle_buffer=16384, read_batch=8192)
    path = tmp_path_factory.mktemp("scorer") / "mlp.pt"
    S.train_scorer(surv, cfg, out=path, log=None)
    return path


def test_autos_exact_count_and_agrees_with_scorer_by_hand(trained, mnist, mnist_batch):
    model = autosparse.build_model("lenet_300_100", 10, width=0.5, seed=3)
    before = {n: p.detach().clone() for n, p in autosparse.prunable_parameters(model).items()}
    masks, info = autosparse.prune(model, "autos", 0.9, [mnist_batch], scorer=str(trained),
                                   return_info=True)
    n = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == keep_count(n, 0.1)
    # by hand: same features (eval-mode g_0), same scorer, global top-k
    scorer = S.Scorer.load(trained)
    want = scorer.score_features(S.initial_features(model, [mnist_batch]))
    for name in want:
        assert torch.allclose(info["scores"][name].float(), want[name], atol=1e-6)
    ref = topk_masks(want, 0.1)
    agree = sum(int((ref[k] == masks[k]).sum()) for k in ref) / n
    assert agree > 0.999  # float64 vs float32 ties at the threshold only
    # the model was not touched, and the scorer object works the same as its path
    assert all(torch.equal(before[k], p) for k, p in autosparse.prunable_parameters(model).items())
    again = autosparse.prune(model, "autos", 0.9, [mnist_batch], scorer=scorer)
    assert all(torch.equal(again[k], masks[k]) for k in masks)


def test_autos_uses_g0_of_the_data(trained, mnist):
    """g_0 enters the scores: other scoring data give other scores (param+grad scorer)."""
    model = autosparse.build_model("lenet_300_100", 10, width=0.5, seed=3)
    b1 = next(autosparse.class_balanced_subset(mnist[0], 5, seed=0).batches(50))
    b2 = next(autosparse.class_balanced_subset(mnist[0], 5, seed=1).batches(50))
    s1 = autosparse.score(model, "autos", [b1], scorer=str(trained))
    s2 = autosparse.score(model, "autos", [b2], scorer=str(trained))
    assert not torch.allclose(s1["fc1.weight"], s2["fc1.weight"])


def test_autos_feature_mismatch_is_an_error(trained, mnist_batch, tmp_path):
    model = autosparse.build_model("lenet_300_100", 10, width=0.5, seed=3)
    with pytest.raises(ValueError, match="inputs 'param\\+grad', request is 'param'"):
        autosparse.prune(model, "autos", 0.9, [mnist_batch], scorer=str(trained), inputs="param")
    with pytest.raises(ValueError, match="normalize='layer_standardize'"):
        autosparse.prune(model, "autos", 0.9, [mnist_batch], scorer=str(trained),
                         normalize="none")
    with pytest.raises(ValueError, match="needs scorer"):
        autosparse.prune(model, "autos", 0.9, [mnist_batch])
    with pytest.raises(ValueError, match="needs scoring data"):
        autosparse.prune(model, "autos", 0.9, None, scorer=str(trained))
    # a checkpoint whose network does not take what its config feeds it
    ck = torch.load(trained, weights_only=True)
    ck["config"]["context"] = False
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(RuntimeError, match="size mismatch"):
        S.Scorer.load(tmp_path / "bad.pt")
    bad = S.Scorer.load(trained)
    bad.config = replace(bad.config, context=False)  # network takes 6, config gives 2
    with pytest.raises(ValueError, match="takes 6 features"):
        autosparse.prune(model, "autos", 0.9, [mnist_batch], scorer=bad)


def test_cross_architecture_lenet_scorer_prunes_resnet18(trained, cifar_batch):
    model = autosparse.build_model("resnet18", 10, width=0.125, seed=0)
    masks, info = autosparse.prune(model, "autos", 0.95, [cifar_batch], scorer=str(trained),
                                   return_info=True, batch_size=4096)
    params = autosparse.prunable_parameters(model)
    assert list(masks) == list(params)
    assert all(masks[k].shape == p.shape for k, p in params.items())
    n = sum(p.numel() for p in params.values())
    assert sum(int(m.sum()) for m in masks.values()) == keep_count(n, 0.05)
    # conv layers get non-constant scores, equal to the scorer on the target's own features
    s = info["scores"]["layers.0.0.conv1.weight"]
    assert s.std() > 0
    want = S.Scorer.load(trained).score_features(S.initial_features(model, [cifar_batch]))
    assert torch.allclose(s.float(), want["layers.0.0.conv1.weight"], atol=1e-6)


@pytest.mark.gpu
def test_autos_on_cuda_agrees_with_cpu(trained, mnist_batch):
    """The scorer is loaded onto the model's device; CUDA scores match the CPU's to float
    tolerance and the masks to ties at the threshold."""
    model = autosparse.build_model("lenet_300_100", 10, width=0.5, seed=3)
    cpu, info_cpu = autosparse.prune(model, "autos", 0.9, [mnist_batch], scorer=str(trained),
                                     return_info=True)
    gpu, info_gpu = autosparse.prune(model.cuda(), "autos", 0.9, [mnist_batch],
                                     scorer=str(trained), return_info=True)
    n = sum(m.numel() for m in cpu.values())
    assert all(m.is_cuda for m in gpu.values())
    assert sum(int(m.sum()) for m in gpu.values()) == keep_count(n, 0.1)
    for k in cpu:
        assert torch.allclose(info_gpu["scores"][k].float(), info_cpu["scores"][k].float(),
                              rtol=1e-3, atol=1e-4)
    agree = sum(int((cpu[k] == gpu[k].cpu()).sum()) for k in cpu) / n
    assert agree > 0.995
