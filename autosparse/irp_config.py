"""The parameters of one IRP run (AutoS seed Sec. 4.2, Alg. 2): :class:`IRPConfig`, the one place
their defaults, help texts and checks live. The ``autosparse irp`` flags are generated from it
(:func:`autosparse.params.add_arguments`), the DAG's job arguments too
(:func:`autosparse.workflow.args.irp_args`), the ``irp`` block of config/schema.yaml is checked
against it (tests/test_stage_schema.py), and its :meth:`~IRPConfig.identity` is the run's
identity (the store's ``config_hash``). Torch-free: the DAG planning imports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .params import check_choices, param
from .train_config import TrainConfig, parse_overrides, preset

SCHEDULES = ("exponential", "linear")  # the keys of autosparse.masks.SCHEDULES (tested)
SCOPES = ("global", "local")
GRAD_REDUCTIONS = ("sum", "mean")  # autosparse.features.GRAD_REDUCTIONS (tested)
BN_MODES = ("train", "eval")  # autosparse.methods.base.BN_MODES (tested)

# The key order of the ``config`` attribute of the IRP stores written so far (zarr keeps it):
STORED_ORDER = ("model", "dataset", "criterion", "iterations", "seed", "train_seed", "width",
                "final_density", "schedule", "scope", "train_overrides", "train_per_class",
                "test_per_class", "score_per_class", "grad_batches", "grad_batch_size",
                "grad_reduction", "grad_bn_mode", "save_trained")

# Keys of config/schema.yaml's ``irp`` block that are the DAG's alone, not parameters of a run:
# caps and per-model overrides the rule applies (workflow.args.irp_args), resources, retries.
IRP_DAG_KEYS = ("per_class_cap", "set_per_model", "mem_mb", "runtime", "max_runtime", "retries")


def _model_help() -> str:
    from .models import MODELS

    return f"network, a registered model: {', '.join(MODELS.names())}"


def _dataset_help() -> str:
    from .data import DATASETS

    return f"a registered dataset: {', '.join(DATASETS.names())}"


def _criterion_help() -> str:
    from .methods import METHODS

    return ("pruning criterion applied to the trained weights each iteration, a registered "
            f"method: {', '.join(METHODS.names())} (magnitude = LTH)")


def _preset_overrides(items: list[str] | None) -> dict:
    """``--set KEY=VALUE ...`` -> the preset overrides (the data-order seed is IRP's own)."""
    return {k: v for k, v in parse_overrides(items).items() if k != "seed"}


def _positive(name: str, value: Any, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int{' or None' if optional else ''}, "
                         f"got {value!r}")


@dataclass(frozen=True)
class IRPConfig:
    """Parameters of one IRP run; the order of the fields is that of the DAG's job arguments.

    ``epochs`` and ``train_overrides`` (``--set``) override the training preset
    (config/training.yaml); ``epochs`` is also ``train_overrides["epochs"]`` (it wins over a
    ``--set epochs=E``).
    g_0 (Alg. 2 line 7) is the **sum** (``grad_reduction``) of the batch-mean cross-entropy
    gradients of the first ``grad_batches`` in-order training batches of ``grad_batch_size``
    (None: every batch of the training set), BatchNorm in ``grad_bn_mode``.
    """

    model: str = param(help=_model_help, config="")  # the DAG: from the run's name
    dataset: str = param(help=_dataset_help, config="")
    criterion: str = param(help=_criterion_help, metavar="METHOD")
    iterations: int = param(20, "N, the number of train-prune-rewind iterations")
    seed: int = param(0, "run seed: theta_0, the class-balanced subsets and the data order")
    train_seed: int | None = param(
        None, "data-order seed of the training runs (and of random scores) (default: --seed)",
        flag_help_default=False, config="")
    width: float = param(1.0, "width multiplier of the layers (channels, hidden units), > 0",
                         config="")  # the DAG: config key widths.<model>
    final_density: float = param(
        0.01, "fraction of the weights kept after the last iteration, in (0, 1)")
    epochs: int | None = param(
        None, "override the preset's epochs (presets: config/training.yaml)",
        flag_help_default=False)
    train_per_class: int | None = param(
        None, "train on a class-balanced subset of N examples per class (default: the full "
              "train split)", metavar="N", flag_help_default=False)
    test_per_class: int | None = param(
        None, "test on a class-balanced subset of N examples per class (default: the full test "
              "split)", metavar="N", flag_help_default=False)
    grad_batches: int | None = param(
        1, "compute g_0 as the sum of the mean-loss gradients of the first N training batches "
           "of 128 (library: None = every batch)", metavar="N")
    score_per_class: int = param(
        10, "examples per class in the scoring batch of data-driven criteria")
    train_overrides: dict = param(
        help="override fields of the training preset, values parsed as YAML (e.g. lr=0.05 "
             "batch_size=64)", factory=dict, flag="set", config="set", nargs="*",
        metavar="KEY=VALUE", parse=_preset_overrides)
    schedule: str = param("exponential", "how the density falls from 1 to --final-density over "
                          "the iterations", choices=SCHEDULES, config="")
    scope: str = param("global", "top-k over all layers together (global) or within each layer "
                       "(local)", choices=SCOPES, config="")
    grad_batch_size: int = param(128, "batch size of g_0's batches", cli=False, config="")
    grad_reduction: str = param("sum", "combine the per-batch mean gradients of g_0 by their sum "
                                "or their mean", choices=GRAD_REDUCTIONS, config="")
    grad_bn_mode: str = param("eval", "BatchNorm mode while computing g_0", choices=BN_MODES,
                              config="")
    save_trained: bool = param(False, "also store each iteration's trained weights (true/false, "
                               "default: false)", flag_help_default=False, config="")

    def __post_init__(self) -> None:
        over = dict(self.train_overrides)  # epochs in both forms (as ``--epochs`` did: it wins)
        if self.epochs is not None:
            over["epochs"] = self.epochs
        object.__setattr__(self, "train_overrides", over)
        object.__setattr__(self, "epochs", over.get("epochs"))
        from .methods import get_method  # the method registry (torch): error lists valid ones

        get_method(self.criterion)
        check_choices(self)
        _positive("iterations", self.iterations)
        if not 0.0 < float(self.final_density) < 1.0:
            raise ValueError(f"final_density must lie in (0, 1), got {self.final_density!r}")
        if not float(self.width) > 0:
            raise ValueError(f"width must be > 0, got {self.width!r}")
        for name in ("score_per_class", "grad_batch_size"):
            _positive(name, getattr(self, name))
        for name in ("epochs", "train_per_class", "test_per_class", "grad_batches"):
            _positive(name, getattr(self, name), optional=True)

    @property
    def data_seed(self) -> int:
        return self.seed if self.train_seed is None else self.train_seed

    def densities(self) -> list[float]:
        """Mask densities for indices 0..N (index 0 = dense)."""
        from .masks import density_schedule

        return [1.0, *density_schedule(self.final_density, self.iterations, self.schedule)]

    def train_config(self, iteration: int) -> TrainConfig:
        """Preset + overrides; iteration i trains with data-order seed ``data_seed*100003 + i``."""
        return preset(self.model, self.dataset,
                      **{**self.train_overrides, "seed": self.data_seed * 100003 + iteration})

    def score_seed(self, iteration: int) -> int:
        """Seed option passed to the criterion (random scores): depends on theta_0's seed, the
        data seed and the iteration, so no two runs or iterations share random scores."""
        return (self.seed * 1_000_003 + self.data_seed) * 1_009 + iteration

    def identity(self) -> dict:
        """The run's identity, hashed by :func:`autosparse.artifacts.identity.config_hash` and
        recorded in the store: every field but ``epochs`` (it is in ``train_overrides``), in the
        stores' order (:data:`STORED_ORDER`, then new fields in field order)."""
        out = dataclasses.asdict(self)
        del out["epochs"]
        return {k: out[k] for k in sorted(out, key=_stored_rank)}


def _stored_rank(name: str) -> int:
    return STORED_ORDER.index(name) if name in STORED_ORDER else len(STORED_ORDER)
