"""Cost plan of a DAG run, before it starts: ``python -m autosparse plan --configfile ... --target``.

For a profile (config/config.yaml and the ``--configfile`` overlays, merged as Snakemake merges
them) and a target, the plan lists:

- the jobs per rule: the DAG planned from :mod:`autosparse.workflow_config` exactly as the rules
  plan it (each rule's output pattern and input function: :data:`RULES`; the job counts equal
  Snakemake's dry run, tests/test_plan.py);
- the compute per job: FLOPs of the conv / linear layers counted from the layer shapes
  (:func:`net`, no torch: it equals a forward-hook count on the registry models, tested),
  forward + backward = 3 x forward per training image, and a device throughput (:data:`DEVICES`,
  calibrated on benchmarks/RESULTS.md), or per-rule factors fitted on the Snakemake benchmark
  records of an earlier run (``results/benchmarks/<rule>/**.tsv``);
- the wall time on N devices: jobs are independent within a DAG level, so at least
  ``max(total / N, critical path)`` (the longest chain: IRP -> survival -> scorer -> score ->
  prune -> retrain -> table -> claims);
- the disk the artifacts take, from their real storage formats (autosparse/store.py,
  autosparse/irp.py, autosparse/survival.py; compression measured, benchmarks/RESULTS.md);
- each job's SLURM request: :func:`job_resources`, which the rules' ``runtime`` and ``mem_mb``
  resources call (the same model times a safety factor, capped by the profile's
  ``<stage>.runtime`` / ``<stage>.mem_mb``).

Importing this module does not import torch: the Snakefile loads it by path (like
workflow_paths / workflow_config) to size every job while planning the DAG.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

try:
    from . import workflow_config as wc
    from . import workflow_paths as wp
    from .train_config import load_presets, parse_overrides
except ImportError:  # loaded by file path from the Snakefile, without the (torch-importing) package
    import autosparse_workflow_config as wc  # type: ignore[no-redef]
    import autosparse_workflow_paths as wp  # type: ignore[no-redef]

    from autosparse.train_config import load_presets, parse_overrides  # torch-free

REPO_ROOT = Path(__file__).resolve().parents[1]

# -- networks: layer shapes and FLOPs, without torch ------------------------------------------


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
        raise KeyError(f"no layer plan for model {model!r}; valid: "
                       f"{', '.join(['lenet_300_100', 'resnet18', 'resnet20', *_VGG])}")


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


# -- datasets, presets, methods ---------------------------------------------------------------

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


@functools.cache
def _presets() -> dict:
    return load_presets()


def training(config: Mapping, stage: str, model: str, ds: str) -> dict:
    """The training settings a ``stage`` (``train`` or ``irp``) job of ``model/ds`` runs with:
    the preset of config/training.yaml, the stage's ``set`` and ``set_per_model`` overrides,
    its ``epochs`` (null: the preset's), and its class-balanced subset sizes."""
    c = config[stage]
    key = f"{model}/{ds}"
    if key not in _presets():
        raise KeyError(f"no training preset {key!r}; valid: {sorted(_presets())}")
    vals = {**_presets()[key], **parse_overrides(wc._overrides(c, model))}
    if c.get("epochs") is not None:
        vals["epochs"] = c["epochs"]
    classes, _, n_train, n_test = dataset(ds)
    train_pc, test_pc = wc._capped(c, ds)
    return {"epochs": int(vals["epochs"]), "batch_size": int(vals.get("batch_size", 128)),
            "compile": bool(vals.get("compile", False)),
            "n_train": min(n_train, train_pc * classes) if train_pc else n_train,
            "n_test": min(n_test, test_pc * classes) if test_pc else n_test}


# Per pruning method: forward+backward passes over the scoring batch per round, the batch
# ("data": the n_per_class x classes scoring images; "one": one input), default rounds, and
# whether its cost is a CPU linear program (NPB). Rounds are the registry's (tested).
METHOD_COSTS: dict[str, dict] = {
    "random": {"passes": 0, "rounds": 1},
    "magnitude": {"passes": 0, "rounds": 1},
    "magnitude_after_training": {"passes": 0, "rounds": 1},
    "lottery": {"passes": 0, "rounds": 1},
    "snip": {"passes": 1, "rounds": 1},
    "grasp": {"passes": 3, "rounds": 1},      # gradient, then a Hessian-gradient product
    "synflow": {"passes": 1, "rounds": 100, "batch": "one"},
    "iter_snip": {"passes": 1, "rounds": 100},
    "px": {"passes": 2, "rounds": 100},
    "ntk_sap": {"passes": 7, "rounds": 20},   # 5 re-initialisations x 2 forwards + a backward
    "npb": {"passes": 0, "rounds": 1, "lp": True},
    "autos": {"passes": 1, "rounds": 1},      # g_0 of the target, then the scorer per weight
    # ticket densities (methods/ticket_density.py): the base criterion's cost within layers
    "ticket_random": {"passes": 0, "rounds": 1},
    "ticket_synflow": {"passes": 1, "rounds": 100, "batch": "one"},
    "ticket_px": {"passes": 2, "rounds": 100},
    "ticket_autos": {"passes": 1, "rounds": 1},
}


def method_cost(method: str) -> dict:
    try:
        return {"batch": "data", "lp": False, **METHOD_COSTS[method]}
    except KeyError:
        raise KeyError(f"no cost known for method {method!r}; valid: "
                       f"{', '.join(METHOD_COSTS)}") from None


# -- devices: throughput calibrated on benchmarks/RESULTS.md -----------------------------------

REF = 11_164_352  # prunable weights of the full ResNet-18 / CIFAR-10 (RESULTS.md's runs)

# Every number below is a figure recorded in benchmarks/RESULTS.md; the comment names the section,
# the row, and its line there when written. Rates in FLOP/s are derived from them in _rates()
# with this module's FLOP count (2 FLOPs per multiply-add; training = 3 x forward).
DEVICES: dict[str, dict] = {
    "h100": {
        "kind": "gpu", "what": "NVIDIA H100 80GB, 16-vCPU host",
        # "Training throughput", row "H100 ... --compile --compile-mode reduce-overhead" (line 19):
        # full ResNet-18 / CIFAR-10, bf16, batch 128, CUDA graphs: 27,600 img/s. The
        # compute-bound training rate; per prunable layer also the step floor of compiled runs.
        "train_compiled": ("resnet18", "cifar10", 27_600),
        # same table, row "H100 ... (eager)" (line 18): 9,728 img/s, bound by the host (~13 ms of
        # kernel launches per step, "Notes (H100)", line 24): the step floor of eager training,
        # per prunable layer (the DAG's default: compile false).
        "train_eager": ("resnet18", "cifar10", 9_728),
        # "Paper-scale smoke DAG on one H100", row score (line 291): AutoS scores of all
        # 11,164,352 weights with the paper's ResNet-18 scorer, scoring time 164.8 s: the
        # scorer's forward rate.
        "scorer_infer": (("resnet18", 1.0, None), REF, 164.8),
        # same table, row scorer (line 290): 63.1 s for 1 epoch on 2 % of the 11,164,352 rows
        # plus validation: the scorer's training rate, after the fixed cost, the read and the
        # two validation passes (at the forward rate).
        "scorer_train": (("resnet18", 1.0, None), REF, 2.0, 63.1),
        # same table, rows "prune x 2" (line 292): 11.2 and 10.8 s to threshold a score store:
        # the fixed cost of a job (process start, CUDA context, data).
        "job_overhead_s": 10.0,
        # same table, row survival (line 289): 17.3 s for 11,164,352 rows (host CPU work).
        "survival": (REF, 17.3),
        # same table, peak RSS: prune 1,904 MB (line 292), a float64 score store of 11.2 M
        # weights and its top-k included: the resident size of a CUDA job before its data.
        "base_mb": 1500,
        "threads": None,
    },
    "cpu": {
        "kind": "cpu", "what": "one core of the 2-core CPU VM of benchmarks/RESULTS.md",
        # "Training throughput", row "2-core CPU VM (quiet) ... --case resnet18_cifar --width
        # 0.125" (line 16): 1,156 img/s with torch's default 2 threads on the 2 cores.
        "train": ("resnet18", "cifar10", 0.125, 1_156, 2),
        # "AutoS scorer", row "2-core CPU VM (shared, 1 thread)" (line 40): narrow paper scorer
        # (width 1/16, 8x8 image) 31k weights/s inference, 5.4k rows/s training.
        "scorer_infer": (("resnet18", 0.0625, 8), 31_000),
        "scorer_train": (("resnet18", 0.0625, 8), 5_400),
        # "Quick all from empty, measured before the speed-ups" (line 204): a training process
        # spends ~7 s before its first step.
        "job_overhead_s": 7.0,
        # no CPU record: the H100 host's (line 289), the same single-threaded code.
        "survival": (REF, 17.3),
        # "Cost plan calibration" (issue 15): RSS after import torch / autosparse.irp, 719 MB.
        "base_mb": 720,
        "threads": 1,
    },
}
# Host memory per unit of work, bytes (peak RSS of the paper-smoke DAG, same table as above, less
# the job's base): survival 3,756 MB for 11,164,352 rows (line 289; without CUDA: less the CPU
# base) -> 272, rounded up; scorer 2,329 MB for as many rows (line 290) -> 74; score 2,016 MB for
# as many target weights (line 291) -> 46; prune 1,904 MB (line 292) -> 36 (the score store's
# float64 and the top-k's copies). Training: 32 bytes per parameter (weights, gradients, two
# optimizer moments, mask, theta_0, checkpoint copies; IRP 44: g_0 and the masks too) and three
# copies of the uint8 images (decoded cache, subset, tensor): retrain 2,116 MB (line 293) vs
# 2,226 modelled.
MEM_BYTES = {"survival_row": 280, "scorer_row": 75, "score_weight": 46, "prune_weight": 46,
             "train_param": 32, "irp_param": 44, "image_copies": 3}
# The global top-k runs in float64 on the scores' device; on a GPU it is not measured yet
# (benchmarks/gpu_check.sh), so every device is planned at the CPU's "linear-time exact top-k",
# row "topk_masks global, d = 0.1" (line 387): 205 ms for 11,164,352 weights (an upper bound).
TOPK = (0.205, REF)
# NPB's layer-wise linear programs run on the CPU: "Scoring cost per method" (CPU, shared), row
# npb (line 114): 10.1 s for a full ResNet-20 (its prunable weights: net("resnet20", 10)).
NPB = ("resnet20", 10.1)


@functools.cache
def _rates(device: str) -> dict:
    """Derived per-device rates (FLOP/s, seconds per step per layer, per row, per weight)."""
    d = DEVICES[device]
    out = {"overhead": float(d["job_overhead_s"]), "kind": d["kind"], "base_mb": d["base_mb"]}
    out["survival_s_row"] = (d["survival"][1] - out["overhead"]) / d["survival"][0]
    out["topk_s_weight"] = TOPK[0] / TOPK[1]
    out["npb_s_weight"] = NPB[1] / net(NPB[0], 10).weights
    if d["kind"] == "gpu":
        for key in ("train_compiled", "train_eager"):
            m, ds, img_s = d[key]
            out[f"floor_{key[6:]}"] = 128 / img_s / len(target_net(m, ds, 1.0).layers)
        m, ds, img_s = d["train_compiled"]
        out["train_flop_s"] = img_s * 6 * target_net(m, ds, 1.0).macs
        (arch, w, s), n, secs = d["scorer_infer"]
        fwd = 2 * scorer_net(arch, "param+grad", w, s).macs
        out["scorer_infer_flop_s"] = n * fwd / secs
        (arch, w, s), n, percent, secs = d["scorer_train"]
        val = 2 * 0.1 * n * fwd / out["scorer_infer_flop_s"]  # epoch 0 and epoch 1
        train_s = secs - out["overhead"] - n * out["survival_s_row"] - val
        out["scorer_train_flop_s"] = 0.9 * n * percent / 100 * 3 * fwd / train_s
    else:
        m, ds, w, img_s, threads = d["train"]
        out["floor_eager"] = out["floor_compiled"] = 0.0
        out["train_flop_s"] = img_s * 6 * target_net(m, ds, w).macs / threads
        (arch, w, s), n = d["scorer_infer"]
        out["scorer_infer_flop_s"] = n * 2 * scorer_net(arch, "param+grad", w, s).macs
        (arch, w, s), n = d["scorer_train"]
        out["scorer_train_flop_s"] = n * 6 * scorer_net(arch, "param+grad", w, s).macs
    return out


# -- storage formats (bytes on disk, file sizes) ----------------------------------------------

# Compressed size of a random bool mask, bits per weight, by density (the worst case: pruned
# masks have structure), measured on the real writers ("Cost plan calibration",
# benchmarks/RESULTS.md): mask stores (zarr's default zstd on bool bytes, store.write_mask_store)
# and IRP masks (blosc-zstd with bit-shuffle, irp._codecs). Symmetric in d <-> 1 - d.
MASK_BITS = {0.5: 1.496, 0.3: 1.467, 0.1: 1.001, 0.05: 0.642, 0.01: 0.183, 0.001: 0.026,
             1e-6: 0.0}
IRP_MASK_BITS = {0.5: 1.002, 0.3: 0.892, 0.1: 0.548, 0.05: 0.368, 0.01: 0.127, 0.001: 0.022,
                 1e-6: 0.0}
FLOAT32_BYTES = 3.57    # theta_0 / g_0 in an IRP store (blosc-zstd, byte shuffle), per weight
SCORE_BYTES = 4.54      # a score store: float64 (zstd) of float32-computed scores, per weight
SURVIVAL_ROW_BYTES = 11.75  # a survival Parquet row (zstd), N = 20
ZARR_ARRAY_META = 430   # zarr.json of one array, with its share of the root's integrity record
ZARR_STORE_META = 1300  # root and group zarr.json of a store (attrs, provenance)


def mask_bits(density: float, table: Mapping[float, float] = MASK_BITS) -> float:
    """Bits per weight of a stored mask of this density (interpolated in log density)."""
    d = min(max(float(density), 0.0), 1.0)
    d = min(d, 1.0 - d)
    if d <= 0:
        return 0.0
    pts = sorted(table.items())
    if d >= pts[-1][0]:
        return pts[-1][1]
    for (d0, b0), (d1, b1) in zip(pts, pts[1:]):
        if d0 <= d <= d1:
            t = (math.log(d) - math.log(d0)) / (math.log(d1) - math.log(d0))
            return b0 + t * (b1 - b0)
    return 0.0


def mask_store_bytes(layers: Iterable[Layer], density: float) -> int:
    """A mask store (store.write_mask_store: ``mask/<layer>`` bool, no scores) at ``density``."""
    layers = list(layers)
    w = sum(la.weights for la in layers)
    return int(w * mask_bits(density) / 8 + ZARR_STORE_META + ZARR_ARRAY_META * len(layers))


def score_store_bytes(layers: Iterable[Layer]) -> int:
    layers = list(layers)
    return int(sum(la.weights for la in layers) * SCORE_BYTES + ZARR_STORE_META
               + ZARR_ARRAY_META * len(layers))


def irp_store_bytes(layers: Iterable[Layer], densities: list[float]) -> int:
    """An IRP store: theta_0 and g_0 float32, masks [N+1, *shape] (one chunk per iteration),
    the integrity record of every iteration (irp.create_store, irp._commit)."""
    layers = list(layers)
    w = sum(la.weights for la in layers)
    masks = sum(w * mask_bits(d, IRP_MASK_BITS) / 8 for d in densities)
    meta = ZARR_STORE_META + 3 * ZARR_ARRAY_META * len(layers) + 120 * len(layers) * len(densities)
    return int(2 * FLOAT32_BYTES * w + masks + meta)


# -- the DAG: rules, their outputs and inputs (as workflow/rules/*.smk) -------------------------

@dataclass(frozen=True)
class Rule:
    name: str
    outputs: tuple[str, ...]       # patterns
    benchmark: str | None
    inputs: Callable[[Mapping, Mapping], list[str]]
    gpu: bool = False              # declares gpu=GPU (a GPU job under gpus_per_job: 1)
    stage: str | None = None       # config block holding its runtime / mem_mb caps


def _table_inputs(c, w):
    return [p for p, _ in wc.table_inputs(c, w["table"])] + wc.table_sources(c, w["table"])


RULES: dict[str, Rule] = {r.name: r for r in (
    Rule("irp", ("results/irp/{irp}.zarr",), "results/benchmarks/irp/{irp}.tsv",
         lambda c, w: [], gpu=True, stage="irp"),
    Rule("survival", ("results/survival/{survival}",),
         "results/benchmarks/survival/{survival}.tsv",
         lambda c, w: wc.survival_inputs(c, w["survival"]), stage="scorer"),
    Rule("scorer", ("results/scorers/{scorer}.pt",), "results/benchmarks/scorer/{scorer}.tsv",
         lambda c, w: [wp.survival_path(wp.parse_scorer(w["scorer"])["survival"])], gpu=True,
         stage="scorer"),
    Rule("score", ("results/scores/{target}/{variant}/seed{seed}.zarr",),
         "results/benchmarks/score/{target}/{variant}/seed{seed}.tsv",
         lambda c, w: wc.score_inputs(w["variant"], c, w["target"], w["seed"]), gpu=True,
         stage="prune"),
    Rule("prune", ("results/masks/{target}/{variant}/s{sparsity}/seed{seed}.zarr",),
         "results/benchmarks/prune/{target}/{variant}/s{sparsity}/seed{seed}.tsv",
         lambda c, w: wc.prune_inputs(c, w["target"], w["variant"], w["seed"]), gpu=True,
         stage="prune"),
    Rule("train_dense", ("results/metrics/{target}/dense/seed{seed}.json",
                         "results/weights/{target}/dense/seed{seed}.pt"),
         "results/benchmarks/train_dense/{target}/seed{seed}.tsv", lambda c, w: [], gpu=True,
         stage="train"),
    Rule("retrain", ("results/metrics/{target}/{variant}/s{sparsity}/seed{seed}.json",),
         "results/benchmarks/retrain/{target}/{variant}/s{sparsity}/seed{seed}.tsv",
         lambda c, w: [wp.mask_path(w["target"], w["variant"], w["sparsity"], int(w["seed"]))],
         gpu=True, stage="train"),
    Rule("table", ("results/{table}.csv", "results/{table}.md", "results/{table}.html"),
         "results/benchmarks/table/{table}.tsv", _table_inputs),
    Rule("figure", tuple(f"results/figures/{{figure}}.{ext}" for ext in ("png", "pdf", "svg")),
         "results/benchmarks/figure/{figure}.tsv",
         lambda c, w: [p for p, _ in wc.figure_inputs(c, w["figure"])]),
    Rule("claims", ("results/claims.csv", "results/claims.md", "results/claims.html"),
         "results/benchmarks/claims/claims.tsv", lambda c, w: wc.claims_inputs(c)),
)}
# The report rules' requests as workflow/rules/report.smk sets them (not from this model: a
# table, figure or ledger job is seconds of one CPU core).
REPORT_RESOURCES = {"table": {"mem_mb": 1000, "runtime": 10},
                    "figure": {"mem_mb": 2000, "runtime": 10},
                    "claims": {"mem_mb": 2000, "runtime": 10}}
REPORT_SECONDS = 5.0  # a torch-free table job: 1.7 s mean (RESULTS.md, line 355); figures more


def _regex(pattern: str) -> re.Pattern:
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(f"(?P<{m[1]}>{wp.WILDCARDS[m[1]]})")
        pos = m.end()
    return re.compile("".join(out) + re.escape(pattern[pos:]))


_OUTPUT_RES = [(r, _regex(p)) for r in RULES.values() for p in r.outputs]
_BENCH_RES = [(r, _regex(r.benchmark)) for r in RULES.values() if r.benchmark]


def match_output(path: str) -> tuple[Rule, dict] | None:
    """(rule, wildcards) of the job producing ``path``; None when no rule does."""
    hits = [(r, m.groupdict()) for r, rx in _OUTPUT_RES if (m := rx.fullmatch(path))]
    if len(hits) > 1 and len({r.name for r, _ in hits}) > 1:
        raise ValueError(f"{path}: produced by several rules ({', '.join(r.name for r, _ in hits)})")
    return hits[0] if hits else None


@dataclass
class Job:
    rule: str
    wildcards: dict
    outputs: list[str]
    inputs: list[str] = field(default_factory=list)
    deps: list[tuple] = field(default_factory=list)

    @property
    def key(self) -> tuple:
        return (self.rule, tuple(sorted(self.wildcards.items())))

    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.wildcards.items()) or self.rule


def _job(rule: Rule, wildcards: dict) -> Job:
    outs = [p.format(**wildcards) for p in rule.outputs]
    return Job(rule.name, dict(wildcards), outs)


def check_target(config: Mapping, target: str) -> None:
    """Raise ValueError naming ``target`` when the profile cannot build it."""
    valid = ["all", *wc.all_targets(config)]
    if target in ("all", "claims"):
        return
    hit = match_output(target)
    ex = config["experiments"]
    why = None
    if hit is None:
        why = "no rule produces it"
    elif hit[0].name == "table" and hit[1]["table"] not in ex:
        why = f"table {hit[1]['table']} is not configured under experiments"
    elif hit[0].name == "figure" and not (hit[1]["figure"] in wc.FIGURES and (
            hit[1]["figure"] in ex or hit[1]["figure"] in ("fig4", "fig5"))):
        why = f"figure {hit[1]['figure']} is not configured under experiments"
    if why:
        raise ValueError(f"unknown target {target!r} ({why}); valid: {', '.join(valid)}, "
                         "or any output path of a rule")


def plan_jobs(config: Mapping, target: str = "all") -> dict[tuple, Job]:
    """Every job of ``target`` (``all``, ``claims`` or an output path) from empty ``results/``,
    keyed by (rule, wildcards), with its inputs and the jobs making them."""
    check_target(config, target)
    jobs: dict[tuple, Job] = {}
    by_path: dict[str, tuple] = {}

    def job_of(path: str) -> tuple:
        if path in by_path:
            return by_path[path]
        hit = match_output(path)
        if hit is None:
            raise ValueError(f"planned input {path!r} is produced by no rule")
        j = _job(*hit)
        if j.key not in jobs:
            jobs[j.key] = j
            stack.append(j)
        for p in jobs[j.key].outputs:
            by_path[p] = j.key
        return j.key

    stack: list[Job] = []
    if target == "all":
        root = Job("all", {}, [], list(wc.all_targets(config)))
        jobs[root.key] = root
        stack.append(root)
    elif target == "claims":
        job_of("results/claims.csv")
    else:
        job_of(target)
    while stack:
        j = stack.pop()
        if j.rule != "all":
            j.inputs = list(dict.fromkeys(RULES[j.rule].inputs(config, j.wildcards)))
        j.deps = list(dict.fromkeys(job_of(p) for p in j.inputs))
    return jobs


def skip_done(jobs: dict[tuple, Job], root: str | Path = ".") -> dict[tuple, Job]:
    """The jobs left when those whose outputs all exist (and whose inputs' jobs are left out
    too) are done: Snakemake's 'missing output' rule, without its mtime and params checks."""
    needed: dict[tuple, bool] = {}

    def need(k: tuple) -> bool:
        if k not in needed:
            j = jobs[k]
            needed[k] = (j.rule == "all" or any(need(d) for d in j.deps)
                         or not all((Path(root) / o).exists() for o in j.outputs))
        return needed[k]

    return {k: j for k, j in jobs.items() if need(k)}


# -- the cost model of one job ----------------------------------------------------------------

@dataclass
class Estimate:
    seconds: float       # wall time of the job on its device
    flops: float         # floating-point operations (2 per multiply-add)
    mem_mb: float        # peak resident memory on the host
    disk: int            # bytes of its outputs
    kind: str            # "gpu" or "cpu": what the job occupies
    threads: int = 1
    overhead: float = 0.0


def plan_device(config: Mapping, device: str | None = None) -> str:
    """``device``, else the profile's ``plan.device``, else h100 for GPU jobs (gpus_per_job: 1)
    and cpu otherwise."""
    device = device or (config.get("plan") or {}).get("device") or (
        "h100" if config.get("gpus_per_job") else "cpu")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    return device


def _train_seconds(n: Net, t: Mapping, r: Mapping, threads: int) -> tuple[float, float]:
    """(seconds, FLOPs) of one training epoch plus its test evaluation."""
    steps = math.ceil(t["n_train"] / t["batch_size"])
    floor = r["floor_compiled" if t["compile"] else "floor_eager"] * len(n.layers)
    rate = r["train_flop_s"] * threads
    train = t["n_train"] * 6 * n.macs
    test = t["n_test"] * 2 * n.macs
    return max(steps * floor, train / rate) + test / rate, train + test


def _pass_seconds(n: Net, images: int, passes: float, r: Mapping, threads: int) -> tuple[float, float]:
    """(seconds, FLOPs) of ``passes`` forward+backward passes over a batch of ``images``."""
    if passes <= 0:
        return 0.0, 0.0
    flops = passes * images * 6 * n.macs
    return max(passes * r["floor_eager"] * len(n.layers),
               flops / (r["train_flop_s"] * threads)), flops


def _activation_mb(n: Net, batch: int, kind: str) -> float:
    """Host memory of a training batch's saved activations (on a GPU they live on the device)."""
    return 0.0 if kind == "gpu" else batch * n.activations * 3 * 4 / 1e6


def _image_bytes(ds: str, images: int) -> int:
    return images * math.prod(dataset(ds)[1])


def _threads(config: Mapping, r: Mapping) -> int:
    return int(config["train"].get("threads") or 1) if r["kind"] == "cpu" else 1


def _scorer_parts(config: Mapping, scorer: str) -> tuple[Net, dict]:
    s, c = wp.parse_scorer(scorer), config["scorer"]

    def per_arch(value, default=None):
        return value.get(s["arch"], default) if isinstance(value, Mapping) else value

    sn = scorer_net(s["arch"], s["inputs"], float(per_arch(c["width"], 1.0) or 1.0),
                    per_arch(c.get("image_size")))
    return sn, s


def survival_rows(config: Mapping, survival: str) -> int:
    """Rows of a survival dataset: one per prunable weight of each source IRP store."""
    rows = 0
    for store in wc.survival_inputs(config, survival):
        run = wp.parse_irp(Path(store).name.removesuffix(".zarr"))
        width = config.get("widths", {}).get(run["model"], 1.0)
        rows += target_net(run["model"], run["dataset"], width).weights
    return rows


def estimate(config: Mapping, rule: str, wildcards: Mapping, device: str | None = None) -> Estimate:
    """The cost model of one job of ``rule`` with ``wildcards`` (module docstring)."""
    r = _rates(plan_device(config, device))
    w = dict(wildcards)
    kind = r["kind"] if rule in RULES and RULES[rule].gpu else "cpu"
    th = _threads(config, r) if kind == "cpu" and rule in RULES and RULES[rule].gpu else 1
    base, over = r["base_mb"], r["overhead"]
    if rule in ("train_dense", "retrain"):
        t = wp.parse_target(w["target"])
        n = target_net(t["model"], t["dataset"], t["width"])
        tr = training(config, "train", t["model"], t["dataset"])
        s, f = _train_seconds(n, tr, r, th)
        data = MEM_BYTES["image_copies"] * _image_bytes(t["dataset"], tr["n_train"] + tr["n_test"])
        mem = (base + data / 1e6 + MEM_BYTES["train_param"] * n.params / 1e6
               + _activation_mb(n, tr["batch_size"], kind))
        disk = 2_000 + 250 * tr["epochs"]  # metrics JSON: config, provenance, one record per epoch
        if rule == "train_dense":
            disk += 4 * n.weights + 600 * len(n.layers)  # save_weights: float32 prunable weights
        return Estimate(over + tr["epochs"] * s, tr["epochs"] * f, mem, disk, kind, th, over)
    if rule == "irp":
        run, c = wp.parse_irp(w["irp"]), config["irp"]
        width = config.get("widths", {}).get(run["model"], 1.0)
        n = target_net(run["model"], run["dataset"], width)
        classes = dataset(run["dataset"])[0]
        tr = training(config, "irp", run["model"], run["dataset"])
        n_iter = int(run["iterations"])
        epoch_s, epoch_f = _train_seconds(n, tr, r, th)
        batches = c.get("grad_batches")
        g0_images = min(tr["n_train"], 128 * batches) if batches else tr["n_train"]
        g0_s, g0_f = _pass_seconds(n, g0_images, 1, r, th)
        cost = method_cost(run["criterion"])
        sc_s, sc_f = _pass_seconds(n, int(c.get("score_per_class", 10)) * classes,
                                   cost["passes"], r, th)
        it_s = tr["epochs"] * epoch_s + sc_s + r["topk_s_weight"] * n.weights
        dens = [1.0] + _irp_densities(float(c["final_density"]), n_iter)
        data = MEM_BYTES["image_copies"] * _image_bytes(run["dataset"], tr["n_train"] + tr["n_test"])
        mem = (base + data / 1e6 + MEM_BYTES["irp_param"] * n.params / 1e6
               + _activation_mb(n, tr["batch_size"], kind))
        return Estimate(over + g0_s + n_iter * it_s, g0_f + n_iter * (tr["epochs"] * epoch_f + sc_f),
                        mem, irp_store_bytes(n.layers, dens), kind, th, over)
    if rule == "survival":
        rows = survival_rows(config, w["survival"])
        mem = DEVICES["cpu"]["base_mb"] + MEM_BYTES["survival_row"] * rows / 1e6
        return Estimate(over + rows * r["survival_s_row"], 0.0, mem,
                        int(rows * SURVIVAL_ROW_BYTES) + 10_000, "cpu", 1, over)
    if rule == "scorer":
        sn, s = _scorer_parts(config, w["scorer"])
        rows = survival_rows(config, s["survival"])
        c = config["scorer"]
        epochs, percent = int(c["epochs"]), float(c.get("train_percent", 100))
        fwd = 2 * sn.macs
        train_rows = 0.9 * rows * percent / 100
        train_f, val_f = epochs * train_rows * 3 * fwd, (epochs + 1) * 0.1 * rows * fwd
        steps = epochs * math.ceil(train_rows / int(s["batch_size"]))
        train_s = max(steps * r["floor_eager"] * len(sn.layers),
                      train_f / (r["scorer_train_flop_s"] * th))
        secs = (over + rows * r["survival_s_row"] * (epochs + 2) / 2 + train_s
                + val_f / (r["scorer_infer_flop_s"] * th))
        mem = base + MEM_BYTES["scorer_row"] * rows / 1e6 + 24 * sn.params / 1e6
        return Estimate(secs, train_f + val_f, mem, 4 * sn.params + 20_000, kind, th, over)
    if rule in ("score", "prune"):
        t = wp.parse_target(w["target"])
        n = target_net(t["model"], t["dataset"], t["width"])
        v = wp.Variant.parse(w["variant"])
        classes = dataset(t["dataset"])[0]
        batch = int(config["prune"]["n_per_class"]) * classes
        cost = method_cost(v.method)
        rounds = v.rounds or cost["rounds"]
        scored = rule == "prune" and wc._scored(config, w["variant"])
        secs, flops = over, 0.0
        if not scored:
            images = 1 if cost["batch"] == "one" else batch
            ps, pf = _pass_seconds(n, images, cost["passes"], r, th)
            secs, flops = secs + rounds * ps, rounds * pf
            if cost["lp"]:
                secs += n.weights * r["npb_s_weight"]
            if v.scorer:  # AutoS: the scorer network over every weight of the target
                sn, _ = _scorer_parts(config, v.scorer)
                f = n.weights * 2 * sn.macs
                secs, flops = secs + f / (r["scorer_infer_flop_s"] * th), flops + f
        if rule == "prune":
            secs += (rounds if not scored else 1) * r["topk_s_weight"] * n.weights
        mem = (base + MEM_BYTES[f"{rule}_weight"] * n.weights / 1e6 + 8 * n.params / 1e6
               + _activation_mb(n, min(batch, 256), kind) * (2 if v.method == "grasp" else 1))
        disk = (score_store_bytes(n.layers) if rule == "score" else
                mask_store_bytes(n.layers, 1.0 - float(w["sparsity"])))
        return Estimate(secs, flops, mem, disk, kind, th, over)
    if rule in REPORT_RESOURCES:
        return Estimate(REPORT_SECONDS, 0.0, 600, 50_000 if rule == "figure" else 20_000, "cpu")
    if rule == "all":
        return Estimate(0.0, 0.0, 0.0, 0, "cpu")
    raise KeyError(f"unknown rule {rule!r}; valid: {', '.join([*RULES, 'all'])}")


def _irp_densities(final_density: float, rounds: int) -> list[float]:
    """The IRP density schedule d^(t/N), t = 1..N (autosparse.masks.exponential_schedule)."""
    return [final_density ** (t / rounds) for t in range(1, rounds + 1)]


# -- SLURM requests ---------------------------------------------------------------------------

RUNTIME_SAFETY = 2.0   # runtime request = this x the estimate (plan.runtime_safety)
MEM_SAFETY = 1.5       # mem_mb request = this x the estimate (plan.mem_safety)
MIN_RUNTIME = 10       # minutes: queueing a job for less buys nothing
MIN_MEM_MB = 1000


def job_resources(config: Mapping, rule: str, wildcards, attempt: int = 1,
                  device: str | None = None) -> dict[str, int]:
    """SLURM ``runtime`` (minutes) and ``mem_mb`` of one job: the estimate (:func:`estimate`,
    device :func:`plan_device`) times ``plan.runtime_safety`` / ``plan.mem_safety`` (2 and 1.5),
    times ``attempt`` for a retry, at least 10 min / 1000 MB, at most the profile's
    ``<stage>.runtime`` / ``<stage>.mem_mb``; a job with a ``max_runtime`` budget asks for at
    least that budget (plus 5 minutes). The rules' resources call this."""
    if rule in REPORT_RESOURCES:
        return dict(REPORT_RESOURCES[rule])
    w = dict(wildcards.items()) if hasattr(wildcards, "items") else dict(wildcards)
    e = estimate(config, rule, w, device)
    p = config.get("plan") or {}
    stage = config.get(RULES[rule].stage, {})
    runtime = math.ceil(float(p.get("runtime_safety", RUNTIME_SAFETY)) * e.seconds / 60 * attempt)
    runtime = max(runtime, MIN_RUNTIME)
    budget = int(stage.get("max_runtime") or 0) if rule in ("irp", "train_dense", "retrain") else 0
    if budget:
        runtime = max(runtime, math.ceil(budget / 60) + 5)
    mem = max(math.ceil(float(p.get("mem_safety", MEM_SAFETY)) * e.mem_mb * attempt / 100) * 100,
              MIN_MEM_MB)
    return {"runtime": min(runtime, int(stage.get("runtime") or runtime)),
            "mem_mb": min(mem, int(stage.get("mem_mb") or mem))}


# -- benchmark records of an earlier run ------------------------------------------------------

def read_benchmark(path: str | Path) -> dict | None:
    """The first record of a Snakemake benchmark file (columns s, h:m:s, max_rss, ...)."""
    try:
        lines = Path(path).read_text().splitlines()
        head, row = lines[0].split("\t"), lines[1].split("\t")
        return {k: float(v) for k, v in zip(head, row) if re.fullmatch(r"[-0-9.eE+]+", v)}
    except (OSError, IndexError, ValueError):
        return None


def calibrate(records: str | Path, config: Mapping, device: str) -> dict[str, dict]:
    """Per rule, the factor on the modelled compute time (the estimate less the fixed cost)
    fitted on benchmark records: sum of measured (s - fixed cost) / sum of modelled, each
    record's job estimated under ``config`` (the profile of the run that wrote them)."""
    meas: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for f in sorted(Path(records).rglob("*.tsv")):
        rel = "results/benchmarks/" + f.relative_to(records).as_posix()
        hit = next(((r, m.groupdict()) for r, rx in _BENCH_RES if (m := rx.fullmatch(rel))), None)
        rec = read_benchmark(f)
        if hit is None or rec is None or "s" not in rec or hit[0].name in REPORT_RESOURCES:
            continue
        try:
            e = estimate(config, hit[0].name, hit[1], device)
        except (KeyError, ValueError):
            continue
        acc = meas[hit[0].name]
        acc[0] += max(rec["s"] - e.overhead, 0.05 * rec["s"])
        acc[1] += max(e.seconds - e.overhead, 1e-6)
        acc[2] += 1
    return {rule: {"factor": m / e, "records": n} for rule, (m, e, n) in meas.items() if e > 0}


# -- the plan ---------------------------------------------------------------------------------

def load_config(configfiles: Iterable[str | Path] = (), repo_root: str | Path = REPO_ROOT,
                check: bool = True) -> dict:
    """The config Snakemake runs with: config/config.yaml, the overlays merged key by key
    (Snakemake's update_config), the named collections replaced, the schema's defaults, and
    (``check``) :func:`autosparse.workflow_config.check_config`."""
    import yaml
    from snakemake.utils import update_config, validate

    root = Path(repo_root)
    cfg = yaml.safe_load((root / "config" / "config.yaml").read_text())
    overlays = []
    for f in configfiles:
        if not Path(f).is_file():
            raise FileNotFoundError(f"--configfile {str(f)!r}: no such file")
        overlays.append(yaml.safe_load(Path(f).read_text()) or {})
    for o in overlays:
        update_config(cfg, o)
    wc.replace_named_collections(cfg, overlays)
    validate(cfg, str(root / "config" / "schema.yaml"))
    if check:
        wc.check_config(cfg, root, cache=root / ".snakemake" / "autosparse-registries.json")
    return cfg


def critical_path(jobs: Mapping[tuple, Job], secs: Mapping[tuple, float]) -> tuple[float, list]:
    """Length and jobs of the longest chain of dependent jobs."""
    best: dict[tuple, tuple[float, tuple | None]] = {}

    def length(k: tuple) -> float:
        if k not in best:
            deps = [(length(d), d) for d in jobs[k].deps if d in jobs]
            top = max(deps, default=(0.0, None))
            best[k] = (top[0] + secs[k], top[1])
        return best[k][0]

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    if not jobs:
        return 0.0, []
    end = max(jobs, key=length)
    chain, k = [], end
    while k is not None:
        chain.append(k)
        k = best[k][1]
    return best[end][0], chain[::-1]


def make_plan(config: Mapping, target: str = "all", device: str | None = None, gpus: int = 1,
              records: str | Path | None = None, records_config: Mapping | None = None,
              done_root: str | Path | None = None) -> dict:
    """The cost plan as a dict (what ``plan --json`` prints)."""
    device = plan_device(config, device)
    if gpus < 1:
        raise ValueError(f"--gpus must be >= 1, got {gpus!r}")
    jobs = plan_jobs(config, target)
    if done_root is not None:
        jobs = skip_done(jobs, done_root)
    factors = {}
    if records is not None and Path(records).is_dir():
        factors = calibrate(records, records_config or config, device)
    per_job, secs = [], {}
    rules: dict[str, dict] = {}
    for k, j in jobs.items():
        e = estimate(config, j.rule, j.wildcards, device)
        fac = factors.get(j.rule, {}).get("factor", 1.0)
        s = e.overhead + fac * (e.seconds - e.overhead)
        secs[k] = s
        res = (job_resources(config, j.rule, j.wildcards, device=device)
               if j.rule != "all" else {"runtime": 0, "mem_mb": 0})
        per_job.append({"rule": j.rule, "wildcards": j.wildcards, "seconds": s, "flops": e.flops,
                        "kind": e.kind, "threads": e.threads, "mem_mb_estimate": e.mem_mb,
                        "disk_bytes": e.disk, **res})
        a = rules.setdefault(j.rule, {"jobs": 0, "kind": e.kind, "seconds": 0.0,
                                      "device_seconds": 0.0, "flops": 0.0, "disk_bytes": 0,
                                      "job_seconds": [], "runtime": [], "mem_mb": [],
                                      "over_cap": 0})
        a["jobs"] += 1
        a["seconds"] += s
        a["device_seconds"] += s * e.threads
        a["flops"] += e.flops
        a["disk_bytes"] += e.disk
        a["job_seconds"].append(s)
        a["runtime"].append(res["runtime"])
        a["mem_mb"].append(res["mem_mb"])
        stage = RULES[j.rule].stage if j.rule in RULES else None
        if stage and s * float((config.get("plan") or {}).get("runtime_safety", RUNTIME_SAFETY)) \
                > 60 * int(config[stage].get("runtime") or 1e9) and not (
                    j.rule in ("irp", "train_dense", "retrain")
                    and config[stage].get("max_runtime")):
            a["over_cap"] += 1
    out_rules = {}
    for name, a in rules.items():
        src = (f"records x{factors[name]['factor']:.3g} ({factors[name]['records']})"
               if name in factors else f"table {device}")
        out_rules[name] = {
            "jobs": a["jobs"], "kind": a["kind"], "hours": a["device_seconds"] / 3600,
            "flops": a["flops"], "disk_bytes": a["disk_bytes"], "source": src,
            "job_seconds": [min(a["job_seconds"]), max(a["job_seconds"])],
            "runtime": [min(a["runtime"]), max(a["runtime"])],
            "mem_mb": [min(a["mem_mb"]), max(a["mem_mb"])], "over_runtime_cap": a["over_cap"]}
    kind = DEVICES[device]["kind"]
    dev_s = sum(a["device_seconds"] for a in rules.values() if a["kind"] == kind)
    cpu_s = sum(a["device_seconds"] for a in rules.values() if a["kind"] == "cpu")
    cp, chain = critical_path(jobs, secs)
    wall = max(dev_s / gpus, cp)
    warnings = [f"{n}: {a['over_runtime_cap']} job(s) estimated over the runtime cap "
                f"({RULES[n].stage}.runtime = {config[RULES[n].stage]['runtime']} min) "
                + ("with no max_runtime budget: SLURM would stop them; set "
                   f"{RULES[n].stage}.max_runtime and retries, or a larger runtime"
                   if n in ("irp", "train_dense", "retrain") else
                   "and no budget to resume from: raise the cap")
                for n, a in out_rules.items() if a["over_runtime_cap"]]
    return {
        "profile": config.get("profile"), "target": target, "device": device,
        "device_what": DEVICES[device]["what"], "device_kind": kind, "gpus": gpus,
        "jobs": len(jobs), "rules": out_rules,
        "total": {"hours": dev_s / 3600, "cpu_hours": cpu_s / 3600 if kind != "cpu" else 0.0,
                  "flops": sum(a["flops"] for a in rules.values()),
                  "disk_bytes": sum(a["disk_bytes"] for a in rules.values())},
        "wall": {"hours": wall / 3600, "total_over_n_hours": dev_s / gpus / 3600,
                 "critical_path_hours": cp / 3600,
                 "critical_path": [f"{jobs[k].rule} {jobs[k].label()} ({_dur(secs[k])})"
                                   for k in chain if jobs[k].rule != "all"]},
        "requests": {"runtime_safety": float((config.get("plan") or {}).get(
            "runtime_safety", RUNTIME_SAFETY)), "mem_safety": float((config.get("plan") or {}).get(
                "mem_safety", MEM_SAFETY)), "device": plan_device(config)},
        "records": {"dir": str(records) if records else None,
                    "rules": sorted(factors)},
        "warnings": warnings, "per_job": per_job,
    }


# -- output -----------------------------------------------------------------------------------

RULE_ORDER = ["irp", "survival", "scorer", "score", "prune", "train_dense", "retrain", "table",
              "figure", "claims", "all"]


def _dur(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"


def _bytes(b: float) -> str:
    for unit, f in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= f:
            return f"{b / f:.1f} {unit}"
    return f"{b:.0f} B"


def _span(lo, hi, fmt=str) -> str:
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}-{fmt(hi)}"


def format_plan(p: Mapping, per_job: bool = False) -> str:
    unit = "GPU" if p["device_kind"] == "gpu" else "CPU"
    rec = p["records"]
    lines = [
        f"Cost plan: profile {p['profile']}, target {p['target']}, {p['jobs']} jobs, "
        f"device {p['device']} ({p['device_what']}), {p['gpus']} at once",
        "Throughput: " + (f"benchmark records in {rec['dir']} for {', '.join(rec['rules'])}; "
                          if rec["rules"] else "") + f"device table {p['device']} "
        "(autosparse/plan.py DEVICES, from benchmarks/RESULTS.md)",
        f"Requests: SLURM runtime = {p['requests']['runtime_safety']:g} x estimate, mem_mb = "
        f"{p['requests']['mem_safety']:g} x estimate on device {p['requests']['device']}, "
        "capped by <stage>.runtime / mem_mb",
        "",
        f"{'rule':<12} {'jobs':>5} {'on':>3} {unit + '-h' if unit else 'h':>9} {'per job':>17} "
        f"{'runtime (min)':>14} {'mem_mb':>12} {'disk':>9}",
    ]
    order = [r for r in RULE_ORDER if r in p["rules"]] + sorted(set(p["rules"]) - set(RULE_ORDER))
    for name in order:
        a = p["rules"][name]
        on = "GPU" if a["kind"] == "gpu" else "CPU"
        lines.append(
            f"{name:<12} {a['jobs']:>5} {on:>3} {a['hours']:>9.2f} "
            f"{_span(*a['job_seconds'], _dur):>17} {_span(*a['runtime']) if name != 'all' else '-':>14} "
            f"{_span(*a['mem_mb']) if name != 'all' else '-':>12} {_bytes(a['disk_bytes']):>9}")
    t, wall = p["total"], p["wall"]
    extra = f" + CPU {t['cpu_hours']:.2f} h" if p["device_kind"] == "gpu" else ""
    lines += [
        f"{'total':<12} {p['jobs']:>5} {unit:>3} {t['hours']:>9.2f}{extra}, "
        f"{t['flops']:.3g} FLOP, disk {_bytes(t['disk_bytes'])}",
        "",
        f"Wall time on {p['gpus']} {unit}{'s' if p['gpus'] > 1 else ''}: >= {_dur(wall['hours'] * 3600)}"
        f" = max({unit}-hours / {p['gpus']} = {_dur(wall['total_over_n_hours'] * 3600)}, "
        f"critical path {_dur(wall['critical_path_hours'] * 3600)})",
        "Critical path:" + "".join(f"\n  {'-> ' if i else ''}{step}"
                                   for i, step in enumerate(wall["critical_path"])),
    ]
    if p["warnings"]:
        lines += ["", "Warnings:", *(f"  {w}" for w in p["warnings"])]
    if per_job:
        lines += ["", f"{'rule':<12} {'estimate':>10} {'runtime':>8} {'mem_mb':>7}  wildcards"]
        for j in sorted(p["per_job"], key=lambda j: (RULE_ORDER.index(j["rule"])
                                                      if j["rule"] in RULE_ORDER else 99,
                                                      sorted(j["wildcards"].items()))):
            wcs = " ".join(f"{k}={v}" for k, v in j["wildcards"].items())
            lines.append(f"{j['rule']:<12} {_dur(j['seconds']):>10} {j['runtime']:>8} "
                         f"{j['mem_mb']:>7}  {wcs}")
    return "\n".join(lines)


# -- CLI --------------------------------------------------------------------------------------

def _cmd_plan(args: argparse.Namespace) -> int:
    config = load_config(args.configfile or [])
    check_target(config, args.target)  # before any work
    device = plan_device(config, args.device)
    records = None if args.benchmarks == "none" else args.benchmarks
    records_config = (load_config(args.benchmarks_configfile, check=False)
                      if args.benchmarks_configfile else None)
    p = make_plan(config, args.target, device, args.gpus, records, records_config,
                  "." if args.skip_done else None)
    if not args.per_job:
        p = {k: v for k, v in p.items() if k != "per_job"}
    print(json.dumps(p, indent=1) if args.json else format_plan(p, args.per_job))
    return 0


def register_cli(sub) -> None:
    p = sub.add_parser(
        "plan", help="cost plan before a run: jobs, GPU-hours, wall time, disk, SLURM requests",
        description="Print the cost plan of a Snakemake target for a profile: jobs per rule, "
                    "estimated compute (from FLOPs and a calibrated device throughput), wall time "
                    "on N devices, the disk the artifacts take, and each job's SLURM runtime and "
                    "mem_mb request (the rules' own). Nothing is run.")
    p.add_argument("--configfile", nargs="+", action="extend", metavar="FILE",
                   help="profile overlays on config/config.yaml, as snakemake --configfile "
                        "(e.g. config/paper.yaml); none: the quick profile")
    p.add_argument("--target", default="all",
                   help="what to plan: all, claims, or an output path such as "
                        "results/table4.csv or results/figures/fig3.png (default: %(default)s)")
    p.add_argument("--gpus", type=int, default=1, metavar="N",
                   help="devices running jobs at once, for the wall time (GPUs; with --device "
                        "cpu: cores) (default: %(default)s)")
    p.add_argument("--device", choices=sorted(DEVICES), default=None,
                   help="device whose calibrated throughput the plan uses: "
                        + ", ".join(f"{k} ({v['what']})" for k, v in sorted(DEVICES.items()))
                        + " (default: the profile's plan.device, else h100 when gpus_per_job "
                          "is 1, else cpu)")
    p.add_argument("--benchmarks", default="results/benchmarks", metavar="DIR",
                   help="Snakemake benchmark records of an earlier run: rules with records get "
                        "their compute time scaled by the measured / modelled ratio; none: the "
                        "device table only (default: %(default)s, when it exists)")
    p.add_argument("--benchmarks-configfile", nargs="+", action="extend", metavar="FILE",
                   help="the profile overlays of the run that wrote those records (default: "
                        "the planned profile)")
    p.add_argument("--skip-done", action="store_true",
                   help="leave out jobs whose outputs exist in results/ (and whose inputs are "
                        "not rebuilt); default: plan from empty")
    p.add_argument("--per-job", action="store_true",
                   help="also list every job: estimate, runtime and mem_mb request, wildcards")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=_cmd_plan)
