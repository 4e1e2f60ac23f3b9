"""Every registered PaI method on LeNet-300-100 / real MNIST: prune theta_0 (seed 0) at 90, 95,
99, 99.5 % sparsity, retrain with the lenet_300_100/mnist preset (AutoS App. C) for ``--epochs``,
and report test accuracy per method x sparsity next to random pruning (and the dense net).

``magnitude_after_training`` prunes a dense net trained here with the same preset; ``lottery``
needs an IRP store of this model (``--irp-store``) and ``autos`` a scorer checkpoint
(``--scorer``); each is skipped without it.

    PYTHONPATH=. python benchmarks/pai_lenet_mnist.py --out results/pai_lenet_mnist.csv
    PYTHONPATH=. python benchmarks/pai_lenet_mnist.py --methods snip random --epochs 1  # check
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

import autosparse
from autosparse.masks import mask_stats
from autosparse.methods import get_method
from autosparse.retrain import load_data


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=None, help="default: all registered")
    p.add_argument("--sparsities", nargs="+", type=float, default=[0.9, 0.95, 0.99, 0.995])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-per-class", type=int, default=None, help="subset (quick checks)")
    p.add_argument("--irp-store", default=None, help="IRP store for the lottery method")
    p.add_argument("--scorer", default=None, help="AutoS scorer checkpoint for the autos method")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", type=Path, default=None, help="CSV of the results")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = args.methods or autosparse.list_methods()
    for m in methods:
        get_method(m)
    for s in args.sparsities:
        autosparse.masks.check_sparsity(s)
    for m, given, flag in (("lottery", args.irp_store, "--irp-store"),
                           ("autos", args.scorer, "--scorer")):
        if m in methods and not given:
            print(f"skipping {m}: no {flag} given")
            methods = [x for x in methods if x != m]
    if "random" not in methods:
        methods = ["random", *methods]

    tr, te = load_data("mnist", args.data_root, args.train_per_class, None, args.seed)
    cfg = autosparse.preset("lenet_300_100", "mnist", epochs=args.epochs, seed=args.seed,
                            progress=False)
    sub = autosparse.class_balanced_subset(tr, 10, seed=args.seed)
    batch = next(sub.batches(len(sub)))

    def theta0():
        return autosparse.build_model("lenet_300_100", tr.num_classes, 1.0, (1, 28, 28),
                                      seed=args.seed)

    rows = []
    dense = theta0()
    res = autosparse.train(dense, tr, te, cfg)
    rows.append({"method": "dense", "sparsity": 0.0, "achieved_sparsity": 0.0,
                 "test_accuracy": res.test_accuracy, "scoring_time": 0.0})
    print(f"dense: {res.test_accuracy:.2f}%", flush=True)
    extra = {"magnitude_after_training": {"trained": dense}, "lottery": {"store": args.irp_store},
             "autos": {"scorer": args.scorer}}
    for m in methods:
        for s in args.sparsities:
            model = theta0()
            t0 = time.perf_counter()
            try:
                masks = autosparse.prune(model, m, s, data=[batch], **extra.get(m, {}))
            except ValueError as e:  # e.g. lottery below the IRP store's final density
                print(f"{m} @ {s}: not applicable: {e}", flush=True)
                continue
            scoring = time.perf_counter() - t0
            res = autosparse.train(model, tr, te, cfg, masks=masks)
            rows.append({"method": m, "sparsity": s,
                         "achieved_sparsity": mask_stats(masks)["sparsity"],
                         "test_accuracy": res.test_accuracy, "scoring_time": scoring})
            print(f"{m} @ {s}: {res.test_accuracy:.2f}% (scoring {scoring:.1f}s)", flush=True)
    df = pd.DataFrame(rows)
    table = df[df.method != "dense"].pivot(index="method", columns="sparsity",
                                           values="test_accuracy")
    delta = table - table.loc["random"]
    print(f"\nLeNet-300-100 / MNIST, {args.epochs} epochs, seed {args.seed}; "
          f"dense {rows[0]['test_accuracy']:.2f}%")
    print("test accuracy (%):")
    print(table.round(2).to_string())
    print("minus random (points):")
    print(delta.round(2).to_string())
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(args.out)
    return df


if __name__ == "__main__":
    main()
