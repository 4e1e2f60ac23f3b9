"""Each stage's frozen dataclass against its config block in config/schema.yaml (issue 14: "a test
fails when any stage's schema and dataclass disagree"), and the IRP and survival declarations:
flags generated from them, the DAG's job arguments, the run identity, validation."""

from __future__ import annotations

import copy
import dataclasses
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autosparse.irp_config import IRP_DAG_KEYS, STORED_ORDER, IRPConfig
from autosparse.params import config_keys, schema_disagreements, to_argv
from autosparse.survival_config import SurvivalConfig, SurvivalMergeConfig

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "config/schema.yaml").read_text())["properties"]

# stage -> (its dataclass, its block in config/schema.yaml or None, the block's DAG-only keys)
STAGES = {
    "irp": (IRPConfig, "irp", IRP_DAG_KEYS),
    "survival": (SurvivalConfig, None, ()),  # no config block: the rule passes only paths
    "survival-merge": (SurvivalMergeConfig, None, ()),  # not a DAG stage
}


@pytest.mark.parametrize("stage", [s for s, (_, block, _) in STAGES.items() if block])
def test_schema_block_agrees_with_the_dataclass(stage):
    cls, block, dag_only = STAGES[stage]
    assert schema_disagreements(cls, SCHEMA[block], dag_only) == []


def test_stages_without_a_block_have_none():
    for cls, block, _ in STAGES.values():
        if block is None:
            assert not config_keys(cls).keys() & {"mem_mb", "runtime"}
            assert cls.__name__ not in yaml.safe_dump(SCHEMA)
    assert "survival" not in SCHEMA


def test_the_check_fails_on_each_kind_of_disagreement():
    good = SCHEMA["irp"]
    cases = {  # mutation of the irp block -> what the check must report
        "default": (("iterations", "default", 3),
                    "iterations: default 3 in the schema, 20 in IRPConfig"),
        "grad_batches": (("grad_batches", "default", None),
                         "grad_batches: default None in the schema, 1 in IRPConfig"),
        "choices": (("final_density", "enum", [0.01, 0.05]),
                    "final_density: choices [0.01, 0.05] in the schema, None in IRPConfig"),
        "type": (("score_per_class", "type", "string"),
                 "score_per_class: type ['string'] in the schema, <class 'int'> in IRPConfig"),
    }
    for (key, attr, value), message in cases.values():
        bad = copy.deepcopy(good)
        bad["properties"][key][attr] = value
        assert schema_disagreements(IRPConfig, bad, IRP_DAG_KEYS) == [message]
    bad = copy.deepcopy(good)
    del bad["properties"]["final_density"]
    assert schema_disagreements(IRPConfig, bad, IRP_DAG_KEYS) == [
        "final_density: a field of IRPConfig, not in the schema"]
    bad["properties"] = {**good["properties"], "warmup": {"type": "integer"}}
    assert schema_disagreements(IRPConfig, bad, IRP_DAG_KEYS) == [
        "warmup: in the schema, not a field of IRPConfig (nor DAG-only)"]
    # the DAG-only keys are declared beside the dataclass, not here
    assert schema_disagreements(IRPConfig, good) == [
        f"{k}: in the schema, not a field of IRPConfig (nor DAG-only)" for k in sorted(IRP_DAG_KEYS)]


def test_set_is_train_overrides_and_its_default_is_compared_parsed():
    bad = copy.deepcopy(SCHEMA["irp"])
    bad["properties"]["set"] = {"type": "array", "default": ["lr=0.1"]}
    assert schema_disagreements(IRPConfig, bad, IRP_DAG_KEYS) == [
        "set: default ['lr=0.1'] in the schema, {} in IRPConfig"]


def test_choices_are_the_torch_side_s():
    from autosparse import features, irp_config, masks
    from autosparse.methods import base

    assert irp_config.SCHEDULES == tuple(masks.SCHEDULES)
    assert irp_config.GRAD_REDUCTIONS == features.GRAD_REDUCTIONS
    assert irp_config.BN_MODES == base.BN_MODES


def test_config_modules_are_torch_free():
    code = ("import sys, autosparse.irp_config, autosparse.survival_config, "
            "autosparse.workflow.args, autosparse.params; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def cfg(**kw) -> IRPConfig:
    return IRPConfig(**{"model": "lenet_300_100", "dataset": "mnist", "criterion": "snip", **kw})


def test_grad_batches_defaults_to_the_dag_s_and_none_is_the_whole_set():
    assert cfg().grad_batches == 1
    assert cfg(grad_batches=None).grad_batches is None  # stores made before keep loading


@pytest.mark.parametrize("bad", [
    {"scope": "layer"}, {"schedule": "cosine"}, {"grad_reduction": "max"},
    {"grad_bn_mode": "test"}, {"iterations": 0}, {"final_density": 1.0}, {"width": 0.0},
    {"grad_batches": 0}, {"score_per_class": 0}, {"train_per_class": 0}, {"epochs": 0}])
def test_validation_names_the_field_and_value(bad):
    ((key, value),) = bad.items()
    with pytest.raises(ValueError, match=key) as e:
        cfg(**bad)
    assert repr(value) in str(e.value)


def test_unknown_criterion_lists_the_methods():
    with pytest.raises(KeyError, match="magnitude"):
        cfg(criterion="nope")


def test_epochs_is_one_preset_override():
    a, b = cfg(epochs=2), cfg(train_overrides={"epochs": 2})
    assert a == b and a.train_overrides == {"epochs": 2}
    assert cfg(epochs=3, train_overrides={"lr": 0.1, "epochs": 2}).train_overrides == {
        "lr": 0.1, "epochs": 3}  # --epochs wins over --set epochs=
    ident = a.identity()
    assert "epochs" not in ident and ident["train_overrides"] == {"epochs": 2}


def test_identity_keeps_the_stores_layout():
    ident = cfg(train_seed=4).identity()
    assert list(ident) == list(STORED_ORDER)
    assert set(STORED_ORDER) == {f.name for f in dataclasses.fields(IRPConfig)} - {"epochs"}
    assert IRPConfig(**ident) == cfg(train_seed=4)  # a store's config rebuilds its run


def test_cli_flags_are_generated_with_today_s_names_and_defaults():
    from autosparse.cli import build_parser

    p = build_parser("irp")
    flags = {o for a in p._subparsers._group_actions[0].choices["irp"]._actions
             for o in a.option_strings}
    assert flags == {"-h", "--help", "--model", "--dataset", "--criterion", "--iterations",
                     "--seed", "--train-seed", "--width", "--final-density", "--epochs",
                     "--train-per-class", "--test-per-class", "--grad-batches",
                     "--score-per-class", "--set", "--schedule", "--scope", "--grad-reduction",
                     "--grad-bn-mode", "--save-trained", "--data-root", "--max-runtime", "--out",
                     "--work"}
    from autosparse.irp import config_from_args

    a = p.parse_args(["irp", "--model", "lenet_300_100", "--dataset", "mnist", "--criterion",
                      "snip", "--out", "x.zarr"])
    assert config_from_args(a) == cfg()
    a = p.parse_args(["irp", "--model", "lenet_300_100", "--dataset", "mnist", "--criterion",
                      "snip", "--epochs", "2", "--set", "lr=0.1", "seed=9", "--save-trained",
                      "true", "--out", "x.zarr"])
    assert config_from_args(a) == cfg(epochs=2, train_overrides={"lr": 0.1}, save_trained=True)


# config_hash of DAG-made stores (the irp job arguments of the quick and paper profiles, parsed by
# the CLI before issue 14's stage dataclasses): the identity may not change
PINNED = {
    "--model lenet_300_100 --dataset mnist --criterion grasp --iterations 3 --seed 0 --width 1.0 "
    "--final-density 0.01 --epochs 3 --train-per-class 200 --test-per-class 20 --grad-batches 1 "
    "--score-per-class 10": "9b05e957059b",
    "--model lenet_300_100 --dataset mnist --criterion grasp --iterations 20 --seed 0 "
    "--train-seed 1 --width 1.0 --final-density 0.01 --grad-batches 1 --score-per-class 10":
        "7ead344b4b84",
    "--model resnet18 --dataset tinyimagenet10 --criterion snip --iterations 20 --seed 0 "
    "--width 0.125 --final-density 0.005 --epochs 2 --train-per-class 100 --test-per-class 50 "
    "--grad-batches 1 --score-per-class 10 --set optimizer=adam lr=0.001 batch_size=32":
        "9a41d7a820bf",
}


def test_dag_job_arguments_keep_their_identity():
    from autosparse.artifacts.identity import config_hash
    from autosparse.cli import build_parser
    from autosparse.irp import config_from_args

    p = build_parser("irp")
    for argv, digest in PINNED.items():
        a = p.parse_args(["irp", *shlex.split(argv), "--out", "x.zarr"])
        assert config_hash(config_from_args(a).identity()) == digest, argv


def test_irp_args_are_to_argv_of_the_dataclass():
    from autosparse.workflow import args as wa
    from autosparse.workflow.config import load_config

    config = load_config()
    run = "lenet_300_100-mnist-grasp-n3-s0"
    assert wa.irp_args(config, run) == next(iter(PINNED))
    with pytest.raises(ValueError, match="no command-line field 'lr'"):
        to_argv({"lr": 0.1}, IRPConfig)
    assert to_argv({"save_trained": True, "set": ["a=1", "b=[2, 3]"], "model": "m"},
                   IRPConfig) == "--model m --set a=1 'b=[2, 3]' --save-trained true"


def test_survival_flags_are_generated():
    from autosparse.cli import build_parser
    from autosparse.params import from_args

    p = build_parser("survival")
    a = p.parse_args(["survival", "--irp", "a.zarr", "b.zarr", "--out", "d"])
    assert from_args(SurvivalConfig, a) == SurvivalConfig(irp=(Path("a.zarr"), Path("b.zarr")))
    m = p.parse_args(["survival-merge", "--inputs", "x", "--rule", "mean", "--out", "d"])
    assert from_args(SurvivalMergeConfig, m) == SurvivalMergeConfig((Path("x"),), "mean")
    with pytest.raises(SystemExit):
        p.parse_args(["survival", "--irp", "a.zarr", "--rule", "median", "--out", "d"])
    with pytest.raises(ValueError, match="rule .*'median'"):
        SurvivalConfig(irp=(Path("a.zarr"),), rule="median")
    with pytest.raises(ValueError, match="irp"):
        SurvivalConfig(irp=())
