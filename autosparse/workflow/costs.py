"""The cost model of one job: its seconds, FLOPs, memory and disk (:func:`estimate`), and the
SLURM ``runtime`` / ``mem_mb`` request the rules make from it (:func:`job_resources`).

Compute is counted in FLOPs from the layer shapes (:mod:`.shapes`; forward + backward = 3 x
forward per training image) at a device's calibrated rates (:mod:`.rates`), or scaled per rule by
factors fitted on the Snakemake benchmark records of an earlier run (:func:`calibrate`). Disk is
the artifacts' real storage formats (:mod:`.rates`' store sizes).
"""

from __future__ import annotations

import functools
import math
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..train_config import load_presets, parse_overrides
from . import paths as wp
from .args import capped, overrides, per_arch
from .jobs import RULES, match_benchmark
from .rates import (
    DEVICES,
    MEM_BYTES,
    SURVIVAL_ROW_BYTES,
    irp_store_bytes,
    mask_store_bytes,
    method_cost,
    plan_device,
    rates,
    score_store_bytes,
)
from .shapes import Net, dataset, scorer_net, target_net
from .stages import scored_variant, survival_inputs

# The report rules' requests (not from this model: a table, figure or ledger job is seconds of
# one CPU core); workflow/rules/report.smk asks for these through job_resources.
REPORT_RESOURCES = {"table": {"mem_mb": 1000, "runtime": 10},
                    "figure": {"mem_mb": 2000, "runtime": 10},
                    "claims": {"mem_mb": 2000, "runtime": 10}}
REPORT_SECONDS = 5.0  # a torch-free table job: 1.7 s mean (RESULTS.md, line 355); figures more


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
    vals = {**_presets()[key], **parse_overrides(overrides(c, model))}
    if c.get("epochs") is not None:
        vals["epochs"] = c["epochs"]
    classes, _, n_train, n_test = dataset(ds)
    train_pc, test_pc = capped(c, ds)
    return {"epochs": int(vals["epochs"]), "batch_size": int(vals.get("batch_size", 128)),
            "compile": bool(vals.get("compile", False)),
            "n_train": min(n_train, train_pc * classes) if train_pc else n_train,
            "n_test": min(n_test, test_pc * classes) if test_pc else n_test}



@dataclass
class Estimate:
    seconds: float       # wall time of the job on its device
    flops: float         # floating-point operations (2 per multiply-add)
    mem_mb: float        # peak resident memory on the host
    disk: int            # bytes of its outputs
    kind: str            # "gpu" or "cpu": what the job occupies
    threads: int = 1
    overhead: float = 0.0



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
    sn = scorer_net(s["arch"], s["inputs"], float(per_arch(c["width"], s["arch"], 1.0) or 1.0),
                    per_arch(c.get("image_size"), s["arch"]))
    return sn, s


def survival_rows(config: Mapping, survival: str) -> int:
    """Rows of a survival dataset: one per prunable weight of each source IRP store."""
    rows = 0
    for store in survival_inputs(config, survival):
        run = wp.parse_irp(Path(store).name.removesuffix(".zarr"))
        width = config.get("widths", {}).get(run["model"], 1.0)
        rows += target_net(run["model"], run["dataset"], width).weights
    return rows


def estimate(config: Mapping, rule: str, wildcards: Mapping, device: str | None = None) -> Estimate:
    """The cost model of one job of ``rule`` with ``wildcards`` (module docstring)."""
    r = rates(plan_device(config, device))
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
        scored = rule == "prune" and scored_variant(config, w["variant"])
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
        hit = match_benchmark(rel)
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

