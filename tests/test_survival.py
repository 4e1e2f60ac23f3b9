"""Survival datasets (Eq. 4), merges and the concordance correlation coefficient (Eq. 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import autosparse
from autosparse import irp, survival


def tiny(criterion: str, seed: int = 0, train_seed: int | None = None) -> irp.IRPConfig:
    return irp.IRPConfig(model="lenet_300_100", dataset="mnist", criterion=criterion,
                         iterations=3, seed=seed, train_seed=train_seed, width=0.1,
                         train_overrides={"epochs": 1}, train_per_class=20, test_per_class=10)


@pytest.fixture(scope="module")
def stores(tmp_path_factory, data_root):
    d = tmp_path_factory.mktemp("surv")
    out = {}
    for name, cfg in {"snip": tiny("snip"), "snip_b": tiny("snip", train_seed=1),
                      "mag": tiny("magnitude"), "mag_s1": tiny("magnitude", seed=1)}.items():
        irp.run_irp(cfg, d / f"{name}.zarr", data_root, log=lambda m: None)
        out[name] = d / f"{name}.zarr"
    return out


def test_dataset_schema_rows_and_scores(stores, tmp_path):
    path = survival.build([stores["snip"]], tmp_path / "ds")
    df = pd.read_parquet(path)
    model = autosparse.build_model("lenet_300_100", 10, 0.1, (1, 28, 28), seed=0)
    params = autosparse.prunable_parameters(model)
    assert len(df) == sum(p.numel() for p in params.values())
    expect = {"layer_index": "int32", "flat_index": "int64", "theta0": "float32",
              "grad0": "float32", "survived": "int16", "score": "float32", "fan_in": "int32",
              "fan_out": "int32", "depth": "float32", "n_iterations": "int16"}
    assert {c: str(df[c].dtype) for c in expect} == expect
    schema = pq.read_schema(next(path.glob("*.parquet")))
    for col in ("layer", "kind", "run"):
        assert str(schema.field(col).type).startswith("dictionary")
    assert pq.ParquetFile(next(path.glob("*.parquet"))).metadata.row_group(0).column(0) \
        .compression == "ZSTD"
    root = irp.open_store(stores["snip"])
    for li, name in enumerate(root.attrs["layers"]):
        rows = df[df.layer == name].sort_values("flat_index")
        manual = sum(irp.read_masks(root, i)[name].int() for i in range(1, 4)).reshape(-1)
        assert np.array_equal(rows.survived.to_numpy(), manual.numpy())
        assert np.array_equal(rows.theta0.to_numpy(), params[name].detach().reshape(-1).numpy())
        out_f, in_f = params[name].shape
        assert (rows.fan_in == in_f).all() and (rows.fan_out == out_f).all()
        assert (rows.kind == "linear").all() and (rows.depth == li / 2).all()
    s = df.survived.to_numpy(float)
    np.testing.assert_allclose(df.score, (s - s.min()) / (s.max() - s.min()), rtol=1e-6)
    meta = survival.read_metadata(path)
    assert meta["sources"][0]["attrs"]["criterion"] == "snip"
    assert meta["sources"][0]["attrs"]["N"] == 3


def test_merge_concat_keeps_per_run_scores(stores, tmp_path):
    a = survival.build([stores["snip"]], tmp_path / "a")
    b = survival.build([stores["mag"]], tmp_path / "b")
    m = survival.merge([a, b], tmp_path / "m")
    da, db, dm = (pd.read_parquet(p) for p in (a, b, m))
    assert len(dm) == len(da) + len(db)
    for part, run in ((da, da.run.iloc[0]), (db, db.run.iloc[0])):
        rows = dm[dm.run == run]
        np.testing.assert_array_equal(rows.score.to_numpy(), part.score.to_numpy())
    assert survival.read_metadata(m)["rule"] == "concat"
    # the same via the store-level builder
    direct = pd.read_parquet(survival.build([stores["snip"], stores["mag"]], tmp_path / "d"))
    pd.testing.assert_frame_equal(direct, dm)


def test_merge_mean_same_init_only(stores, tmp_path):
    a, _ = survival.from_store(stores["snip"])
    b, _ = survival.from_store(stores["snip_b"])
    m = survival.merge_frames([a, b], "mean")
    assert len(m) == len(a)
    np.testing.assert_allclose(m.score, (a.score.astype(float) + b.score) / 2, rtol=1e-6)
    assert np.array_equal(m.survived, a.survived.astype(int) + b.survived)
    c, _ = survival.from_store(stores["mag_s1"])
    with pytest.raises(ValueError, match="same weights"):
        survival.merge_frames([a, c], "mean")
    with pytest.raises(ValueError, match="merge rule"):
        survival.merge_frames([a], "median")


def test_ccc_hand_computation():
    # means 2 and 8/3; cov 2/3; var 2/3 and 8/9; (mean diff)^2 4/9 -> (4/3) / 2 = 2/3
    assert survival.ccc([1, 2, 3], [2, 2, 4]) == pytest.approx(2 / 3)
    x = np.random.default_rng(0).normal(size=100)
    x -= x.mean()  # CCC(x, -x) = -1 needs mean zero (else the mean term enters)
    assert survival.ccc(x, x) == pytest.approx(1.0)
    assert survival.ccc(x, -x) == pytest.approx(-1.0)
    assert survival.ccc(x, x + 1) < 1.0  # Pearson would say 1
    with pytest.raises(ValueError, match="equal-length"):
        survival.ccc([1, 2], [1, 2, 3])


def test_table9_pairs(stores):
    t = survival.table9([stores[k] for k in ("snip", "snip_b", "mag", "mag_s1")])
    scores = {k: survival.from_store(stores[k])[0].score.to_numpy(float) for k in stores}
    row = t[(t.method_a == "snip") & (t.method_b == "snip") & (t.init == "same")].iloc[0]
    assert row.n_pairs == 1 and row.ccc == pytest.approx(survival.ccc(scores["snip"],
                                                                      scores["snip_b"]))
    assert row.paper == pytest.approx(0.23642)
    row = t[(t.method_a == "snip") & (t.method_b == "magnitude") & (t.init == "same")].iloc[0]
    assert row.n_pairs == 2 and row.ccc == pytest.approx(np.mean(
        [survival.ccc(scores["snip"], scores["mag"]), survival.ccc(scores["snip_b"],
                                                                   scores["mag"])]))
    row = t[(t.method_a == "magnitude") & (t.method_b == "magnitude")
            & (t.init == "different")].iloc[0]
    assert row.n_pairs == 1 and row.ccc == pytest.approx(survival.ccc(scores["mag"],
                                                                      scores["mag_s1"]))
    assert len(t) == 3 * 2  # (snip,snip), (snip,mag), (mag,mag) x same/different


def test_figure1_skips_missing_method(stores, tmp_path, data_root):
    from autosparse.figures.survival import figure1, init_scores

    notes = figure1(stores["snip"], tmp_path / "f.png", ("snip", "no_such_method"), data_root,
                    max_points=2000)
    assert notes == ["no_such_method: not registered in this build, panel skipped"]
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # panel (b) uses the registry's SNIP scores on theta_0 (flattened in layer order)
    s, _ = init_scores(stores["snip"], ["snip"], data_root)
    n = sum(p.numel() for p in autosparse.prunable_parameters(
        autosparse.build_model("lenet_300_100", 10, 0.1, (1, 28, 28))).values())
    assert s["snip"].shape == (n,) and (s["snip"] >= 0).all()
