"""AutoS scorer: networks (Table 7), FLOPs, streaming reader and split, normalisation shared by
training rows and targets, training (MSE / rank), determinism, checkpoints, CLI."""

from __future__ import annotations

import numpy as np
import pyarrow.dataset as pds
import pytest
import torch
from survival_data import survival_fixture

import autosparse
from autosparse import scorer as S

MASK64 = (1 << 64) - 1


@pytest.fixture(scope="module")
def surv(tmp_path_factory, mnist):
    return survival_fixture(tmp_path_factory, mnist, "surv0", seed=0)


@pytest.fixture(scope="module")
def surv1(tmp_path_factory, mnist):
    return survival_fixture(tmp_path_factory, mnist, "surv1", seed=1)


def _mlp(**kw) -> S.TrainScorerConfig:
    base = dict(arch="mlp", normalize="layer_standardize", epochs=2, batch_size=1024,
                val_percent=40, shuffle_buffer=16384, read_batch=8192)
    return S.TrainScorerConfig(**{**base, **kw})


def _nparams(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_full_resnet18_scorer_parameter_count():
    """Table 7: encoder Linear(2,64)+BN, Linear(64,3072)+BN, CIFAR ResNet-18 with 1 output."""
    m = S.build_scorer(S.TrainScorerConfig(arch="resnet18"))
    backbone_10cls = 11_173_962  # METHODS.md table
    backbone = backbone_10cls - 9 * (512 + 1)  # 1 output instead of 10
    encoder = (2 * 64 + 64) + 2 * 64 + (64 * 3072 + 3072) + 2 * 3072
    assert _nparams(m) == backbone + encoder == 11_375_489
    # App. D.1 single-input variant: 64 fewer weights
    one = S.build_scorer(S.TrainScorerConfig(arch="resnet18", inputs="param"))
    assert _nparams(one) == 11_375_489 - 64


def test_cheap_scorer_flop_ratio():
    paper = S.flops_per_weight(S.build_scorer(S.TrainScorerConfig(arch="resnet18")), 2)
    assert 1.0e9 < paper < 1.2e9  # ~0.56 GMAC per weight (METHODS.md)
    cheap = S.flops_per_weight(S.build_scorer(S.TrainScorerConfig(arch="mlp")), 2)
    assert cheap == 2 * (2 * 64 + 64 * 64 + 64 * 1)  # matmul MACs x 2, hand count
    assert paper / cheap >= 1000


def _py_splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def test_row_hash_matches_independent_computation():
    import hashlib

    def h(s):
        return int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")

    got = S.row_hash(["r", "r"], ["fc1.weight", "fc2.weight"], [0, 12345])
    for k, (lay, i) in enumerate([("fc1.weight", 0), ("fc2.weight", 12345)]):
        want = _py_splitmix(h("r") ^ _py_splitmix(h(lay) ^ _py_splitmix(i)))
        assert int(got[k]) == want


def _keys(batches) -> list[tuple]:
    out = []
    for b in batches:
        out += list(zip(b["gid"].tolist(), b["flat_index"].tolist()))
    return out


def test_stream_yields_every_row_once_and_split_is_disjoint_and_stable(surv, surv1):
    ds = S.open_survival([surv, surv1])
    table = pds.dataset([pds.dataset(str(surv)), pds.dataset(str(surv1))]).to_table(
        columns=["run", "layer", "flat_index"])
    assert table.num_rows == 2 * 60925
    groups: dict = {}
    tr = list(S.stream_split(ds, "train", 10, 1000, shuffle_buffer=20000, seed=3, read_batch=7000,
                             groups=groups, grow=True))
    va = list(S.stream_split(ds, "val", 10, 1000, groups=groups))
    ktr, kva = _keys(tr), _keys(va)
    assert len(set(ktr)) == len(ktr) and len(set(kva)) == len(kva)  # each row once
    assert not set(ktr) & set(kva)  # disjoint
    assert len(ktr) + len(kva) == table.num_rows  # all rows
    assert 0.08 < len(kva) / table.num_rows < 0.12
    assert all(len(b["score"]) == 1000 for b in tr[:-1])  # full batches, short last one
    # shuffled: a different seed gives a different order, the same rows
    tr2 = _keys(S.stream_split(ds, "train", 10, 1000, shuffle_buffer=20000, seed=4,
                               read_batch=7000, groups=groups))
    assert tr2 != ktr and sorted(tr2) == sorted(ktr)
    # stable: the split does not depend on batching, buffer, seed or which datasets are read
    va_alone = S.stream_split(S.open_survival(surv1), "val", 10, 333, shuffle_buffer=5000,
                              seed=9, read_batch=4096, groups=groups)
    run1 = groups[next(k for k in groups if k[0].endswith("seed1") and k[1] == "fc1.weight")]
    got = {k for k in _keys(va_alone) if k[0] == run1}
    assert got == {k for k in kva if k[0] == run1}


def test_train_percent_is_a_fixed_share_of_training_rows_only(surv):
    ds, g = S.open_survival(surv), {}
    full = set(_keys(S.stream_split(ds, "train", 10, 1000, groups=g, grow=True)))
    val = set(_keys(S.stream_split(ds, "val", 10, 1000, groups=g)))
    part = _keys(S.stream_split(ds, "train", 10, 1000, shuffle_buffer=5000, seed=1, groups=g,
                                train_percent=20))
    again = _keys(S.stream_split(ds, "train", 10, 777, seed=2, groups=g, train_percent=20))
    assert set(part) <= full and not set(part) & val  # never a validation row
    assert 0.17 < len(part) / len(full) < 0.23
    assert set(again) == set(part)  # fixed by the row hash, not by seed or batching
    smaller = set(_keys(S.stream_split(ds, "train", 10, 1000, groups=g, train_percent=5)))
    assert smaller < set(part)  # nested shares
    with pytest.raises(ValueError, match="train_percent"):
        S.TrainScorerConfig(train_percent=0).validate()


def test_initial_features_g0_is_sum_of_batch_mean_gradients(mnist):
    model = autosparse.build_model("lenet_300_100", 10, width=0.25, seed=0)
    sub = autosparse.class_balanced_subset(mnist[0], 5, seed=0)
    batches = list(sub.batches(25))
    feats = S.initial_features(model, batches)
    ref = torch.zeros_like(model.fc2.weight)
    for x, y in batches:
        model.zero_grad()
        torch.nn.functional.cross_entropy(model.eval()(x), y).backward()
        ref += model.fc2.weight.grad
    assert torch.allclose(feats["fc2.weight"]["grad0"], ref, atol=1e-6)
    mean = S.initial_features(model, batches, grad_mode="mean")
    assert torch.allclose(mean["fc2.weight"]["grad0"], ref / len(batches), atol=1e-6)
    assert torch.equal(feats["fc1.weight"]["theta0"], model.fc1.weight.detach())
    assert feats["fc1.weight"]["fan_in"] == 784 and feats["fc3.weight"]["depth"] == 1.0


def test_g0_and_layer_context_have_one_definition(mnist):
    """IRP's g_0 (streamed from a dataset) and the scorer's (given batches) are the same
    function: bitwise equal on the same batches; the layer context comes from shapes alone."""
    from autosparse import features, irp

    model = autosparse.build_model("lenet_300_100", 10, width=0.25, seed=0)
    sub = autosparse.class_balanced_subset(mnist[0], 5, seed=0)
    for reduction in features.GRAD_REDUCTIONS:
        g0 = irp.initial_gradient(model, sub, 16, None, reduction)
        feats = S.initial_features(model, list(sub.batches(16)), reduction)
        assert list(g0) == list(feats)
        assert all(torch.equal(g0[k], feats[k]["grad0"]) for k in g0)
    shapes = {n: tuple(p.shape) for n, p in autosparse.prunable_parameters(model).items()}
    assert S.layer_context(model) == features.shape_context(shapes)
    with pytest.raises(ValueError, match="reduction must be one of"):
        features.initial_gradient(model, sub.batches(16), "median")


@pytest.mark.parametrize("norm", sorted(S.NORMALIZATIONS))
def test_normalisation_identical_for_dataset_rows_and_target(surv, mnist, norm):
    """The same network's weights get the same inputs whether read from the survival dataset or
    computed as a target (same stats, same function)."""
    cfg = _mlp(normalize=norm, context=True)
    ds = S.open_survival(surv)
    stats = S.survival_stats(ds)
    rows = next(S.stream_split(ds, "val", 50, 10**6, groups=S.stats_groups(stats)))
    x_rows = S.batch_features(rows, stats, cfg)
    model = autosparse.build_model("lenet_300_100", 10, width=0.25, seed=0)
    sub = autosparse.class_balanced_subset(mnist[0], 40, seed=0)
    feats = S.initial_features(model, list(sub.batches(100)))
    scorer = S.Scorer(S.build_scorer(cfg), cfg)
    x_target = scorer.features(feats)
    names = list(feats)
    want = np.stack([x_target[names[g]][f] for g, f in
                     zip([names.index(la) for la in rows["layer"]], rows["flat_index"])])
    np.testing.assert_allclose(x_rows, want, rtol=1e-5, atol=1e-6)
    if norm == "layer_standardize":
        full = x_target["fc1.weight"]
        np.testing.assert_allclose(full[:, :2].mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(full[:, :2].std(0), 1, atol=1e-4)
    if norm == "layer_rank":
        full = x_target["fc1.weight"][:, :2]
        theta = feats["fc1.weight"]["theta0"].reshape(-1).numpy()
        assert np.abs(full).max() <= 1
        nz = full[:, 0] != 0  # below the sample's smallest |x| the rank is 0
        assert nz.mean() > 0.99 and np.all(np.sign(full[nz, 0]) == np.sign(theta[nz]))
        # monotone in |theta| within the layer
        order = np.argsort(np.abs(theta), kind="stable")
        assert np.all(np.diff(np.abs(full[order, 0])) >= 0)
        # |rank| is close to uniform on [0, 1] (quantiles from an 8192-row sample)
        assert abs(np.median(np.abs(full[:, 0])) - 0.5) < 0.03


def test_training_improves_validation_and_is_deterministic(surv, tmp_path):
    a = S.train_scorer(surv, _mlp(), out=tmp_path / "a.pt", log=None)
    h = a.history
    assert [r["epoch"] for r in h] == [0, 1, 2]
    assert h[-1]["val_mse"] < h[0]["val_mse"]
    assert h[-1]["val_spearman"] > 0.6 and h[-1]["val_spearman"] > h[0]["val_spearman"]
    b = S.train_scorer(surv, _mlp(), log=None)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    c = S.train_scorer(surv, _mlp(seed=1, epochs=1), log=None)
    assert not torch.equal(c.model.state_dict()["net.0.weight"], sa["net.0.weight"])
    # checkpoint: plain dict, loadable with weights_only=True, same predictions
    ck = torch.load(tmp_path / "a.pt", weights_only=True)
    assert ck["config"]["arch"] == "mlp" and ck["history"] == h
    assert {"mean", "std", "abs_quantiles", "layers"} <= set(ck["norm_stats"])
    loaded = S.Scorer.load(tmp_path / "a.pt")
    x = np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), a.predict(x))


def test_rank_loss_learns_the_order(surv):
    sc = S.train_scorer(surv, _mlp(loss="rank", epochs=1), log=None)
    assert sc.history[-1]["val_spearman"] > 0.6


def test_tiny_paper_scorer_forward_backward():
    """A narrow ResNet-18 scorer (Table 7 design): one value per weight, gradients reach the
    encoder; batch statistics make train-mode outputs depend on the batch, eval-mode not."""
    torch.manual_seed(0)
    m = S.build_scorer(S.TrainScorerConfig(arch="resnet18", width=1 / 16, image_size=8))
    x = torch.randn(16, 2)
    out = m(x)
    assert out.shape == (16,)
    out.sum().backward()
    assert m.encoder[0].weight.grad.abs().sum() > 0
    m.eval()
    with torch.no_grad():
        assert torch.allclose(m(x[:4]), m(x)[:4], atol=1e-5)


@pytest.mark.slow
def test_tiny_paper_scorer_trains(surv):
    """Two epochs of a narrow ResNet-18 scorer on the real fixture (minutes on a shared CPU)."""
    cfg = S.TrainScorerConfig(arch="resnet18", width=1 / 16, image_size=8, epochs=2,
                              batch_size=1024, lr=0.01, read_batch=8192,
                              normalize="layer_standardize", shuffle_buffer=65536)
    sc = S.train_scorer(surv, cfg, log=None)
    assert sc.history[-1]["val_mse"] < sc.history[0]["val_mse"]
    assert sc.history[-1]["val_spearman"] > 0.3


def test_bad_config_and_data_errors(tmp_path, surv):
    with pytest.raises(ValueError, match="arch"):
        S.TrainScorerConfig(arch="resnet50").validate()
    with pytest.raises(ValueError, match="normalize"):
        S.TrainScorerConfig(normalize="zscore").validate()
    with pytest.raises(ValueError, match="image_size"):
        S.TrainScorerConfig(arch="vgg19", image_size=16).validate()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        S.open_survival(tmp_path / "nowhere")
    import pyarrow.parquet as pq

    bad = tmp_path / "bad"
    bad.mkdir()
    t = pq.read_table(next(surv.glob("*.parquet"))).drop_columns(["grad0"])
    pq.write_table(t, bad / "x.parquet")
    with pytest.raises(ValueError, match="grad0"):
        S.open_survival(bad)


@pytest.mark.parametrize("column, kind", [("theta0", "nan"), ("grad0", "inf"), ("score", "nan"),
                                          ("theta0", "string")])
def test_survival_rows_that_are_not_finite_numbers_are_refused_before_training(
        tmp_path, surv, column, kind):
    """A NaN or string feature would train a NaN scorer and write it as if fine."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(surv.glob("*.parquet"))
    bad = tmp_path / "bad"
    bad.mkdir()
    for k, f in enumerate(files):
        t = pq.read_table(f)
        if k == len(files) - 1:
            v = t.column(column).to_numpy().copy()
            if kind == "string":
                col = pa.array(v.astype(str))
            else:
                v[len(v) // 2] = np.nan if kind == "nan" else np.inf
                col = pa.array(v)
            t = t.set_column(t.schema.get_field_index(column), column, col)
        pq.write_table(t, bad / f.name)
    cfg = S.TrainScorerConfig(arch="mlp", epochs=1, seed=0)
    match = "not a number" if kind == "string" else f"column {column!r} has non-finite"
    with pytest.raises(ValueError, match=match):
        S.train_scorer(bad, cfg, log=None)


def test_cli_scorer_train(surv, tmp_path, capsys):
    from autosparse.cli import main

    out = tmp_path / "s.pt"
    rc = main(["scorer-train", "--data", str(surv), "--arch", "mlp", "--inputs", "grad",
               "--normalize", "layer_rank", "--epochs", "1", "--batch-size", "512",
               "--shuffle-buffer", "8192", "--val-percent", "50", "--threads", "1",
               "--out", str(out)])
    assert rc == 0
    sc = S.Scorer.load(out)
    assert sc.config.inputs == "grad" and sc.config.normalize == "layer_rank"
    assert sc.config.n_features == 1 and len(sc.history) == 2
    assert main(["scorer-train", "--data", str(tmp_path / "missing"), "--arch", "mlp",
                 "--out", str(tmp_path / "x.pt")]) == 2
