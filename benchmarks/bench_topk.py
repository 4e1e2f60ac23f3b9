"""Exact top-k masks (issue 15): today's stable-sort rule vs the linear-time selection, side by side.

Scores are shaped like ResNet-18's prunable weights (11,164,352 of them): random float64 scores and
the magnitudes |theta_0| of a Kaiming-initialised network (float32, so with real ties). Both rules
must give the same masks bit for bit; this is asserted on every timed call. Timings are medians
over ``--repeats`` calls, on one CPU thread (``torch.set_num_threads(1)``), then on CUDA when
available (synchronised). Goal of the issue: >= 5x faster on CPU, <= 20 ms on a GPU.

    python benchmarks/bench_topk.py                          # CPU (+ CUDA when available)
    python benchmarks/bench_topk.py --repeats 9 --densities 0.2 0.05 0.01
    python benchmarks/bench_topk.py --no-cpu                 # CUDA only (benchmarks/gpu_check.sh)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from unittest import mock

import torch

import autosparse
from autosparse import masks as M
from autosparse.models import prunable_parameters

RULES = {"sort (today)": M._topk_flat_sorted, "select (new)": M.topk_flat}


def resnet18_scores() -> dict[str, dict[str, torch.Tensor]]:
    weights = prunable_parameters(autosparse.build_model("resnet18", 10, seed=0))
    gen = torch.Generator().manual_seed(0)
    return {
        "randn": {n: torch.randn(w.shape, generator=gen, dtype=torch.float64) for n, w in weights.items()},
        "|theta0|": {n: w.detach().abs() for n, w in weights.items()},
    }


def timed(fn: Callable[[], object], repeats: int, device: str) -> tuple[float, object]:
    """Median seconds of ``fn()`` over ``repeats`` calls, and its last result."""
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a.cpu(), b.cpu())
    return list(a) == list(b) and all(torch.equal(a[n].cpu(), b[n].cpu()) for n in a)


def side_by_side(label: str, calls: dict[str, Callable[[], object]], repeats: int,
                 device: str) -> None:
    for rule in calls if device == "cuda" else ["select (new)"]:  # warm-up (the CPU sort is slow)
        calls[rule]()
    res = {rule: timed(fn, repeats, device) for rule, fn in calls.items()}
    (t_ref, ref), (t_new, new) = res["sort (today)"], res["select (new)"]
    assert same(ref, new), f"masks differ: {label}"
    print(f"  {label:<44} sort {t_ref * 1e3:9.1f} ms   select {t_new * 1e3:8.1f} ms"
          f"   ratio {t_ref / t_new:6.1f}x   (masks equal)", flush=True)


def with_rule(rule: str, scores, density: float, scope: str):
    with mock.patch.object(M, "topk_flat", RULES[rule]):
        return M.topk_masks(scores, density, scope)


def bench(device: str, all_scores, densities, repeats: int) -> None:
    for kind, scores in all_scores.items():
        scores = {n: s.to(device) for n, s in scores.items()}
        flat = torch.cat([s.reshape(-1).to(torch.float64) for s in scores.values()])
        n = flat.numel()
        for d in densities:
            k = M.keep_count(n, d)
            side_by_side(f"{kind} d={d} selection only (k={k:,})",
                         {rule: partial(f, flat, k) for rule, f in RULES.items()},
                         repeats, device)
        d = densities[0]
        for scope in ("global", "local"):
            side_by_side(f"{kind} d={d} topk_masks {scope}",
                         {rule: partial(with_rule, rule, scores, d, scope) for rule in RULES},
                         repeats, device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--densities", type=float, nargs="+", default=[0.1, 0.01])
    ap.add_argument("--no-cuda", action="store_true")
    ap.add_argument("--no-cpu", action="store_true",
                    help="skip the CPU side (its 1-thread sorts take ~1-2 min)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    all_scores = resnet18_scores()
    n = sum(s.numel() for s in all_scores["randn"].values())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"load average {load}; ResNet-18 scores: {n:,} weights in {len(all_scores['randn'])} "
          f"layers; median of {args.repeats}")
    if not args.no_cpu:
        print("CPU, 1 thread:")
        bench("cpu", all_scores, args.densities, args.repeats)
    if torch.cuda.is_available() and not args.no_cuda:
        print(f"CUDA ({torch.cuda.get_device_name()}):")
        bench("cuda", all_scores, args.densities, args.repeats)
    else:
        print("CUDA: not available")


if __name__ == "__main__":
    main()
