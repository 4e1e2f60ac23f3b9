"""``python -m autosparse scorer-train``: train an AutoS scorer on survival datasets
(:func:`autosparse.scorer.train_scorer`) and save its checkpoint. The scorer's flags are generated
from :class:`~autosparse.scorer.config.TrainScorerConfig`; ``--data``, ``--threads`` and
``--out`` (inputs, job control, output) are this command's own."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..params import add_arguments, from_args
from .config import TrainScorerConfig


def run_cli(args: argparse.Namespace) -> int:
    import torch

    from .training import train_scorer

    cfg = from_args(TrainScorerConfig, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    scorer = train_scorer(args.data, cfg, args.out)
    last = scorer.history[-1]
    print(f"val spearman {last['val_spearman']:.4f}, val mse {last['val_mse']:.5f} -> {args.out}")
    return 0


def register_cli(sub) -> None:
    p = sub.add_parser("scorer-train", help="train an AutoS scorer on survival datasets")
    p.add_argument("--data", nargs="+", required=True, help="survival dataset directories")
    add_arguments(p, TrainScorerConfig)
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's own)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint path (.pt)")
    p.set_defaults(func=run_cli)
