"""Optimizer step on the CPU: torch's fused kernels (what training uses on the CPU, see
``autosparse.train.cpu_fused``) vs the per-tensor loop (torch's CPU default), same process.

    python benchmarks/bench_optimizer.py            # LeNet-300-100 and ResNet-18 (width 1/8)

Prints ms per step and the ratio; both paths give torch.optim's results (tests/test_train.py).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

import autosparse
from autosparse.train import SGD, Adam

NETS = {"lenet_300_100": (1.0, (1, 28, 28)), "resnet18": (0.125, (3, 32, 32))}
OPTIMIZERS = {"adam": (Adam, dict(lr=1e-3, weight_decay=5e-4)),
              "momentum": (SGD, dict(lr=0.01, momentum=0.9, weight_decay=5e-4))}


def ms_per_step(opt, steps: int) -> float:
    opt.step()  # creates the state
    t = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - t) / steps * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{a.threads} thread(s), torch {torch.__version__}")
    print(f"{'net':15s} {'optimizer':9s} {'params':>9s} {'loop ms':>8s} {'fused ms':>9s} ratio")
    for net, (width, shape) in NETS.items():
        model = autosparse.build_model(net, 10, width, shape, seed=0)
        params = list(model.parameters())
        g = torch.Generator().manual_seed(0)
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        n = sum(p.numel() for p in params)
        for name, (cls, kw) in OPTIMIZERS.items():
            loop = ms_per_step(cls(params, **kw), a.steps)
            fused = ms_per_step(cls(params, **kw, fused=True), a.steps)
            print(f"{net:15s} {name:9s} {n:9d} {loop:8.3f} {fused:9.3f} {loop / fused:.2f}x")


if __name__ == "__main__":
    main()
