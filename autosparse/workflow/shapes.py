"""Layer shapes and FLOPs of the registry's networks and the AutoS scorer, and the sizes of the
datasets, without torch: what the cost model (:mod:`.costs`) counts work in.

:func:`net` lists the prunable Conv2d / Linear weights of ``autosparse.build_model(...)`` with
their multiply-adds per input and output elements (tests compare it with a forward-hook count on
the registry models); :data:`DATASETS` the classes, input shape and split sizes of what
``autosparse/data.py`` loads (tested against the offline files).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    """One prunable Conv2d / Linear weight: its parameter name, shape, multiply-adds of one
    forward pass on one input, and output elements (activations)."""

    name: str
    shape: tuple[int, ...]
    macs: int
    out: int

    @property
    def weights(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Net:
    """A network's prunable layers and its other state_dict entries (biases, BatchNorm weights
    and buffers), as :mod:`autosparse.models` builds it."""

    layers: tuple[Layer, ...]
    other: int = 0

    @property
    def weights(self) -> int:
        return sum(la.weights for la in self.layers)

    @property
    def macs(self) -> int:
        return sum(la.macs for la in self.layers)

    @property
    def activations(self) -> int:
        return sum(la.out for la in self.layers)

    @property
    def params(self) -> int:
        return self.weights + self.other


def _c(channels: int, width: float) -> int:  # = autosparse.models._c
    return max(1, int(round(channels * width)))


class _Builder:
    def __init__(self) -> None:
        self.layers: list[Layer] = []
        self.other = 0

    def conv(self, name: str, cin: int, cout: int, k: int, stride: int, pad: int,
             hw: tuple[int, int], bias: bool = False) -> tuple[int, int]:
        h, w = ((d + 2 * pad - k) // stride + 1 for d in hw)
        self.layers.append(Layer(name, (cout, cin, k, k), cout * h * w * cin * k * k,
                                 cout * h * w))
        self.other += cout if bias else 0
        return h, w

    def linear(self, name: str, n_in: int, n_out: int, bias: bool = True) -> None:
        self.layers.append(Layer(name, (n_out, n_in), n_in * n_out, n_out))
        self.other += n_out if bias else 0

    def bn(self, channels: int) -> None:  # weight, bias, running mean and var, num_batches_tracked
        self.other += 4 * channels + 1


def _resnet(b: _Builder, prefix: str, stages: list[tuple[int, int]], num_classes: int,
            stem: int, shape: tuple[int, ...]) -> None:
    hw = b.conv(f"{prefix}conv1.weight", int(shape[0]), stem, 3, 1, 1, (shape[1], shape[2]))
    b.bn(stem)
    cin = stem
    for i, (cout, blocks) in enumerate(stages):
        for j in range(blocks):
            stride = (1 if i == 0 else 2) if j == 0 else 1
            p = f"{prefix}layers.{i}.{j}."
            out = b.conv(p + "conv1.weight", cin, cout, 3, stride, 1, hw)
            b.bn(cout)
            b.conv(p + "conv2.weight", cout, cout, 3, 1, 1, out)
            b.bn(cout)
            if stride != 1 or cin != cout:
                b.conv(p + "shortcut.0.weight", cin, cout, 1, stride, 0, hw)
                b.bn(cout)
            hw, cin = out, cout
    b.linear(f"{prefix}fc.weight", cin, num_classes)


_VGG = {
    "vgg16_bn": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                 512, 512, 512, "M"],
    "vgg19_bn": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                 512, 512, 512, 512, "M"],
}
INPUT_SHAPES = {"lenet_300_100": (1, 28, 28)}  # the builders' defaults; the others (3, 32, 32)
MODELS = ("lenet_300_100", "resnet18", "resnet20", *_VGG)  # those with a layer plan (_build)


def _build(b: _Builder, prefix: str, model: str, num_classes: int, width: float,
           shape: tuple[int, ...]) -> None:
    if model == "lenet_300_100":
        h1, h2 = _c(300, width), _c(100, width)
        b.linear(f"{prefix}fc1.weight", math.prod(shape), h1)
        b.linear(f"{prefix}fc2.weight", h1, h2)
        b.linear(f"{prefix}fc3.weight", h2, num_classes)
    elif model == "resnet18":
        _resnet(b, prefix, [(_c(c, width), 2) for c in (64, 128, 256, 512)], num_classes,
                _c(64, width), shape)
    elif model == "resnet20":
        _resnet(b, prefix, [(_c(c, width), 3) for c in (16, 32, 64)], num_classes,
                _c(16, width), shape)
    elif model in _VGG:
        cin, hw, i = int(shape[0]), (shape[1], shape[2]), 0
        for v in _VGG[model]:
            if v == "M":
                hw, i = (hw[0] // 2, hw[1] // 2), i + 1
            else:
                cout = _c(int(v), width)
                hw = b.conv(f"{prefix}features.{i}.weight", cin, cout, 3, 1, 1, hw, bias=True)
                b.bn(cout)
                cin, i = cout, i + 3
        b.linear(f"{prefix}classifier.weight", cin, num_classes)
    else:
        raise KeyError(f"no layer plan for model {model!r}; valid: {', '.join(MODELS)}")


@functools.cache
def net(model: str, num_classes: int, width: float = 1.0,
        input_shape: tuple[int, ...] | None = None) -> Net:
    """Layers of ``autosparse.build_model(model, num_classes, width, input_shape)``."""
    shape = tuple(input_shape or INPUT_SHAPES.get(model, (3, 32, 32)))
    b = _Builder()
    _build(b, "", model, num_classes, float(width), shape)
    return Net(tuple(b.layers), b.other)


SCORER_INPUTS = {"param": 1, "grad": 1, "param+grad": 2}  # = len(autosparse.scorer.INPUTS[...])


@functools.cache
def scorer_net(arch: str, inputs: str = "param+grad", width: float = 1.0,
               image_size: int | None = None) -> Net:
    """Layers of the AutoS scorer (autosparse.scorer.build_scorer): per weight, an encoder to a
    C x S x S map and a CIFAR backbone with one output (Table 7), or the cheap MLP."""
    n_in = SCORER_INPUTS[inputs]
    b = _Builder()
    if arch == "mlp":
        b.linear("net.0.weight", n_in, 64)
        b.linear("net.2.weight", 64, 64)
        b.linear("net.4.weight", 64, 1)
        return Net(tuple(b.layers), b.other)
    channels = 3 if arch == "resnet18" else 1
    size = int(image_size or (32 if arch == "resnet18" else 64))
    b.linear("encoder.0.weight", n_in, 64)
    b.bn(64)
    b.linear("encoder.3.weight", 64, channels * size * size)
    b.bn(channels * size * size)
    _build(b, "backbone.", "resnet18" if arch == "resnet18" else "vgg19_bn", 1, float(width),
           (channels, size, size))
    return Net(tuple(b.layers), b.other)


# -- datasets ----------------------------------------------------------------------------------

# name: (classes, input shape, train images, test images) of what autosparse/data.py loads
# (tested against the offline files). TinyImageNet: the offline copy holds 100 training images
# per class (tinyimagenet_jpegbytes_train100.npz), which is all data.py reads.
DATASETS = {
    "mnist": (10, (1, 28, 28), 60_000, 10_000),
    "cifar10": (10, (3, 32, 32), 50_000, 10_000),
    "cifar100": (100, (3, 32, 32), 50_000, 10_000),
    "tinyimagenet": (200, (3, 64, 64), 20_000, 10_000),
    "tinyimagenet10": (10, (3, 64, 64), 1_000, 500),
}


def dataset(name: str) -> tuple[int, tuple[int, int, int], int, int]:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"no size known for dataset {name!r}; valid: {', '.join(DATASETS)}") \
            from None


def target_net(model: str, ds: str, width: float) -> Net:
    classes, shape, _, _ = dataset(ds)
    return net(model, classes, float(width), shape)

