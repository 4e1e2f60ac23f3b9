"""The AutoS scorer's options: the choices of each (architectures, inputs, normalisations,
losses) and :class:`TrainScorerConfig`, the one place their defaults, command-line flags
(``scorer-train``), validation and identity live. Torch-free: the DAG planning
(:func:`autosparse.workflow.args.scorer_args`) builds job arguments from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from ..params import check_choices, identity, identity_hash, param

INPUTS: dict[str, tuple[str, ...]] = {
    "param": ("theta0",),
    "grad": ("grad0",),
    "param+grad": ("theta0", "grad0"),
}
NORMALIZATIONS = {
    "none": "raw theta_0 and g_0, as the authors",
    "layer_standardize": "per layer: (x - mean) / std of that layer of that network",
    "global_standardize": "per network: (x - mean) / std over all its prunable weights",
    "layer_rank": "per layer: sign(x) * quantile of |x| among that layer's |x|, in [-1, 1]",
}
CONTEXT_COLUMNS = ("fan_in", "fan_out", "kind", "depth")
ARCHS = ("resnet18", "vgg19", "mlp")
LOSSES = ("mse", "rank")
# Settings of the config's `scorer` block given once or per arch ({resnet18: ..., vgg19: ...})
PER_ARCH = ("width", "image_size")
# Keys of the `scorer` block that are not TrainScorerConfig fields: the DAG's alone
DAG_ONLY = ("source", "mem_mb", "runtime")


# The order of the config's keys in the checkpoints written so far (torch.save keeps it).
STORED_ORDER = ("arch", "inputs", "normalize", "context", "width", "image_size", "hidden", "epochs",
                "batch_size", "lr", "loss", "rank_pairs", "val_percent", "train_percent", "seed",
                "shuffle_buffer", "read_batch", "device")


@dataclass(frozen=True)
class TrainScorerConfig:
    """Scorer architecture and training (App. B.3 defaults: Adam, lr 0.01, batch 1024, 10 epochs,
    MSE). Table 8's grid is ``batch_size`` x ``lr``. Field order is the order of a DAG job's
    flags."""

    arch: str = param("resnet18", "scorer network: the paper's encoder into a ResNet-18 or "
                      "VGG-19 backbone (Table 7), or an MLP on the features", choices=ARCHS)
    inputs: str = param("param+grad", "per-weight input features: theta_0 (param), g_0 (grad) "
                        "or both", choices=sorted(INPUTS))
    normalize: str = param("none", "feature normalisation: none (raw, as the authors), per layer "
                           "or per network standardisation, or per-layer signed rank",
                           choices=sorted(NORMALIZATIONS))
    train_percent: float = param(100.0, "percent of the training rows used, in (0, 100] (hash "
                                 "subsample; quick profiles)")
    width: float = param(1.0, "backbone width multiplier, > 0")
    image_size: int | None = param(None, "encoded map size S (default: 32 for resnet18, 64 for "
                                   "vgg19; a multiple of 32 for vgg19)", metavar="S",
                                   flag_help_default=False)
    epochs: int = param(10, "training epochs")
    batch_size: int = param(1024, "rows per training batch")
    lr: float = param(0.01, "Adam learning rate")
    seed: int = param(0, "seed of the scorer's init and the row shuffling")
    device: str = param("cpu", "torch device to train on, e.g. cpu, cuda, cuda:1")
    context: bool = param(False, "add layer context features fan_in, fan_out, kind, depth (mlp "
                          "only; true/false, default: false)", flag_help_default=False,
                          config="")
    hidden: tuple[int, ...] = param((64, 64), "mlp hidden layer sizes (default: 64 64)",
                                    flag_help_default=False, config="")
    loss: str = param("mse", "regression on the survival score (mse) or a pairwise ranking loss "
                      "(rank)", choices=LOSSES, config="")
    rank_pairs: int = param(8, "sampled pairs per row for loss rank", cli=False, config="")
    val_percent: float = param(10.0, "percent of the rows held out for validation (by row hash), "
                               "in (0, 100)", config="")
    shuffle_buffer: int = param(262144, "rows shuffled together while streaming the data",
                                metavar="ROWS", config="")
    read_batch: int = param(65536, "Parquet record-batch size", cli=False, config="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        check_choices(self)
        if self.context and self.arch != "mlp":
            raise ValueError(f"context features are for arch='mlp', got arch={self.arch!r}")
        for name in ("epochs", "batch_size", "shuffle_buffer", "read_batch", "rank_pairs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not (self.lr > 0 and self.width > 0):
            raise ValueError(f"lr and width must be > 0, got {self.lr!r}, {self.width!r}")
        if self.image_size is not None:
            step = 32 if self.arch == "vgg19" else 1  # VGG-19 halves the map five times
            if int(self.image_size) < max(step, 1) or int(self.image_size) % step:
                raise ValueError(f"image_size must be a positive multiple of {step} for arch "
                                 f"{self.arch!r}, got {self.image_size!r}")
        if not 0 < self.val_percent < 100:
            raise ValueError(f"val_percent must lie in (0, 100), got {self.val_percent!r}")
        if not 0 < self.train_percent <= 100:
            raise ValueError(f"train_percent must lie in (0, 100], got {self.train_percent!r}")

    def validate(self) -> TrainScorerConfig:
        """The config itself: it is validated when made (kept for the old call sites)."""
        return self

    @property
    def predict_batch(self) -> int:
        """Rows per inference forward: large for the MLP, bounded for the image backbones."""
        return 65536 if self.arch == "mlp" else max(1024, self.batch_size)

    @property
    def n_features(self) -> int:
        return len(INPUTS[self.inputs]) + (len(CONTEXT_COLUMNS) if self.context else 0)

    def to_dict(self) -> dict:
        """Every field as JSON types (``hidden`` a list): what a checkpoint records, in the key
        order checkpoints have always had (:data:`STORED_ORDER`: the bytes stay the same)."""
        d = identity(self)
        return {k: d[k] for k in sorted(d, key=lambda k: (STORED_ORDER + (k,)).index(k))}

    def config_hash(self) -> str:
        """Canonical hash of the whole config (all fields): the scorer's identity, computed from
        the config a checkpoint records (a scorer's path names only arch, inputs, batch_size,
        lr)."""
        return identity_hash(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> TrainScorerConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "hidden" else v) for k, v in d.items() if k in names})
