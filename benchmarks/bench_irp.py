"""IRP cost: overhead beyond training (scoring, pruning, rewinding, writing, checkpoints) as a share
of iteration time, and store size in bytes per weight-iteration (AutoS Alg. 2 on LeNet-300-100).

Reference in the same process: plain ``train()`` under each iteration's mask, no checkpoint.
Goals: overhead <= 5 %, masks <= 0.15 bytes per weight-iteration.

    python benchmarks/bench_irp.py [--iterations 5] [--epochs 1] [--train-per-class 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from autosparse import irp
from autosparse.train import train


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet_300_100")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--criterion", default="snip")
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train-per-class", type=int, default=1000, help="0 = all")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2, help="alternating IRP/reference runs")
    ap.add_argument("--data-root", default=os.environ.get("AUTOSPARSE_DATA"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = irp.IRPConfig(model=a.model, dataset=a.dataset, criterion=a.criterion,
                        iterations=a.iterations, train_overrides={"epochs": a.epochs},
                        train_per_class=a.train_per_class or None)
    irp_runs, ref_runs = [], []
    with tempfile.TemporaryDirectory() as d:
        for rep in range(a.repeats):  # alternate IRP and reference; keep the fastest of each
            out = Path(d) / f"run{rep}.zarr"
            t0 = time.perf_counter()
            root = irp.run_irp(cfg, out, a.data_root, log=lambda m: None)
            wall = time.perf_counter() - t0
            irp_runs.append([t["total_s"] for t in root.attrs["timing"]])
            inloop = [t["total_s"] - t["train_s"] for t in root.attrs["timing"]]
            tr, te = irp.load_data(cfg, a.data_root)
            model = irp.init_model(cfg, tr.num_classes, tr.spec.input_shape)
            init = {k: v.clone() for k, v in model.state_dict().items()}
            ref = []
            for i in range(1, cfg.iterations + 1):
                irp.rewind(model, init)
                t = time.perf_counter()
                train(model, tr, te, cfg.train_config(i), masks=irp.read_masks(root, i - 1),
                      log=lambda m: None)
                ref.append(time.perf_counter() - t)
            ref_runs.append(ref)
        weights = sum(int(root["theta0"][k].size) for k in root.attrs["layers"])
        n = cfg.iterations
        mask_b, total_b = dir_bytes(out / "masks"), dir_bytes(out)
    irp_t = np.min(np.array(irp_runs), axis=0)
    ref = np.min(np.array(ref_runs), axis=0)
    irp_s = float(irp_t.sum())
    overhead = 1 - float(ref.sum()) / irp_s
    print(f"{a.model}/{a.dataset} {a.criterion} N={n} epochs={a.epochs} "
          f"train={len(tr)} weights={weights} threads={a.threads}")
    print(f"IRP wall {wall:.1f}s (last run); iterations {irp_s:.1f}s; plain training {ref.sum():.1f}s "
          f"(per-iteration minimum over {a.repeats} alternating repeats)")
    print(f"overhead beyond training: {100 * overhead:.2f} % of iteration time (goal <= 5 %)")
    print(f"  of which in-loop non-training (score+prune+commit): "
          f"{100 * sum(inloop) / sum(irp_runs[-1]):.2f} %")
    print(f"masks: {mask_b / (weights * n):.4f} bytes per weight-iteration (goal <= 0.15); "
          f"whole store {total_b / (weights * n):.4f} (theta0 + grad0 float32 included)")


if __name__ == "__main__":
    main()
