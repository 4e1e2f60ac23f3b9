"""The ``prune`` CLI stage: round trip to a mask store, attrs, ablations, and input errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import autosparse
from autosparse.cli import main
from autosparse.masks import keep_count
from autosparse.models import MODELS
from autosparse.pruning import REINIT_SEED_OFFSET
from autosparse.store import read_mask_store, read_score_store


def _args(data_root, out, *extra, model="lenet_300_100", dataset="mnist", method="snip",
          sparsity="0.95"):
    return ["prune", "--model", model, "--dataset", dataset, "--width", "0.25", "--seed", "0",
            "--method", method, "--sparsity", sparsity, "--data-root", str(data_root),
            "--out", str(out), "--device", "cpu", *extra]  # CPU: compared with the library's


def test_round_trip_matches_library(data_root, mnist, tmp_path):
    out = tmp_path / "m.zarr"
    assert main(_args(data_root, out, "--save-scores")) == 0
    masks, attrs = read_mask_store(out)
    model = autosparse.build_model("lenet_300_100", 10, 0.25, (1, 28, 28), seed=0)
    n = sum(p.numel() for p in autosparse.prunable_parameters(model).values())
    kept = sum(int(m.sum()) for m in masks.values())
    assert kept == keep_count(n, 1 - 0.95) == attrs["kept"]
    assert attrs["achieved_sparsity"] == pytest.approx(1 - kept / n, abs=0)
    assert attrs["requested_sparsity"] == 0.95 and attrs["method"] == "snip"
    assert list(masks) == list(autosparse.prunable_parameters(model))
    assert attrs["layer_density"] == {k: float(m.float().mean()) for k, m in masks.items()}
    assert attrs["collapsed"] == [] and attrs["scoring_time"] > 0 and attrs["ablation"] is None
    # the same mask as the library on the same theta_0 and class-balanced batch
    sub = autosparse.class_balanced_subset(mnist[0], 10, seed=0)
    ref = autosparse.prune(model, "snip", 0.95, data=[next(sub.batches(len(sub)))])
    assert all(torch.equal(masks[k], ref[k]) for k in ref)
    import zarr

    scores = zarr.open_group(str(out), mode="r")["scores"]
    assert set(scores.array_keys()) == set(masks)


def test_ablations_in_attrs(data_root, tmp_path):
    base, shuf, reinit = (tmp_path / f"{k}.zarr" for k in ("b", "s", "r"))
    assert main(_args(data_root, base)) == 0
    assert main(_args(data_root, shuf, "--ablation", "shuffle")) == 0
    assert main(_args(data_root, reinit, "--ablation", "reinit")) == 0
    (mb, _), (ms, a_s), (mr, a_r) = (read_mask_store(p) for p in (base, shuf, reinit))
    assert all(int(ms[k].sum()) == int(mb[k].sum()) for k in mb)
    assert any(not torch.equal(ms[k], mb[k]) for k in mb)
    assert a_s["ablation"] == "shuffle" and a_s["ablation_seed"] == 0
    assert all(torch.equal(mr[k], mb[k]) for k in mb)
    assert a_r["init_seed"] == REINIT_SEED_OFFSET and "init_seed" not in read_mask_store(base)[1]


def test_scoring_batches_sum_gradients(data_root, tmp_path):
    """100 examples in batches of 50: g is the sum of two batch means = 2 x the mean of one batch."""
    import zarr

    whole, halves = tmp_path / "w.zarr", tmp_path / "h.zarr"
    assert main(_args(data_root, whole, "--save-scores", "--batch-size", "100")) == 0
    assert main(_args(data_root, halves, "--save-scores", "--batch-size", "50")) == 0
    sw, sh = (zarr.open_group(str(p), mode="r")["scores"] for p in (whole, halves))
    for k in sw.array_keys():
        torch.testing.assert_close(torch.as_tensor(sh[k][:]), 2 * torch.as_tensor(sw[k][:]))
    assert read_mask_store(halves)[1]["batch_size"] == 50


def test_collapse_reported(data_root, tmp_path):
    model = autosparse.build_model("lenet_300_100", 10, 0.25, (1, 28, 28), seed=0)
    trained = {n: p.detach().clone() for n, p in autosparse.prunable_parameters(model).items()}
    trained["fc3.weight"] *= 1e-6
    torch.save(trained, tmp_path / "trained.pt")
    out = tmp_path / "c.zarr"
    assert main(_args(data_root, out, "--set", f"trained={tmp_path / 'trained.pt'}",
                      method="magnitude_after_training", sparsity="0.9")) == 0
    assert read_mask_store(out)[1]["collapsed"] == ["fc3.weight"]


@pytest.fixture
def no_prunable_model():
    class Empty(nn.Module):
        def __init__(self, num_classes, width=1.0, input_shape=(1, 28, 28)):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x.flatten(1)[:, :10] * self.scale

    MODELS.register("_no_prunable")(Empty)
    yield "_no_prunable"
    MODELS._items.pop("_no_prunable")


@pytest.mark.parametrize("case,match", [
    ({"sparsity": "1.0"}, "sparsity must lie in \\[0, 1\\), got 1.0"),
    ({"sparsity": "-0.1"}, "got -0.1"),
    ({"method": "nope"}, "unknown method 'nope'; valid: .*grasp.*synflow"),
    ({"model": "nope"}, "unknown model 'nope'"),
    ({"dataset": "nope"}, "unknown dataset 'nope'"),
    ({"extra": ["--ablation", "flip"]}, "invalid choice: 'flip'"),
    ({"extra": ["--scope", "layer"]}, "invalid choice: 'layer'"),
    ({"extra": ["--ablation", "reinit", "--ablation-seed", "0"]}, "init seed other than"),
    ({"extra": ["--batch-size", "0"]}, "batch-size must be >= 1, got 0"),
    ({"extra": ["--device", "tpu"]}, "device must be auto, cpu, cuda or cuda:N, got 'tpu'"),
    pytest.param({"extra": ["--device", "cuda"]}, "device 'cuda': CUDA is not available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")),
    ({"model": "vgg16_bn"}, "does not fit"),  # 28x28 MNIST vanishes in VGG's 5 max-pools
    ({"model": "NOPRUNE"}, "no prunable"),
])
def test_bad_input_errors(data_root, tmp_path, capsys, monkeypatch, no_prunable_model, case,
                          match):
    import re

    out = tmp_path / "bad.zarr"
    case = dict(case)
    extra = case.pop("extra", [])
    if case.get("model") == "NOPRUNE":
        case["model"] = no_prunable_model
    if case.get("model") not in ("vgg16_bn", no_prunable_model):
        # argument errors come before any work: the data is never loaded
        def fail(*a, **k):
            raise AssertionError("data loaded before the arguments were checked")

        monkeypatch.setattr("autosparse.pruning.load_dataset", fail)
    try:
        status = main(_args(data_root, out, *extra, **case))
    except SystemExit as e:  # argparse's own rejection (choices)
        status = e.code
    assert status == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err
    assert not out.exists()


def test_retrain_rebuilds_reinit_weights(data_root, tmp_path, monkeypatch):
    """``train --mask`` of a reinit store builds theta_0 from the stored init_seed."""
    import autosparse.retrain as retrain

    out = tmp_path / "r.zarr"
    assert main(_args(data_root, out, "--ablation", "reinit", "--ablation-seed", "5")) == 0
    seeds = []
    real = retrain.build_model

    def recording(*a, seed=None, **k):
        seeds.append(seed)
        return real(*a, seed=seed, **k)

    monkeypatch.setattr(retrain, "build_model", recording)
    assert main(["train", "--model", "lenet_300_100", "--dataset", "mnist", "--width", "0.25",
                 "--seed", "0", "--epochs", "1", "--train-per-class", "5", "--test-per-class",
                 "5", "--data-root", str(data_root), "--mask", str(out),
                 "--set", "progress=false"]) == 0
    assert seeds == [5]


def test_score_store_thresholds_to_the_masks_of_a_fresh_scoring(data_root, tmp_path, capsys):
    store = tmp_path / "scores.zarr"
    head = ["--model", "lenet_300_100", "--dataset", "mnist", "--width", "0.25", "--seed", "0",
            "--method", "snip", "--data-root", str(data_root), "--device", "cpu"]
    assert main(["score", *head, "--out", str(store)]) == 0
    for sparsity in ("0.9", "0.99"):
        for extra in ([], ["--ablation", "invert"], ["--ablation", "shuffle"]):
            fresh, reused = tmp_path / "f.zarr", tmp_path / "r.zarr"
            assert main(_args(data_root, fresh, *extra, sparsity=sparsity)) == 0
            assert main(_args(data_root, reused, *extra, "--scores", str(store),
                              sparsity=sparsity)) == 0
            (mf, af), (mr, ar) = read_mask_store(fresh), read_mask_store(reused)
            assert all(torch.equal(mf[k], mr[k]) for k in mf), (sparsity, extra)
            assert ar["kept"] == af["kept"] and ar["scores_from"] == str(store)
            assert ar["scoring_time"] > read_score_store(store)[1]["scoring_time"] > 0
            for p in (fresh, reused):
                import shutil

                shutil.rmtree(p)
    capsys.readouterr()
    # a store made with other arguments is refused, naming what differs
    assert main(_args(data_root, tmp_path / "x.zarr", "--scores", str(store),
                      "--n-per-class", "5")) == 2
    assert "n_per_class=10" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()
    # an iterative method's scores depend on the sparsity: nothing to store
    head[head.index("snip")] = "synflow"
    assert main(["score", *head, "--out", str(tmp_path / "y.zarr")]) == 2
    assert "iterative" in capsys.readouterr().err


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["snip", "grasp", "synflow"])
def test_prune_on_cuda_agrees_with_cpu(data_root, tmp_path, method):
    """``--device cuda`` scores on the GPU: the same kept count and, up to float ties at the
    threshold, the same masks as ``--device cpu``."""
    stores = {}
    for device in ("cpu", "cuda"):
        stores[device] = tmp_path / f"{device}.zarr"
        assert main(_args(data_root, stores[device], "--device", device, method=method,
                          sparsity="0.9")) == 0
    (mc, ac), (mg, ag) = read_mask_store(stores["cpu"]), read_mask_store(stores["cuda"])
    assert ac["kept"] == ag["kept"]
    agree = sum(int((mc[k] == mg[k]).sum()) for k in mc) / ac["total"]
    assert agree > 0.99, agree
