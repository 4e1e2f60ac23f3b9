"""Scoring cost of the beyond table's learned variants against PX (T = 100), issue 16.

The done-when of the issue asks the best learned variant to cost at most PX's scoring time at 100
rounds. This times ``prune``'s scoring time (scoring + top-k over every round) of PX and of each
variant on LeNet-300-100 / MNIST with the DAG's scoring batch (10 images per class), one CPU
thread, the median of ``--repeats`` calls per method, all in one process, and prints each as a
ratio to PX's. The ticket / law methods read a real IRP ticket (the cpu profile's run; build it
with ``snakemake --cores 2 results/irp/lenet_300_100-mnist-snip-n20-s0.zarr --configfile
config/cpu.yaml``). Reference for the within-layer selection: the stable full sort it replaced
(``--sorted-reference`` times ``ticket_synflow`` with it too; both give the same masks, asserted).

    .venv/bin/python benchmarks/bench_beyond.py
    .venv/bin/python benchmarks/bench_beyond.py --store <irp.zarr> --repeats 3 --sparsities 0.99
"""

from __future__ import annotations

import argparse
import platform
import statistics
from pathlib import Path
from unittest import mock

import torch

import autosparse
from autosparse.methods import ticket_density

STORE = "results/irp/lenet_300_100-mnist-snip-n20-s0.zarr"
METHODS = [("px", 100), ("synflow", 100), ("ticket_random", 1), ("law_random", 1),
           ("ticket_synflow", 100), ("law_synflow", 100), ("law_synflow", 10),
           ("ticket_px", 100), ("law_px", 100)]


def sorted_keep_scores(base, alive, keep):
    """The selection before: a stable descending sort of each layer's survivors (reference)."""
    out = {}
    for n, b in base.items():
        flat = b.detach().reshape(-1).to("cpu", torch.float64)
        idx = alive[n].reshape(-1).to("cpu").nonzero().reshape(-1)
        order = torch.argsort(flat[idx], descending=True, stable=True)
        m = idx.numel()
        vals = 0.5 * torch.arange(m, 0, -1, dtype=torch.float64) / max(m, 1)
        vals[: keep[n]] += 1.0
        s = torch.zeros_like(flat)
        s[idx[order]] = vals
        out[n] = s.reshape(b.shape)
    return out


def timed(model, method: str, sparsity: float, rounds: int, batch, repeats: int, **opts):
    times, masks = [], None
    for _ in range(repeats):
        masks, info = autosparse.prune(model, method, sparsity, data=[batch], rounds=rounds,
                                       return_info=True, **opts)
        times.append(info["scoring_time"])
    return statistics.median(times), masks


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default=STORE, help="IRP ticket (zarr) of LeNet-300-100 / MNIST")
    p.add_argument("--sparsities", nargs="+", type=float, default=[0.99, 0.995])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data-root", default=None)
    p.add_argument("--sorted-reference", action="store_true",
                   help="also time ticket_synflow with the full-sort selection it replaced")
    args = p.parse_args(argv)
    if not Path(args.store).exists():
        raise SystemExit(f"--store {args.store!r} does not exist: build the ticket first (see "
                         "this script's docstring)")
    torch.set_num_threads(1)
    sub = autosparse.load_dataset("mnist", "train", args.data_root, n_per_class=10, seed=0)
    batch = next(sub.batches(len(sub), "cpu"))
    model = autosparse.build_model("lenet_300_100", 10, seed=args.seed)
    autosparse.prune(model, "snip", 0.99, data=[batch])  # warm-up
    print(f"{platform.processor() or platform.machine()}, 1 thread, LeNet-300-100 / MNIST, "
          f"batch {tuple(batch[0].shape)}, median of {args.repeats}; ticket {args.store}")
    print("| sparsity | method | T | scoring time (s) | x PX (T = 100) |")
    print("| --- | --- | --- | --- | --- |")
    for s in args.sparsities:
        ref, _ = timed(model, "px", s, 100, batch, args.repeats)
        for m, t in METHODS:
            opts = {"store": args.store} if m.startswith(("ticket_", "law_")) else {}
            sec = ref if m == "px" else timed(model, m, s, t, batch, args.repeats, **opts)[0]
            print(f"| {s:g} | {m} | {t} | {sec:.3f} | {sec / ref:.2f}x |", flush=True)
        if args.sorted_reference:
            new, a = timed(model, "ticket_synflow", s, 100, batch, args.repeats,
                           store=args.store)
            with mock.patch.object(ticket_density, "layer_keep_scores", sorted_keep_scores):
                old, b = timed(model, "ticket_synflow", s, 100, batch, args.repeats,
                               store=args.store)
            assert all(torch.equal(a[n], b[n]) for n in a), "selection changed the masks"
            print(f"| {s:g} | ticket_synflow, full-sort selection (before) | 100 | {old:.3f} | "
                  f"{old / ref:.2f}x (now {new:.3f} s: {old / new:.2f}x faster) |", flush=True)


if __name__ == "__main__":
    main()
