"""Scoring wall time of every registered PaI method (cf. PX seed, Table 2).

ResNet-20 and ResNet-18 (CIFAR variants, full width) with a 10-per-class CIFAR-10 batch on the CPU
(or ``--device cuda``):
single-shot (T = 1) and, for iterative methods, ``--rounds`` rounds (default 100). Times are
``prune``'s scoring time (scoring + top-k over all rounds), the median of ``--repeats`` runs,
and the ratio to SNIP's single-shot time measured in the same process.

    PYTHONPATH=. python benchmarks/bench_scoring.py            # the full table (slow on CPU)
    PYTHONPATH=. python benchmarks/bench_scoring.py --measured-rounds resnet18=10

``--measured-rounds MODEL=K`` times ``K`` rounds instead of ``--rounds`` for that model and
extrapolates linearly through the single-shot time (``t(T) = t(1) + (T - 1) (t(K) - t(1)) / (K - 1)``):
every round scores the same dense-shaped network, so a round costs the same at any density. The
row says when a figure is extrapolated.
    PYTHONPATH=. python benchmarks/bench_scoring.py --quick    # narrow, 2 rounds: smoke check
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import autosparse
from autosparse.methods import get_method
from autosparse.train import resolve_device

SKIP = {"lottery": "needs an IRP store"}


def time_method(model, method, batch, rounds, repeats, **options) -> float:
    times = []
    for _ in range(repeats):
        _, info = autosparse.prune(model, method, 0.982, data=[batch], rounds=rounds,
                                   return_info=True, **options)
        times.append(info["scoring_time"])
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["resnet20", "resnet18"])
    p.add_argument("--methods", nargs="+", default=None, help="default: all registered")
    p.add_argument("--rounds", type=int, default=100, help="rounds of iterative methods")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--data-root", default=None)
    p.add_argument("--quick", action="store_true", help="width 0.125, 2 rounds (smoke check)")
    p.add_argument("--scorer", default=None,
                   help="AutoS scorer checkpoint for the autos row (skipped without one)")
    p.add_argument("--measured-rounds", nargs="*", default=[], metavar="MODEL=K",
                   help="time K rounds for MODEL and extrapolate to --rounds")
    args = p.parse_args(argv)
    measured = {}
    for item in args.measured_rounds:
        name, sep, k = item.partition("=")
        if not sep or not k.isdigit() or int(k) < 2:
            raise SystemExit(f"--measured-rounds: expected MODEL=K with K >= 2, got {item!r}")
        measured[name] = int(k)
    if args.quick:
        args.width, args.rounds = 0.125, 2
    torch.set_num_threads(args.threads)
    methods = args.methods or autosparse.list_methods()
    for m in methods:
        get_method(m)  # unknown names fail before any work
    # the 10-per-class subset is picked before any image is read (= class_balanced_subset)
    sub = autosparse.load_dataset("cifar10", "train", args.data_root, n_per_class=10, seed=0)
    device = resolve_device(args.device)
    batch = next(sub.batches(len(sub), device))
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU, {args.threads} thread(s)")
    print(f"{where}, batch {tuple(batch[0].shape)}, width {args.width}, "
          f"sparsity 98.2%, median of {args.repeats}")
    print(f"| model | method | T=1 (s) | vs SNIP | T={args.rounds} (s) | vs SNIP |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.models:
        model = autosparse.build_model(name, 10, args.width, (3, 32, 32), seed=0).to(device)
        time_method(model, "snip", batch, 1, 1)  # warm-up
        ref = time_method(model, "snip", batch, 1, args.repeats)
        for m in methods:
            skip = SKIP.get(m) or ("needs --scorer" if m == "autos" and not args.scorer else None)
            if skip:
                print(f"| {name} | {m} | skipped: {skip} | | | |")
                continue
            opts = {"trained": model} if m == "magnitude_after_training" else {}
            if m == "autos":
                opts = {"scorer": args.scorer}
            t0 = time.perf_counter()
            one = time_method(model, m, batch, 1, args.repeats, **opts)
            row = f"| {name} | {m} | {one:.3f} | {one / ref:.2f}x |"
            if get_method(m).rounds > 1:
                k = min(measured.get(name, args.rounds), args.rounds)
                many = time_method(model, m, batch, k, args.repeats, **opts)
                note = ""
                if k < args.rounds:
                    many = one + (args.rounds - 1) * (many - one) / (k - 1)
                    note = f" (est. from T={k})"
                row += f" {many:.3f}{note} | {many / ref:.2f}x |"
            else:
                row += " - | - |"
            print(row, f"(wall {time.perf_counter() - t0:.1f}s)", flush=True)


if __name__ == "__main__":
    main()
