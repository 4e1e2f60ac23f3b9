"""The cost model's calibration: per-method work, device throughputs and resident sizes measured
in benchmarks/RESULTS.md, and the bytes each artifact format takes on disk.

Every constant names the record it comes from; :func:`rates` derives per-device FLOP rates and
step floors from them with :mod:`.shapes`' FLOP counts (2 FLOPs per multiply-add; training = 3 x
forward). :mod:`.costs` turns them into one job's seconds, memory and disk.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping

from .shapes import Layer, net, scorer_net, target_net

# -- methods -----------------------------------------------------------------------------------

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
    # the density law (methods/density_law.py): likewise
    "law_random": {"passes": 0, "rounds": 1},
    "law_synflow": {"passes": 1, "rounds": 100, "batch": "one"},
    "law_px": {"passes": 2, "rounds": 100},
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
# the row, and its line there when written. Rates in FLOP/s are derived from them in rates()
# with .shapes' FLOP count (2 FLOPs per multiply-add; training = 3 x forward).
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
def rates(device: str) -> dict:
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


def plan_device(config: Mapping, device: str | None = None) -> str:
    """``device``, else the profile's ``plan.device``, else h100 for GPU jobs (gpus_per_job: 1)
    and cpu otherwise."""
    device = device or (config.get("plan") or {}).get("device") or (
        "h100" if config.get("gpus_per_job") else "cpu")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    return device


# -- storage formats (bytes on disk, file sizes) ----------------------------------------------

# Compressed size of a random bool mask, bits per weight, by density (the worst case: pruned
# masks have structure), measured on the real writers ("Cost plan calibration",
# benchmarks/RESULTS.md): mask stores (zarr's default zstd on bool bytes, store.write_mask_store)
# and IRP masks (blosc-zstd with bit-shuffle, artifacts.irp_store._codecs). Symmetric in d <-> 1 - d.
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
    the integrity record of every iteration (artifacts.irp_store.create_store, _commit)."""
    layers = list(layers)
    w = sum(la.weights for la in layers)
    masks = sum(w * mask_bits(d, IRP_MASK_BITS) / 8 for d in densities)
    meta = ZARR_STORE_META + 3 * ZARR_ARRAY_META * len(layers) + 120 * len(layers) * len(densities)
    return int(2 * FLOAT32_BYTES * w + masks + meta)

