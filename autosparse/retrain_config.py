"""Parameters of the retraining job (``autosparse train``): :class:`NetworkConfig`, the network a
job builds (shared with the pruning jobs), and :class:`RetrainConfig`, the one place the train
command's flags, defaults and validation live; the optimizer and schedule are the preset's
(:class:`autosparse.train_config.TrainConfig`, overridden by ``set``). Torch-free: the DAG planning
(:func:`autosparse.workflow.args.train_args`) builds job arguments from it."""

from __future__ import annotations

from dataclasses import dataclass

from .params import param

# Keys of the config's `train` block that are not RetrainConfig fields: the DAG's alone
# (resources, retries, the per-model / per-dataset settings args.train_args resolves, and the
# --max-runtime job budget, a job control)
DAG_ONLY = ("set_per_model", "per_class_cap", "threads", "mem_mb", "runtime", "max_runtime",
            "retries")


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """The network a job builds: ``build_model(model, classes, width, input_shape, seed)``. Its
    fields come from a job's target path, not from a config block. ``model`` and ``dataset``
    flags are written by each command (their help lists the registries)."""

    model: str = param(help="network, a registered model", config="")
    dataset: str = param(help="a registered dataset", config="")
    width: float = param(1.0, "width multiplier of the layers (channels, hidden units), > 0",
                         config="")
    seed: int = param(0, "run seed", config="")

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise ValueError(f"width must be > 0, got {self.width!r}")


@dataclass(frozen=True, kw_only=True)
class RetrainConfig(NetworkConfig):
    """``autosparse train``: train the network (dense, or under a mask) with its preset of
    ``config/training.yaml``, overridden by ``epochs`` and ``set``, on class-balanced subsets."""

    seed: int = param(0, "run seed: theta_0, the class-balanced subsets and the data order",
                      config="")
    epochs: int | None = param(None, "override the preset's epochs (presets: "
                               "config/training.yaml)", flag_help_default=False)
    train_per_class: int | None = param(None, "train on a class-balanced subset of N examples "
                                        "per class (default: the full train split)",
                                        metavar="N", flag_help_default=False)
    test_per_class: int | None = param(None, "test on a class-balanced subset of N examples per "
                                       "class (default: the full test split)", metavar="N",
                                       flag_help_default=False)
    set: tuple[str, ...] = param((), "override fields of the training preset, values parsed as "
                                 "YAML (e.g. lr=0.05 batch_size=64)", metavar="KEY=VALUE",
                                 flag_help_default=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "set", tuple(self.set or ()))
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1 (or left out for the preset's), got "
                             f"{self.epochs!r}")
        for name in ("train_per_class", "test_per_class"):
            n = getattr(self, name)
            if n is not None and n < 1:
                raise ValueError(f"{name} must be >= 1 (or left out for the full split), got "
                                 f"{n!r}")
