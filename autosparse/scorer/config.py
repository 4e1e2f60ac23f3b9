"""The AutoS scorer's options: the choices of each (architectures, inputs, normalisations,
losses) and :class:`TrainScorerConfig`, the one place their defaults and validation live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from ..features import check_choice

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


@dataclass
class TrainScorerConfig:
    """Scorer architecture and training (App. B.3 defaults: Adam, lr 0.01, batch 1024, 10 epochs,
    MSE). Table 8's grid is ``batch_size`` x ``lr``."""

    arch: str = "resnet18"
    inputs: str = "param+grad"
    normalize: str = "none"
    context: bool = False  # layer context features (mlp only)
    width: float = 1.0  # backbone width multiplier (paper scorers)
    image_size: int | None = None  # encoded map size S (default 32 resnet18, 64 vgg19)
    hidden: tuple[int, ...] = (64, 64)  # mlp
    epochs: int = 10
    batch_size: int = 1024
    lr: float = 0.01
    loss: str = "mse"
    rank_pairs: int = 8  # sampled pairs per row for loss="rank"
    val_percent: float = 10.0
    train_percent: float = 100.0  # share of the non-validation rows trained on (quick profiles)
    seed: int = 0
    shuffle_buffer: int = 262144  # rows shuffled together when streaming
    read_batch: int = 65536  # Parquet record-batch size
    device: str = "cpu"

    def validate(self) -> TrainScorerConfig:
        check_choice("arch", self.arch, ARCHS)
        check_choice("inputs", self.inputs, INPUTS)
        check_choice("normalize", self.normalize, NORMALIZATIONS)
        check_choice("loss", self.loss, LOSSES)
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
        self.hidden = tuple(int(h) for h in self.hidden)
        return self

    @property
    def predict_batch(self) -> int:
        """Rows per inference forward: large for the MLP, bounded for the image backbones."""
        return 65536 if self.arch == "mlp" else max(1024, self.batch_size)

    @property
    def n_features(self) -> int:
        return len(INPUTS[self.inputs]) + (len(CONTEXT_COLUMNS) if self.context else 0)

    @classmethod
    def from_dict(cls, d: Mapping) -> TrainScorerConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "hidden" else v) for k, v in d.items() if k in names})
