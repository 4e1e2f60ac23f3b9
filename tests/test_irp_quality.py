"""IRP learning check: every store records its dense accuracy, test-set size and chance level,
``learning_check`` says whether the network learned, ``inspect`` flags one that did not."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import zarr

from autosparse import irp


def learns(**kw) -> irp.IRPConfig:
    """A tiny run whose dense LeNet-300-100 learns in one epoch (~70 % on 100 test images)."""
    base = dict(model="lenet_300_100", dataset="mnist", criterion="magnitude", iterations=2,
                width=1.0, train_overrides={"epochs": 1, "batch_size": 32},
                train_per_class=30, test_per_class=10)
    return irp.IRPConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_root) -> Path:
    out = tmp_path_factory.mktemp("irpq") / "run.zarr"
    irp.run_irp(learns(), out, data_root, log=lambda m: None)
    return out


def copy_with(src: Path, dst: Path, drop: tuple[str, ...] = (), **attrs) -> Path:
    """A copy of the store ``src`` with some attrs dropped or set by hand."""
    shutil.copytree(src, dst)
    root = zarr.open_group(str(dst), mode="r+")
    new = {k: v for k, v in dict(root.attrs).items() if k not in drop}
    root.attrs.put({**new, **attrs})
    return dst


def test_store_records_dense_accuracy_test_size_and_chance(run, data_root):
    a = irp.open_store(run).attrs
    _, test = irp.load_data(learns(), data_root)
    assert a["n_test"] == len(test) == 100 == a["test_size"]
    assert a["num_classes"] == 10 and a["chance"] == pytest.approx(0.1)
    assert a["train_density"][0] == 1.0  # iteration 1 trained the dense network
    assert a["dense_test_accuracy"] == a["test_accuracy"][0]
    assert a["learned"] is True
    assert len(a["test_accuracy"]) == 2 and a["completed_iterations"] == 2  # old attrs intact
    check = irp.learning_check(run)
    assert check["learned"] and check["n_test"] == 100 and check["chance"] == pytest.approx(0.1)
    assert check["dense_accuracy"] == pytest.approx(a["test_accuracy"][0] / 100)
    assert check["z"] > 3 and "clearly above chance" in check["message"]
    assert "predates" not in check["message"]


def test_config_hash_unchanged_by_learning_attrs(run):
    """The new attrs are outside the run identity: the hash is that of the config alone."""
    a = irp.open_store(run).attrs
    assert a["config_hash"] == irp.config_hash(learns().identity())
    assert not {"n_test", "num_classes", "chance", "dense_test_accuracy"} & set(a["config"])


def test_above_chance_decision_rule():
    assert irp.above_chance(0.10, 100, 0.1) == (False, 0.0)  # at chance
    learned, z = irp.above_chance(0.12, 100, 0.1)
    assert not learned and z == pytest.approx(0.02 / 0.03)
    assert irp.above_chance(0.18, 100, 0.1)[0] is False  # z = 2.67 < 3
    assert irp.above_chance(0.19, 100, 0.1)[0] is True  # z = 3.0, 1.9 x chance
    assert irp.above_chance(0.14, 100_000, 0.1)[0] is False  # z ~ 42 but < 1.5 x chance
    assert irp.above_chance(0.15, 100_000, 0.1)[0] is True  # exactly 1.5 x chance
    assert irp.above_chance(0.90, 100, 0.1)[0] is True
    assert irp.above_chance(float("nan"), 100, 0.1)[0] is False
    learned, z = irp.above_chance(0.5, None, 0.1)  # size unknown: 1.5 x rule alone
    assert learned and math.isnan(z)


@pytest.mark.parametrize("acc, learned", [(10.0, False), (12.0, False), (90.0, True)])
def test_learning_check_hand_made(run, tmp_path, acc, learned):
    store = copy_with(run, tmp_path / "s.zarr", dense_test_accuracy=acc,
                      test_accuracy=[acc, 50.0])
    check = irp.learning_check(store)
    assert check["learned"] is learned
    assert check["dense_accuracy"] == pytest.approx(acc / 100)
    assert check["z"] == pytest.approx((acc / 100 - 0.1) / math.sqrt(0.09 / 100))
    assert f"dense accuracy {acc:.1f} % on 100 test images, chance 10 %" in check["message"]
    assert ("NOT clearly" in check["message"]) is not learned
    assert irp.learning_check(zarr.open_group(str(store), mode="r")) == check  # opened group


def test_learning_check_old_store_infers_and_says_so(run, tmp_path):
    new = ("n_test", "num_classes", "chance", "dense_test_accuracy", "learned")
    old = copy_with(run, tmp_path / "old.zarr", drop=new, test_accuracy=[11.0, 11.0])
    check = irp.learning_check(old)
    assert check["n_test"] == 100 and check["chance"] == pytest.approx(0.1)
    assert check["dense_accuracy"] == pytest.approx(0.11) and not check["learned"]
    assert "predates" in check["message"] and "test_size" in check["message"]
    older = copy_with(old, tmp_path / "older.zarr", drop=("test_size",))
    check = irp.learning_check(older)
    assert check["n_test"] == 100 and "test_per_class x num_classes = 10 x 10" in check["message"]
    root = zarr.open_group(str(older), mode="r")
    cfg = {**root.attrs["config"], "test_per_class": None}
    bare = copy_with(older, tmp_path / "bare.zarr", config=cfg, dataset="nope",
                     test_accuracy=[])
    check = irp.learning_check(bare)  # nothing to go on: no crash, not learned
    assert check["n_test"] == 0 and not check["learned"] and math.isnan(check["dense_accuracy"])
    assert "unknown" in check["message"]


def test_resume_backfills_old_store(run, tmp_path, data_root):
    """A store written before the learning attrs gets them when a rerun continues it."""
    part = tmp_path / "p.zarr"
    irp.run_irp(learns(), part, data_root, log=lambda m: None, stop_after=1)
    root = irp.open_store(part, "r+")
    root.attrs.put({k: v for k, v in dict(root.attrs).items()
                    if k not in ("n_test", "num_classes", "chance", "dense_test_accuracy",
                                 "learned")})
    irp.run_irp(learns(), part, data_root, log=lambda m: None)
    a, ref = irp.open_store(part).attrs, irp.open_store(run).attrs
    for k in ("n_test", "num_classes", "chance", "dense_test_accuracy", "learned", "config_hash"):
        assert a[k] == ref[k], k


def test_inspect_prints_accuracy_and_flags_unlearned(run, tmp_path, capsys):
    from autosparse.cli import main

    assert main(["inspect", str(run)]) == 0
    out = capsys.readouterr().out
    assert "on 100 test images, chance 10 %: clearly above chance" in out
    assert "WARNING" not in out
    chance = copy_with(run, tmp_path / "c.zarr", dense_test_accuracy=11.0,
                       test_accuracy=[11.0, 11.0])
    assert main(["inspect", str(chance)]) == 0
    out = capsys.readouterr().out
    assert "dense accuracy 11.0 % on 100 test images, chance 10 %: NOT clearly above chance" in out
    assert "WARNING: this IRP network did not learn" in out
