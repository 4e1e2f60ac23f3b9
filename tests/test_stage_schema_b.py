"""Stage dataclasses of the scorer, score/prune and retrain jobs against their config blocks in
config/schema.yaml (issue 14: "a test fails when any stage's schema and dataclass disagree"), the
torch-free import of the dataclasses, the job arguments they name, and the scorer checkpoint's
config hash. (IRP and survival: tests/test_stage_schema.py.)"""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

from autosparse import prune_config, retrain_config
from autosparse.params import argv_items, json_types, one_value_block, schema_disagreements
from autosparse.prune_config import PruneConfig
from autosparse.retrain_config import RetrainConfig
from autosparse.scorer import TrainScorerConfig  # the old public path
from autosparse.scorer import config as scorer_config
from autosparse.train_config import TrainConfig

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "schema.yaml")
                        .read_text())["properties"]

# stage dataclass, its config block, the block's DAG-only keys, keys given once or per arch
STAGES_B = {
    "scorer": (TrainScorerConfig, scorer_config.DAG_ONLY, scorer_config.PER_ARCH),
    "prune": (PruneConfig, prune_config.DAG_ONLY, ()),
    "train": (RetrainConfig, retrain_config.DAG_ONLY, ()),
}


def disagreements(block_name: str, block: dict) -> list[str]:
    cls, dag_only, per_key = STAGES_B[block_name]
    return schema_disagreements(cls, one_value_block(block, per_key), dag_only=dag_only)


@pytest.mark.parametrize("block", sorted(STAGES_B))
def test_schema_block_and_stage_dataclass_agree(block):
    assert disagreements(block, SCHEMA[block]) == []


@pytest.mark.parametrize("block, key, change, message", [
    ("scorer", "epochs", {"default": 1}, "epochs: default 1 in the schema, 10 in"),
    ("scorer", "normalize", {"default": "global_standardize"}, "normalize: default"),
    ("scorer", "arch", {"enum": ["resnet18", "vgg19"]}, "arch: choices"),
    ("scorer", "width", {"default": {"resnet18": 0.0625}}, "width: default"),
    ("scorer", "lr", {"type": "string"}, "lr: type ['string']"),
    ("prune", "scope", {"enum": ["global", "layer"]}, "scope: choices"),
    ("prune", "n_per_class", {"default": 20}, "n_per_class: default 20"),
    ("train", "epochs", {"default": 2}, "epochs: default 2 in the schema, None in"),
    ("train", "train_per_class", {"type": ["number", "null"]}, "train_per_class: type"),
])
def test_a_changed_schema_entry_is_reported(block, key, change, message):
    bad = copy.deepcopy(SCHEMA[block])
    bad["properties"][key].update(change)
    found = disagreements(block, bad)
    assert len(found) == 1 and found[0].startswith(message), found


@pytest.mark.parametrize("block, key", [("scorer", "seed"), ("prune", "n_per_class"),
                                        ("train", "test_per_class")])
def test_a_removed_or_unknown_schema_key_is_reported(block, key):
    bad = copy.deepcopy(SCHEMA[block])
    del bad["properties"][key]
    assert disagreements(block, bad) == [
        f"{key}: a field of {STAGES_B[block][0].__name__}, not in the schema"]
    bad = copy.deepcopy(SCHEMA[block])
    bad["properties"]["grad_clip"] = {"type": "number"}
    assert disagreements(block, bad) == [
        f"grad_clip: in the schema, not a field of {STAGES_B[block][0].__name__} "
        "(nor DAG-only)"]


def test_train_block_epochs_is_the_training_presets_epochs():
    """``train.epochs`` overrides TrainConfig.epochs: the same type (or null = the preset's)."""
    schema_types = set(SCHEMA["train"]["properties"]["epochs"]["type"]) - {"null"}
    assert schema_types <= json_types(typing.get_type_hints(TrainConfig)["epochs"])
    assert "epochs" in {f.name for f in dataclasses.fields(TrainConfig)}


def test_the_ablation_kinds_are_the_ablations_module_s():
    from autosparse.ablations import ABLATIONS

    assert prune_config.ABLATION_KINDS == ABLATIONS


def test_stage_dataclasses_import_without_torch():
    code = ("import sys, autosparse.scorer.config, autosparse.prune_config, "
            "autosparse.retrain_config, autosparse.workflow.args; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_validation_names_the_field_and_value():
    with pytest.raises(ValueError, match="arch must be one of .* got 'resnet50'"):
        TrainScorerConfig(arch="resnet50")
    with pytest.raises(ValueError, match="scope must be one of .* got 'layer'"):
        PruneConfig(model="m", dataset="d", method="snip", sparsity=0.9, scope="layer")
    with pytest.raises(ValueError, match="rounds must be >= 1, got 0"):
        PruneConfig(model="m", dataset="d", method="snip", sparsity=0.9, rounds=0)
    with pytest.raises(ValueError, match="test_per_class must be >= 1"):
        RetrainConfig(model="m", dataset="d", test_per_class=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainScorerConfig().epochs = 3


def test_job_flags_are_named_by_the_dataclass():
    assert list(argv_items(RetrainConfig, {"set": ["a=1"], "model": "m", "epochs": None})) == [
        "model", "set"]
    with pytest.raises(ValueError, match="no command-line field 'epoch'"):
        argv_items(RetrainConfig, {"epoch": 2})


@pytest.mark.parametrize("context", [True, False])
def test_job_flags_parse_back_to_the_dataclass(context):
    """Every stage job's flags come from one renderer: what it writes, the command's parser
    reads back into the same dataclass, bools included (``--context true``, not a bare flag
    that str2bool would refuse)."""
    import shlex

    from autosparse.cli import build_parser
    from autosparse.params import from_args, to_argv

    want = TrainScorerConfig(arch="mlp", inputs="param", context=context, hidden=(8, 4),
                             epochs=2, lr=0.5)
    values = {f.name: getattr(want, f.name) for f in dataclasses.fields(want)
              if f.name in {"arch", "inputs", "context", "hidden", "epochs", "lr"}}
    argv = to_argv(values, TrainScorerConfig)
    assert f"--context {str(context).lower()}" in argv
    a = build_parser("scorer-train").parse_args(["scorer-train", *shlex.split(argv),
                                                 "--data", "d", "--out", "x.pt"])
    assert from_args(TrainScorerConfig, a) == want


def test_scorer_config_hash_is_pinned_and_covers_every_field():
    assert TrainScorerConfig().config_hash() == "a35118fbf668"
    assert TrainScorerConfig(arch="mlp", epochs=1).config_hash() == "ef65c52fe860"
    base = TrainScorerConfig()
    changed = {f.name: dataclasses.replace(base, **{f.name: v}).config_hash() for f, v in zip(
        dataclasses.fields(TrainScorerConfig),
        ["vgg19", "grad", "layer_rank", 50.0, 0.5, 64, 2, 64, 0.1, 1, "cuda", False, (8,),
         "rank", 4, 20.0, 1024, 512])}
    changed.pop("context")  # context=True needs arch="mlp": checked below
    assert base.config_hash() not in changed.values() and len(set(changed.values())) == 17
    mlp = TrainScorerConfig(arch="mlp")
    assert dataclasses.replace(mlp, context=True).config_hash() != mlp.config_hash()


def test_checkpoint_keeps_its_bytes_layout_and_its_config_gives_the_identity(tmp_path):
    """The checkpoint records the config with the keys in their old order (the same bytes as
    before issue 14) and no extra key; the identity is the recorded config's canonical hash."""
    import torch

    from autosparse.scorer import Scorer, init_scorer
    from autosparse.scorer.config import STORED_ORDER

    cfg = TrainScorerConfig(arch="mlp", epochs=1)
    path = tmp_path / "s.pt"
    Scorer(init_scorer(cfg).eval(), cfg).save(path)
    ck = torch.load(path, weights_only=True)
    assert list(ck) == ["format", "config", "state_dict", "history", "norm_stats", "data",
                        "provenance", "digests"]
    assert tuple(ck["config"]) == STORED_ORDER
    assert sorted(STORED_ORDER) == sorted(f.name for f in dataclasses.fields(TrainScorerConfig))
    assert TrainScorerConfig.from_dict(ck["config"]).config_hash() == "ef65c52fe860"
    assert Scorer.load(path, expect=cfg).config == cfg
    with pytest.raises(ValueError, match="expected"):
        Scorer.load(path, expect=dataclasses.replace(cfg, epochs=2))
