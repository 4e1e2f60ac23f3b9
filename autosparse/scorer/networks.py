"""The scorer networks (AutoS seed Table 7): the paper's encoder into a ResNet-18 or VGG-19
backbone, and a cheap MLP; their seeded initialisation, cost per weight and batched inference."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from ..features import check_choice
from ..models import build_model
from .config import TrainScorerConfig


class PaperScorer(nn.Module):
    """Table 7: Linear(n_in, 64)+BN+ReLU -> Linear(64, C*S*S)+BN+ReLU -> C x S x S "image" ->
    CIFAR backbone with one regression output (no sigmoid, no output ReLU).

    ResNet-18: C=3, S=32 by default (~11.4M parameters). VGG-19: C=1, S=64 (the "64 x 64 map" of
    Table 7) into VGG-19-BN; Table 7's third linear layer [64x64, 64x64x64] (1.07G weights) and its
    mismatched bias sizes are not coherent and are left out. ``width`` and ``image_size`` shrink
    the same design for CPU profiles."""

    def __init__(self, arch: str, n_in: int, width: float = 1.0, image_size: int | None = None):
        super().__init__()
        check_choice("arch", arch, ("resnet18", "vgg19"))
        self.channels = 3 if arch == "resnet18" else 1
        self.size = int(image_size or (32 if arch == "resnet18" else 64))
        n_map = self.channels * self.size * self.size
        self.encoder = nn.Sequential(
            nn.Linear(n_in, 64), nn.BatchNorm1d(64), nn.ReLU(),
            nn.Linear(64, n_map), nn.BatchNorm1d(n_map), nn.ReLU(),
        )
        name = "resnet18" if arch == "resnet18" else "vgg19_bn"
        self.backbone = build_model(name, 1, width, (self.channels, self.size, self.size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        img = self.encoder(x).view(-1, self.channels, self.size, self.size)
        return self.backbone(img).squeeze(1)


class MLPScorer(nn.Module):
    """Cheap per-weight scorer: MLP over the features (+ optional layer context)."""

    def __init__(self, n_in: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = n_in
        for h in hidden:
            layers += [nn.Linear(d, int(h)), nn.ReLU()]
            d = int(h)
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def build_scorer(config: TrainScorerConfig) -> nn.Module:
    """The scorer network of ``config`` (Table 7 for resnet18/vgg19; an MLP for mlp)."""
    if config.arch == "mlp":
        return MLPScorer(config.n_features, config.hidden)
    return PaperScorer(config.arch, config.n_features, config.width, config.image_size)


def flops_per_weight(model: nn.Module, n_in: int) -> int:
    """FLOPs (2 x MAC) of one scorer forward per weight, by torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode

    model = copy.deepcopy(model).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, n_in))
    return int(fc.get_total_flops())


def init_scorer(config: TrainScorerConfig) -> nn.Module:
    """The scorer network at its seeded initialisation (the "before training" of Fig. 4)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build_scorer(config)


@torch.no_grad()
def predict_array(model: nn.Module, x: np.ndarray, device, batch_size: int = 65536
                  ) -> np.ndarray:
    """``model``'s predictions for the rows of ``x`` (eval mode, ``batch_size`` rows a forward)."""
    model.eval()
    out = [model(torch.from_numpy(x[i:i + batch_size]).to(device)).float().cpu()
           for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


__all__ = ["MLPScorer", "PaperScorer", "build_scorer", "flops_per_weight", "init_scorer",
           "predict_array"]
