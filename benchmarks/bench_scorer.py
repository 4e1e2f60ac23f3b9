"""AutoS scorer throughput: inference in weights/s and training in rows/s, cheap MLP scorer vs the
paper's ResNet-18 scorer (Table 7), in the same process.

Features are real: theta_0 and g_0 of a Kaiming-initialised network on a real scoring batch
(LeNet-300-100 / MNIST on CPU, ResNet-18 / CIFAR-10 with ``--device cuda``).

    python benchmarks/bench_scorer.py                       # CPU: cheap (goal >= 1e6 weights/s)
                                                            #      vs a narrow paper scorer
    python benchmarks/bench_scorer.py --data results/survival/<name>   # + training rows/s
    python benchmarks/bench_scorer.py --device cuda         # full paper scorer on a full
                                                            # ResNet-18's 11.2M weights
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

import autosparse
from autosparse import scorer as S
from autosparse.features import initial_features


def real_features(model_name: str, dataset: str, width: float, device: str) -> dict:
    ds = autosparse.load_dataset(dataset, "train")
    model = autosparse.build_model(model_name, ds.num_classes, width,
                                   tuple(ds.spec.input_shape), seed=0).to(device)
    sub = autosparse.class_balanced_subset(ds, 10, seed=0)
    return initial_features(model, list(sub.batches(len(sub), device)))


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def throughput(sc: S.Scorer, x: np.ndarray, batch_size: int, device: str, repeats: int = 1,
               amp: bool = False) -> float:
    """Weights/s of the scorer network over the rows of ``x`` (one warm-up batch first)."""
    sc.model.to(device).eval()
    xt = torch.from_numpy(x).to(device)
    with torch.no_grad(), torch.autocast(device.split(":")[0], torch.bfloat16, enabled=amp):
        sc.model(xt[:batch_size])
        sync(device)
        t = time.perf_counter()
        for _ in range(repeats):
            for i in range(0, len(xt), batch_size):
                sc.model(xt[i:i + batch_size])
        sync(device)
    return repeats * len(x) / (time.perf_counter() - t)


def stack(xs: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate(list(xs.values()))


def cpu_bench(args) -> None:
    feats = real_features("lenet_300_100", "mnist", 1.0, "cpu")
    n = sum(f["theta0"].numel() for f in feats.values())
    cheap = S.Scorer(S.init_scorer(S.TrainScorerConfig(arch="mlp")).eval(),
                     S.TrainScorerConfig(arch="mlp"))
    narrow_cfg = S.TrainScorerConfig(arch="resnet18", width=args.width, image_size=args.image_size)
    narrow = S.Scorer(S.init_scorer(narrow_cfg).eval(), narrow_cfg)
    full_cfg = S.TrainScorerConfig(arch="resnet18")
    full = S.Scorer(S.init_scorer(full_cfg).eval(), full_cfg)
    x = stack(cheap.features(feats))
    reps = max(1, args.cheap_rows // n)
    t = time.perf_counter()
    cheap.score_features(feats, args.batch_size)
    e2e = n / (time.perf_counter() - t)
    r_cheap = throughput(cheap, x, args.batch_size, "cpu", reps)
    r_narrow = throughput(narrow, x[:args.narrow_rows], 1024, "cpu")
    r_full = throughput(full, x[:args.full_rows], min(256, args.full_rows), "cpu")
    f_cheap = S.flops_per_weight(cheap.model, 2)
    f_narrow = S.flops_per_weight(narrow.model, 2)
    f_full = S.flops_per_weight(full.model, 2)
    print(f"host {platform.node()}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"features: LeNet-300-100 / MNIST, {n} weights (real theta_0, g_0)")
    print(f"cheap mlp          : {r_cheap:14,.0f} weights/s  ({f_cheap:,} FLOP/weight; "
          f"{reps * n:,} weights; goal >= 1,000,000) ")
    print(f"cheap mlp, end-to-end incl. normalisation: {e2e:,.0f} weights/s")
    print(f"paper resnet18 w={args.width:g} S={args.image_size}: {r_narrow:10,.0f} weights/s "
          f"({f_narrow:,} FLOP/weight, {args.narrow_rows} weights)")
    print(f"paper resnet18 full : {r_full:10,.1f} weights/s ({f_full:,} FLOP/weight, timed on "
          f"{args.full_rows} weights; 11.2M weights of a ResNet-18 would take "
          f"{11_164_352 / r_full / 3600:,.1f} h here, extrapolated)")
    print(f"ratio cheap / narrow paper: {r_cheap / r_narrow:,.0f}x, cheap / full paper: "
          f"{r_cheap / r_full:,.0f}x throughput; FLOP ratio full / cheap {f_full / f_cheap:,.0f}x")
    if args.data:
        for cfg in (S.TrainScorerConfig(arch="mlp", epochs=1, normalize="layer_standardize"),
                    S.TrainScorerConfig(arch="resnet18", width=args.width,
                                        image_size=args.image_size, epochs=1,
                                        normalize="layer_standardize")):
            sc = S.train_scorer(args.data, cfg, log=None)
            h = sc.history[-1]
            print(f"training {cfg.arch:8s} (w={cfg.width:g}): {h['train_rows'] / h['seconds']:,.0f} "
                  f"rows/s over {h['train_rows']:,} rows (one epoch, batch {cfg.batch_size})")
    else:
        print("training throughput: skipped (pass --data <survival dataset dir>)")


def cuda_bench(args) -> None:
    dev = args.device
    feats = real_features("resnet18", "cifar10", 1.0, dev)
    feats = {k: {**v, "theta0": v["theta0"].cpu(), "grad0": v["grad0"].cpu()}
             for k, v in feats.items()}
    n = sum(f["theta0"].numel() for f in feats.values())
    cheap_cfg, full_cfg = S.TrainScorerConfig(arch="mlp"), S.TrainScorerConfig(arch="resnet18")
    cheap = S.Scorer(S.init_scorer(cheap_cfg).eval(), cheap_cfg)
    full = S.Scorer(S.init_scorer(full_cfg).eval(), full_cfg)
    x = stack(full.features(feats))
    print(f"device {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"features: ResNet-18 / CIFAR-10, {n:,} weights (real theta_0, g_0)")
    r_cheap = throughput(cheap, x, 1 << 20, dev, repeats=3)
    print(f"cheap mlp: {r_cheap:,.0f} weights/s (all {n:,} weights x3): "
          f"{n / r_cheap:.3f} s per ResNet-18")
    m = min(args.max_weights, n)
    for amp in (False, True):
        torch.backends.cudnn.benchmark = True
        r = throughput(full, x[:m], args.cuda_batch, dev, amp=amp)
        what = "timed on all weights" if m == n else f"timed on {m:,} weights, extrapolated"
        print(f"paper resnet18 scorer ({'bf16 autocast' if amp else 'fp32/tf32'}): {r:,.0f} "
              f"weights/s -> {n / r:,.1f} s per ResNet-18 ({what}); cheap is {r_cheap / r:,.0f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default=None, help="survival dataset dir for training rows/s")
    p.add_argument("--batch-size", type=int, default=65536)
    p.add_argument("--cheap-rows", type=int, default=2_000_000)
    p.add_argument("--width", type=float, default=1 / 16)
    p.add_argument("--image-size", type=int, default=8)
    p.add_argument("--narrow-rows", type=int, default=8192)
    p.add_argument("--full-rows", type=int, default=256)
    p.add_argument("--max-weights", type=int, default=1_000_000, help="cuda: weights timed")
    p.add_argument("--cuda-batch", type=int, default=4096)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("AUTOSPARSE_DATA", os.path.join(os.path.dirname(__file__), "..", "..",
                                                          "shared", "data"))
    (cuda_bench if args.device.startswith("cuda") else cpu_bench)(args)


if __name__ == "__main__":
    main()
