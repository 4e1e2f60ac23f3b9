"""``python -m autosparse scorer-train``: train an AutoS scorer on survival datasets
(:func:`autosparse.scorer.train_scorer`) and save its checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .config import ARCHS, INPUTS, LOSSES, NORMALIZATIONS, TrainScorerConfig
from .training import train_scorer


def run_cli(args: argparse.Namespace) -> int:
    cfg = TrainScorerConfig(
        arch=args.arch, inputs=args.inputs, normalize=args.normalize, context=args.context,
        width=args.width, image_size=args.image_size, hidden=tuple(args.hidden),
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, loss=args.loss,
        val_percent=args.val_percent, train_percent=args.train_percent, seed=args.seed,
        shuffle_buffer=args.shuffle_buffer,
        device=args.device,
    ).validate()
    if args.threads:
        torch.set_num_threads(args.threads)
    scorer = train_scorer(args.data, cfg, args.out)
    last = scorer.history[-1]
    print(f"val spearman {last['val_spearman']:.4f}, val mse {last['val_mse']:.5f} -> {args.out}")
    return 0


def register_cli(sub) -> None:
    from ..cli import str2bool

    p = sub.add_parser("scorer-train", help="train an AutoS scorer on survival datasets")
    p.add_argument("--data", nargs="+", required=True, help="survival dataset directories")
    p.add_argument("--arch", choices=ARCHS, default="resnet18",
                   help="scorer network: the paper's encoder into a ResNet-18 or VGG-19 "
                        "backbone (Table 7), or an MLP on the features (default: %(default)s)")
    p.add_argument("--inputs", choices=sorted(INPUTS), default="param+grad",
                   help="per-weight input features: theta_0 (param), g_0 (grad) or both "
                        "(default: %(default)s)")
    p.add_argument("--normalize", choices=sorted(NORMALIZATIONS), default="none",
                   help="feature normalisation: none (raw, as the authors), per layer or per "
                        "network standardisation, or per-layer signed rank "
                        "(default: %(default)s)")
    p.add_argument("--context", type=str2bool, default=False, metavar="BOOL",
                   help="add layer context features fan_in, fan_out, kind, depth (mlp only; "
                        "true/false, default: false)")
    p.add_argument("--width", type=float, default=1.0,
                   help="backbone width multiplier, > 0 (default: %(default)s)")
    p.add_argument("--image-size", type=int, default=None, metavar="S",
                   help="encoded map size S (default: 32 for resnet18, 64 for vgg19; a multiple "
                        "of 32 for vgg19)")
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 64],
                   help="mlp hidden layer sizes (default: 64 64)")
    p.add_argument("--epochs", type=int, default=10,
                   help="training epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=1024,
                   help="rows per training batch (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.01,
                   help="Adam learning rate (default: %(default)s)")
    p.add_argument("--loss", choices=LOSSES, default="mse",
                   help="regression on the survival score (mse) or a pairwise ranking loss "
                        "(rank) (default: %(default)s)")
    p.add_argument("--val-percent", type=float, default=10.0,
                   help="percent of the rows held out for validation (by row hash), in (0, 100) "
                        "(default: %(default)s)")
    p.add_argument("--train-percent", type=float, default=100.0,
                   help="percent of the training rows used, in (0, 100] (hash subsample; quick "
                        "profiles) (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the scorer's init and the row shuffling (default: %(default)s)")
    p.add_argument("--shuffle-buffer", type=int, default=262144, metavar="ROWS",
                   help="rows shuffled together while streaming the data (default: %(default)s)")
    p.add_argument("--device", default="cpu",
                   help="torch device to train on, e.g. cpu, cuda, cuda:1 (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's own)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint path (.pt)")
    p.set_defaults(func=run_cli)
