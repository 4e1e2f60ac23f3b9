"""The networks of the seed papers (AutoS App. A.1), CIFAR variants, with a width multiplier.

Parameter counts at ``width=1.0`` equal the table of METHODS.md exactly (tested). ``width`` scales
every hidden channel/unit count so that CPU-sized profiles run the same architectures narrower.
Initialisation is Kaiming-normal (fan-in, ReLU gain) for every conv/linear weight, zero biases,
BatchNorm at (1, 0), as in the AutoS and Synaptic-Flow code.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from .registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")

PRUNABLE_TYPES = (nn.Conv2d, nn.Linear)


def _c(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


class LeNet300100(nn.Module):
    """Fully connected 784-300-100-10 (AutoS App. A.1)."""

    def __init__(self, num_classes: int, width: float = 1.0, in_features: int = 784) -> None:
        super().__init__()
        h1, h2 = _c(300, width), _c(100, width)
        self.fc1 = nn.Linear(in_features, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, num_classes)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()  # modules, not F.relu: PX swaps them

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return self.fc3(self.relu2(self.fc2(self.relu1(self.fc1(x)))))


class BasicBlock(nn.Module):
    """ResNet basic block; a 1x1 conv + BN shortcut where the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()  # one module per call site (PX gates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet: 3x3 stem, no max-pool, global average pooling, one linear classifier."""

    def __init__(
        self, stages: list[tuple[int, int]], num_classes: int, stem: int, in_channels: int = 3
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        layers, cin = [], stem
        for i, (cout, blocks) in enumerate(stages):
            stride = 1 if i == 0 else 2
            blocks_ = []
            for b in range(blocks):
                blocks_.append(BasicBlock(cin, cout, stride if b == 0 else 1))
                cin = cout
            layers.append(nn.Sequential(*blocks_))
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class VGG(nn.Module):
    """CIFAR VGG-BN: 3x3 convs with bias + BN + ReLU, 2x2 max-pools, one linear classifier."""

    def __init__(self, cfg: list[int | str], num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.BatchNorm2d(int(v)), nn.ReLU()]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(out, 1))


_VGG_CFG: dict[str, list[int | str]] = {
    "vgg16_bn": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                 512, 512, 512, "M"],
    "vgg19_bn": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                 512, 512, 512, 512, "M"],
}


@MODELS.register("lenet_300_100")
def lenet_300_100(num_classes: int, width: float = 1.0, input_shape=(1, 28, 28)) -> nn.Module:
    n_in = 1
    for d in input_shape:
        n_in *= int(d)
    return LeNet300100(num_classes, width, n_in)


@MODELS.register("resnet18")
def resnet18(num_classes: int, width: float = 1.0, input_shape=(3, 32, 32)) -> nn.Module:
    stages = [(_c(c, width), 2) for c in (64, 128, 256, 512)]
    return ResNet(stages, num_classes, _c(64, width), int(input_shape[0]))


@MODELS.register("resnet20")
def resnet20(num_classes: int, width: float = 1.0, input_shape=(3, 32, 32)) -> nn.Module:
    stages = [(_c(c, width), 3) for c in (16, 32, 64)]
    return ResNet(stages, num_classes, _c(16, width), int(input_shape[0]))


def _vgg(name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int, width: float = 1.0, input_shape=(3, 32, 32)) -> nn.Module:
        cfg = [v if v == "M" else _c(int(v), width) for v in _VGG_CFG[name]]
        return VGG(cfg, num_classes, int(input_shape[0]))

    build.__name__ = name
    return MODELS.register(name)(build)


vgg16_bn = _vgg("vgg16_bn")
vgg19_bn = _vgg("vgg19_bn")


def kaiming_init_(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Kaiming-normal (fan-in, ReLU) weights, zero biases, BatchNorm (1, 0), in place.

    ``generator`` (optional) draws the weights instead of the global RNG.
    """
    for m in model.modules():
        if isinstance(m, PRUNABLE_TYPES):
            nn.init.kaiming_normal_(
                m.weight, mode="fan_in", nonlinearity="relu", generator=generator
            )
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def build_model(
    name: str,
    num_classes: int,
    width: float = 1.0,
    input_shape: tuple[int, ...] | None = None,
    seed: int | None = None,
) -> nn.Module:
    """Build a registered model, Kaiming-initialised (under ``seed`` when given)."""
    builder = MODELS.get(name)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width!r}")
    kwargs = {} if input_shape is None else {"input_shape": tuple(input_shape)}
    if seed is None:
        return kaiming_init_(builder(num_classes, width, **kwargs))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return kaiming_init_(builder(num_classes, width, **kwargs))


def prunable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Ordered ``{name: weight}`` of every Conv2d/Linear weight: the one place that decides it.

    Biases and BatchNorm parameters are never prunable (METHODS.md, common protocol).
    """
    out: dict[str, nn.Parameter] = {}
    for mod_name, module in model.named_modules():
        if isinstance(module, PRUNABLE_TYPES):
            out[f"{mod_name}.weight" if mod_name else "weight"] = module.weight
    return out


def prunable_modules(model: nn.Module) -> dict[str, nn.Module]:
    """``{param_name: module}`` for the prunable weights, same order as prunable_parameters."""
    return {
        (f"{n}.weight" if n else "weight"): m
        for n, m in model.named_modules()
        if isinstance(m, PRUNABLE_TYPES)
    }


def list_models() -> list[str]:
    return MODELS.names()


def layer_fans(shape: tuple[int, ...]) -> tuple[int, int, str]:
    """(fan_in, fan_out, kind) of a prunable weight of this ``shape``: ``in * kh * kw`` and
    ``out * kh * kw`` for a convolution (``"conv"``), ``in`` and ``out`` for a linear layer. The
    one definition of the layer context both the survival dataset and the scorer read."""
    rf = 1
    for k in shape[2:]:
        rf *= int(k)
    return int(shape[1]) * rf, int(shape[0]) * rf, "conv" if len(shape) > 2 else "linear"
