"""Training settings (AutoS App. A/C presets): :class:`TrainConfig`, the presets of
``config/training.yaml`` and ``KEY=VALUE`` overrides. Torch-free, so that the DAG checks a
profile's ``train.set`` / ``irp.set`` entries before any job starts
(:func:`autosparse.workflow_config.check_config`) with the same validation as the jobs.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PRESETS = Path(__file__).resolve().parents[1] / "config" / "training.yaml"
DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def parse_overrides(items: list[str] | None) -> dict:
    """``["epochs=3", "lr=0.1"]`` -> ``{"epochs": 3, "lr": 0.1}`` (values parsed as YAML)."""
    out = {}
    for item in items or []:
        if "=" not in str(item):
            raise ValueError(f"override must be key=value, got {item!r}")
        k, v = str(item).split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")


@dataclass
class TrainConfig:
    epochs: int = 1
    optimizer: str = "momentum"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    lr_drops: list[int] = field(default_factory=list)
    lr_gamma: float = 0.1
    augment: bool | None = None  # None: the dataset's protocol (CIFAR/TinyImageNet yes, MNIST no)
    eval_batch_size: int = 1000
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    bf16: bool = True  # autocast to bfloat16 on CUDA (ignored on CPU)
    channels_last: bool = True  # on CUDA
    compile: bool = False  # torch.compile the forward + loss on CUDA
    compile_mode: str = "reduce-overhead"  # torch.compile mode; reduce-overhead = CUDA graphs
    # On CUDA: the whole step (batch gather, augmentation, forward, loss, backward, mask
    # enforcement, optimizer) replayed as one captured CUDA graph (:class:`CapturedStep`).
    cuda_graph: bool = False
    progress: bool | None = None  # None: a bar on a terminal, one line per epoch otherwise

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        for key in ("epochs", "batch_size", "eval_batch_size"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise ValueError(f"{key} must be a positive int, got {getattr(self, key)!r}")
        if not isinstance(self.lr, numbers.Real) or not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not isinstance(self.device, str) or not DEVICE.fullmatch(self.device):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")

    def lr_at(self, epoch: int) -> float:
        """Multi-step schedule: lr * gamma^(number of drops at or before ``epoch``)."""
        return self.lr * self.lr_gamma ** sum(1 for d in self.lr_drops if epoch >= d)


def load_presets(path: str | os.PathLike | None = None) -> dict[str, dict]:
    path = Path(path) if path else PRESETS
    with open(path) as f:
        return yaml.safe_load(f)["presets"]


def preset(model: str, dataset: str, **overrides) -> TrainConfig:
    """The paper's training preset for ``model/dataset`` with ``overrides`` applied."""
    presets = load_presets()
    key = f"{model}/{dataset}"
    if key not in presets:
        raise KeyError(f"no training preset {key!r}; valid: {sorted(presets)}")
    return make_config({**presets[key], **overrides})


def make_config(values: Mapping) -> TrainConfig:
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown training option(s) {sorted(unknown)}; valid: {sorted(known)}")
    return TrainConfig(**values)
