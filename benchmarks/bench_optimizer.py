"""Optimizer step on the CPU: torch's fused kernels (what training uses on the CPU, see
``autosparse.training.cpu_fused``) vs the per-tensor loop (torch's CPU default), same process;
and, with ``--ref``, the trained weights of this tree against another's, bit for bit.

    python benchmarks/bench_optimizer.py            # LeNet-300-100 and ResNet-18 (width 1/8)
    python benchmarks/bench_optimizer.py --ref /path/to/old/tree

The first prints ms per step and the ratio. The second trains LeNet-300-100 under a random 80 %
mask on 2,000 MNIST images for 2 epochs with each optimizer of ``config/training.yaml`` (plain,
momentum and Nesterov SGD, Adam), in a fresh process per tree (``PYTHONPATH``), and compares the
SHA-256 of the weights and of the final checkpoint's optimizer state; then it stops a run of the
reference tree after epoch 1 (its checkpoint) and resumes it in this tree: the result must be the
uninterrupted run's, bit for bit. Exit status 1 when anything differs.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

NETS = {"lenet_300_100": (1.0, (1, 28, 28)), "resnet18": (0.125, (3, 32, 32))}
OPTIMIZERS = {"adam": ("Adam", dict(lr=1e-3, weight_decay=5e-4)),
              "momentum": ("SGD", dict(lr=0.01, momentum=0.9, weight_decay=5e-4))}

# One training run in a fresh process: argv = optimizer, data root, checkpoint, stop after epoch 1.
_RUN = """
import hashlib, json, sys, time
import torch
import autosparse
opt, root, ckpt, stop = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
train = autosparse.load_dataset("mnist", "train", root).subset(torch.arange(2000))
model = autosparse.build_model("lenet_300_100", 10, seed=0)
masks = autosparse.prune(model, "random", 0.8)
lr = {"adam": 1.2e-3}.get(opt, 0.05)
cfg = autosparse.preset("lenet_300_100", "mnist", optimizer=opt, lr=lr, epochs=2, batch_size=100,
                        device="cpu", progress=False, seed=0)
try:
    autosparse.train(model, train, None, cfg, masks=masks, checkpoint=ckpt, log=lambda m: None,
                     deadline=time.time() if stop else None)
except Exception as e:
    if getattr(e, "exit_status", None) != 75:
        raise
def digest(tensors):
    return hashlib.sha256(b"".join(t.detach().contiguous().numpy().tobytes()
                                   for t in tensors)).hexdigest()[:16]
state = torch.load(ckpt, weights_only=True)
o = state["optimizer"]
print(json.dumps({"weights": digest(model.state_dict().values()), "epoch": state["epoch"],
                  "optimizer": digest(t for s in o["state"].values() for t in s.values()),
                  "groups": repr(o["param_groups"])}))
"""


def run_in(tree: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _RUN, *args], cwd=tree, env=env,
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"run in {tree} failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.splitlines()[-1])
    res["groups"] = ast.literal_eval(res["groups"])  # compared by value: SGD's dampening 0 == 0.0
    return res


def parity(ref: Path, data_root: Path) -> bool:
    """Weights and optimizer state of this tree == the reference's; its checkpoint resumes here."""
    ok = True
    print(f"{'optimizer':9s} {'weights (this)':16s} {'weights (ref)':16s} same  optimizer-state "
          "same  ref epoch-1 checkpoint resumed here == uninterrupted")
    for opt in ("sgd", "momentum", "nesterov", "adam"):
        with tempfile.TemporaryDirectory() as tmp:
            this, theirs, half = (Path(tmp) / f"{k}.pt" for k in ("this", "ref", "half"))
            a = run_in(HERE, opt, str(data_root), str(this), "0")
            b = run_in(ref, opt, str(data_root), str(theirs), "0")
            stopped = run_in(ref, opt, str(data_root), str(half), "1")
            resumed = run_in(HERE, opt, str(data_root), str(half), "0")
        same = a == b
        resumes = stopped["epoch"] == 1 and resumed == b
        ok &= same and resumes
        print(f"{opt:9s} {a['weights']:16s} {b['weights']:16s} {str(same):5s} "
              f"{str(a['optimizer'] == b['optimizer']):21s} {resumes}")
    return ok


def ms_per_step(opt, steps: int) -> float:
    opt.step()  # creates the state
    t = time.perf_counter()
    for _ in range(steps):
        opt.step()
    return (time.perf_counter() - t) / steps * 1e3


def speed(steps: int) -> None:
    import torch

    import autosparse

    print(f"{'net':15s} {'optimizer':9s} {'params':>9s} {'loop ms':>8s} {'fused ms':>9s} ratio")
    for net, (width, shape) in NETS.items():
        model = autosparse.build_model(net, 10, width, shape, seed=0)
        params = list(model.parameters())
        g = torch.Generator().manual_seed(0)
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        n = sum(p.numel() for p in params)
        for name, (cls, kw) in OPTIMIZERS.items():
            cls = getattr(torch.optim, cls)
            loop = ms_per_step(cls(params, **kw), steps)
            fused = ms_per_step(cls(params, **kw, fused=True), steps)
            print(f"{net:15s} {name:9s} {n:9d} {loop:8.3f} {fused:9.3f} {loop / fused:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ref", type=Path, help="compare trained weights with this tree's")
    ap.add_argument("--data-root", type=Path,
                    default=Path(os.environ.get("AUTOSPARSE_DATA", HERE.parent / "shared" / "data")))
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{a.threads} thread(s), torch {torch.__version__}")
    if a.ref:
        sys.exit(0 if parity(a.ref.resolve(), a.data_root) else 1)
    speed(a.steps)


if __name__ == "__main__":
    main()
