"""autosparse.params: CLI flags generated from a stage dataclass, and its schema check."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pytest

from autosparse.params import add_arguments, from_args, param, schema_disagreements


@dataclass(frozen=True)
class Stage:
    model: str = param(help="network")
    iterations: int = param(20, "N")
    final_density: float = param(0.01, "kept share")
    scope: str = param("global", "top-k scope", choices=("global", "local"))
    grad_batches: int | None = param(None, "g_0 batches")
    save_trained: bool = param(False, "keep trained weights")
    hidden: tuple[int, ...] = param((64, 64), "mlp widths")
    overrides: dict = param(help="preset overrides", cli=False, factory=dict)
    internal: int = param(3, "not in the config", config="")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(p, Stage)
    return p


def test_flags_defaults_and_types():
    a = parser().parse_args(["--model", "lenet", "--grad-batches", "2", "--save-trained",
                             "false", "--hidden", "8", "4", "--final-density", "0.5"])
    s = from_args(Stage, a, overrides={"lr": 0.1})
    assert s == Stage(model="lenet", final_density=0.5, grad_batches=2, hidden=(8, 4),
                      overrides={"lr": 0.1})
    assert from_args(Stage, parser().parse_args(["--model", "m"])) == Stage(model="m")


def test_required_choices_and_bool_are_checked():
    with pytest.raises(SystemExit):  # --model has no default: required
        parser().parse_args([])
    with pytest.raises(argparse.ArgumentError, match="invalid choice"):
        parser().parse_args(["--model", "m", "--scope", "layer"])
    with pytest.raises(argparse.ArgumentError, match="expected a boolean"):
        parser().parse_args(["--model", "m", "--save-trained", "maybe"])
    assert "--overrides" not in parser().format_help()  # cli=False
    assert "(default: 20)" in parser().format_help()


SCHEMA = {"properties": {
    "model": {"type": "string"}, "iterations": {"type": "integer", "default": 20},
    "final_density": {"type": "number", "default": 0.01},
    "scope": {"type": "string", "enum": ["local", "global"], "default": "global"},
    "grad_batches": {"type": ["integer", "null"], "default": None},
    "save_trained": {"type": "boolean", "default": False},
    "hidden": {"type": "array", "default": [64, 64]}, "overrides": {"type": "object"},
    "mem_mb": {"type": "integer"}}}


def test_schema_agreement_and_each_kind_of_disagreement():
    assert schema_disagreements(Stage, SCHEMA, dag_only=["mem_mb"]) == []
    assert schema_disagreements(Stage, SCHEMA) == [
        "mem_mb: in the schema, not a field of Stage (nor DAG-only)"]
    props = SCHEMA["properties"]
    cases = {
        "grad_batches": ({**props["grad_batches"], "default": 1},
                         "grad_batches: default 1 in the schema, None in Stage"),
        "scope": ({**props["scope"], "enum": ["global"]},
                  "scope: choices ['global'] in the schema, ('global', 'local') in Stage"),
        "iterations": ({"type": "number", "default": 20},
                       "iterations: type ['number'] in the schema, <class 'int'> in Stage"),
    }
    for key, (prop, message) in cases.items():
        bad = {"properties": {**props, key: prop}}
        assert schema_disagreements(Stage, bad, dag_only=["mem_mb"]) == [message]
    missing = {"properties": {k: v for k, v in props.items() if k != "hidden"}}
    assert schema_disagreements(Stage, missing, dag_only=["mem_mb"]) == [
        "hidden: a field of Stage, not in the schema"]
