"""Command-line arguments of each stage job (the rules' ``params.args``), from the profile and
the job's wildcards: ``autosparse irp``, ``scorer-train``, ``score``, ``prune`` and ``train``."""

from __future__ import annotations

from collections.abc import Mapping

from ..irp_config import IRPConfig
from ..params import config_keys, flag_name, to_argv
from ..prune_config import PruneConfig, ScoreConfig
from ..retrain_config import RetrainConfig
from ..scorer.config import PER_ARCH, TrainScorerConfig
from . import paths as wp
from .stages import own_inputs, scored_variant


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
    """Every :class:`TrainScorerConfig` key of the ``scorer`` block (``PER_ARCH`` ones resolved
    for the scorer's arch), the scorer path's arch, inputs, batch_size, lr, loss and context
    (the last two only where the name sets them), and the training threads."""
    s, c = wp.parse_scorer(scorer), config["scorer"]
    keys = config_keys(TrainScorerConfig)
    values = {flag_name(keys[k]): per_arch(c[k], s["arch"], keys[k].default) if k in PER_ARCH
              else c[k] for k in keys if k in c}
    values.update(arch=s["arch"], inputs=s["inputs"], batch_size=s["batch_size"], lr=s["lr"])
    if s["loss"] != "mse":
        values["loss"] = s["loss"]
    if s["context"]:
        values["context"] = True
    threads = config["train"].get("threads")  # a flag of the command, not of the stage
    return to_argv(values, TrainScorerConfig) + (f" --threads {int(threads)}"
                                                 if threads is not None else "")


def score_args(config: Mapping, target: str, variant: str, seed: str) -> str:
    """Flags shared by ``autosparse score`` and ``autosparse prune``."""
    t, v, c = wp.parse_target(target), wp.Variant.parse(variant), config["prune"]
    own = [f"{k}={p}" for k, p in own_inputs(config, target, variant, seed).items()]
    return to_argv(dict(model=t["model"], dataset=t["dataset"], width=wp.fmt_num(t["width"]),
                        seed=seed, method=v.method, n_per_class=c["n_per_class"],
                        set=[*c.get("set", []),
                             *([f"scorer={wp.scorer_path(v.scorer)}"] if v.scorer else []),
                             *([f"store={wp.irp_path(v.irp)}"] if v.irp else []), *own]),
                   ScoreConfig)


def prune_args(config: Mapping, target: str, variant: str, sparsity: str, seed: str) -> str:
    v, scored = wp.Variant.parse(variant), scored_variant(config, variant)
    return score_args(config, target, variant, seed) + " " + to_argv(dict(
        sparsity=sparsity, scope=config["prune"]["scope"], rounds=v.rounds,
        ablation=v.ablation, scores=wp.scores_path(target, scored, seed) if scored else None),
        PruneConfig)


def train_args(config: Mapping, target: str, seed: str) -> str:
    """Retraining flags; ``train_per_class`` and ``test_per_class`` at most
    ``train.per_class_cap[<dataset>]`` (a data copy with fewer examples per class, or a costly
    dataset: quick TinyImageNet); ``train.set`` then ``train.set_per_model[<model>]``."""
    t, c = wp.parse_target(target), config["train"]
    train, test = capped(c, t["dataset"])
    return to_argv(dict(model=t["model"], dataset=t["dataset"], width=wp.fmt_num(t["width"]),
                        seed=seed, epochs=c.get("epochs"), train_per_class=train,
                        test_per_class=test, set=overrides(c, t["model"])), RetrainConfig)
