"""Command-line arguments of each stage job (the rules' ``params.args``), from the profile and
the job's wildcards: ``autosparse irp``, ``scorer-train``, ``score``, ``prune`` and ``train``."""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from ..irp_config import IRPConfig
from ..params import config_keys, flag_name, to_argv
from . import paths as wp
from .stages import own_inputs, scored_variant


def flags(**kw) -> str:
    """``flags(epochs=1, train_per_class=None, set=["a=1"])`` -> ``"--epochs 1 --set a=1"``:
    underscores become dashes, None and empty lists are left out, values are shell-quoted."""
    out = []
    for k, v in kw.items():
        if v is None or v == [] or v is False:
            continue
        flag = "--" + k.rstrip("_").replace("_", "-")
        if v is True:
            out.append(flag)
        elif isinstance(v, (list, tuple)):
            out.append(flag + " " + " ".join(shlex.quote(str(x)) for x in v))
        else:
            out.append(f"{flag} {shlex.quote(str(v))}")
    return " ".join(out)


def overrides(c: Mapping, model: str) -> list[str]:
    """A stage's ``set`` then its ``set_per_model[<model>]`` (later ones win)."""
    return [*c.get("set", []), *(c.get("set_per_model") or {}).get(model, [])]


def capped(c: Mapping, dataset: str) -> tuple[int | None, int | None]:
    """``train_per_class`` and ``test_per_class`` of a stage's config block, at most its
    ``per_class_cap[<dataset>]`` (a data copy with fewer examples per class, or a costly
    dataset); null ones (the full split) are not capped."""
    cap = (c.get("per_class_cap") or {}).get(dataset)
    return tuple(c.get(k) if cap is None or c.get(k) is None else min(c[k], cap)
                 for k in ("train_per_class", "test_per_class"))


def per_arch(value, arch: str, default=None):
    """A scorer setting given once or per arch (``{resnet18: ..., vgg19: ...}``)."""
    return value.get(arch, default) if isinstance(value, Mapping) else value


def irp_args(config: Mapping, irp: str) -> str:
    """The :class:`~autosparse.irp_config.IRPConfig` flags of the run ``irp``: its name gives
    model, dataset, criterion, iterations and seeds, ``widths`` its width, the ``irp`` block the
    rest (``train_per_class``/``test_per_class`` capped, ``set`` then ``set_per_model``)."""
    run, c = wp.parse_irp(irp), config["irp"]
    train, test = capped(c, run["dataset"])
    block = {flag_name(f): c.get(key) for key, f in config_keys(IRPConfig).items()}
    return to_argv({**block, **{k: run[k] for k in ("model", "dataset", "criterion",
                                                    "iterations", "seed", "train_seed")},
                    "width": config.get("widths", {}).get(run["model"], 1.0),
                    "train_per_class": train, "test_per_class": test,
                    "set": overrides(c, run["model"])}, IRPConfig)


def scorer_args(config: Mapping, scorer: str) -> str:
    s, c = wp.parse_scorer(scorer), config["scorer"]
    return flags(arch=s["arch"], inputs=s["inputs"], normalize=c.get("normalize"),
                 train_percent=c.get("train_percent"),
                 width=per_arch(c["width"], s["arch"], 1.0),
                 image_size=per_arch(c.get("image_size"), s["arch"]),
                 epochs=c["epochs"], batch_size=s["batch_size"], lr=s["lr"], seed=c["seed"],
                 device=c.get("device"), threads=config["train"].get("threads"))


def score_args(config: Mapping, target: str, variant: str, seed: str) -> str:
    """Flags shared by ``autosparse score`` and ``autosparse prune``."""
    t, v, c = wp.parse_target(target), wp.Variant.parse(variant), config["prune"]
    own = [f"{k}={p}" for k, p in own_inputs(config, target, variant, seed).items()]
    return flags(model=t["model"], dataset=t["dataset"], width=wp.fmt_num(t["width"]), seed=seed,
                 method=v.method, n_per_class=c["n_per_class"],
                 set_=[*c.get("set", []),
                       *([f"scorer={wp.scorer_path(v.scorer)}"] if v.scorer else []),
                       *([f"store={wp.irp_path(v.irp)}"] if v.irp else []), *own])


def prune_args(config: Mapping, target: str, variant: str, sparsity: str, seed: str) -> str:
    v, scored = wp.Variant.parse(variant), scored_variant(config, variant)
    return score_args(config, target, variant, seed) + " " + flags(
        sparsity=sparsity, scope=config["prune"]["scope"], rounds=v.rounds, ablation=v.ablation,
        scores=wp.scores_path(target, scored, seed) if scored else None)


def train_args(config: Mapping, target: str, seed: str) -> str:
    """Retraining flags; ``train_per_class`` and ``test_per_class`` at most
    ``train.per_class_cap[<dataset>]`` (a data copy with fewer examples per class, or a costly
    dataset: quick TinyImageNet); ``train.set`` then ``train.set_per_model[<model>]``."""
    t, c = wp.parse_target(target), config["train"]
    train, test = capped(c, t["dataset"])
    return flags(model=t["model"], dataset=t["dataset"], width=wp.fmt_num(t["width"]), seed=seed,
                 epochs=c.get("epochs"), train_per_class=train, test_per_class=test,
                 set_=overrides(c, t["model"]))
