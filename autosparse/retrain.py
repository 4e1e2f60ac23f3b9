"""Retraining stage: train a (pruned) network with the paper's hyperparameters, write metrics.

``autosparse train --model resnet18 --dataset cifar10 --mask results/masks/.../seed0.zarr``
rebuilds theta_0 from the model seed, applies the mask, trains with the preset of
``config/training.yaml`` (overridable) and writes one JSON metrics file.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

from .artifacts.metrics import write_metrics
from .data import load_dataset
from .masks import mask_stats
from .models import build_model, prunable_parameters
from .params import add_arguments, from_args
from .retrain_config import RetrainConfig
from .store import provenance, read_mask_store
from .train import preset, resolve_device, train
from .train_config import parse_overrides

STARTED = time.time()  # the job's start (this module is imported as the CLI starts)


def load_data(dataset: str, root=None, train_per_class: int | None = None,
              test_per_class: int | None = None, seed: int = 0):
    """Train and test splits, optionally class-balanced subsets (quick profiles)."""
    for name, n in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
        if n is not None and n < 1:
            raise ValueError(f"{name} must be >= 1 (or left out for the full split), got {n!r}")
    return (load_dataset(dataset, "train", root, n_per_class=train_per_class or None, seed=seed),
            load_dataset(dataset, "test", root, n_per_class=test_per_class or None, seed=seed))


def run_training(ns: argparse.Namespace) -> dict:
    """Train as the arguments say (:class:`RetrainConfig`; ``--mask``, ``--checkpoint``,
    ``--out``, ``--save-weights``, ``--data-root``, ``--max-runtime``); return the metrics."""
    stop_at = deadline(ns)
    args = from_args(RetrainConfig, ns)
    overrides = parse_overrides(args.set)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    overrides.setdefault("seed", args.seed)
    cfg = preset(args.model, args.dataset, **overrides)
    tr, te = load_data(args.dataset, ns.data_root, args.train_per_class, args.test_per_class,
                       args.seed)
    masks, mask_attrs = None, {}
    if ns.mask:
        masks, mask_attrs = read_mask_store(ns.mask)
    # theta_0 from the model seed, or from the mask's "reinit" ablation seed (pruning.py)
    model = build_model(args.model, tr.num_classes, args.width, tuple(tr.spec.input_shape),
                        seed=mask_attrs.get("init_seed", args.seed))
    result = train(model, tr, te, cfg, masks=masks, checkpoint=ns.checkpoint,
                   deadline=stop_at)
    final = {n: p.detach() != 0 for n, p in
             prunable_parameters(model).items()}
    metrics = {
        "model": args.model, "dataset": args.dataset, "width": args.width, "seed": args.seed,
        "mask": str(ns.mask) if ns.mask else None,
        "method": mask_attrs.get("method", "dense"),
        "requested_sparsity": mask_attrs.get("requested_sparsity", 0.0),
        "achieved_sparsity": mask_stats(final)["sparsity"],
        "test_accuracy": result.test_accuracy, "test_loss": result.test_loss,
        "wall_time": result.wall_time, "history": result.history,
        "train_size": len(tr), "test_size": len(te),
        "config": asdict(cfg), "device": str(resolve_device(cfg.device)),
        "host": platform.node(), **provenance(),
    }
    if getattr(ns, "save_weights", None):
        save_weights(model, ns.save_weights)
    if ns.out:
        write_metrics(ns.out, metrics)
    return metrics


def save_weights(model, path: str | Path) -> None:
    """The trained prunable weights as a state_dict of tensors (read back with
    ``torch.load(..., weights_only=True)``, e.g. by ``magnitude_after_training``), written
    atomically; the temp is not hidden, so the archive inside keeps its name (``<name>``)."""
    import torch

    from .artifacts.atomic import replace_file

    with replace_file(path, hidden=False) as tmp:
        torch.save({n: p.detach().cpu().clone() for n, p in prunable_parameters(model).items()},
                   tmp)


def deadline(args: argparse.Namespace) -> float | None:
    """``--max-runtime`` seconds from the job's start, as a ``time.time()`` deadline (0: none)."""
    if getattr(args, "max_runtime", None) is None:
        return None
    if args.max_runtime < 0:
        raise ValueError(f"--max-runtime must be >= 0 seconds (0: no budget), got "
                         f"{args.max_runtime!r}")
    if args.max_runtime == 0:
        return None
    return STARTED + args.max_runtime


def add_registry_args(p: argparse.ArgumentParser, dataset: str) -> None:
    """``--model --dataset`` with the registries' names in their help (``dataset``: what the
    dataset feeds in that command); the fields of
    :class:`~autosparse.retrain_config.NetworkConfig`."""
    from .data import DATASETS
    from .models import MODELS

    p.add_argument("--model", required=True,
                   help=f"network, a registered model: {', '.join(MODELS.names())}")
    p.add_argument("--dataset", required=True,
                   help=f"a registered dataset{dataset}: {', '.join(DATASETS.names())}")


def add_training_args(p: argparse.ArgumentParser) -> None:
    """The flags of :class:`~autosparse.retrain_config.RetrainConfig`, ``--data-root`` and
    ``--max-runtime`` (also the irp command's)."""
    add_registry_args(p, "")
    add_arguments(p, RetrainConfig, skip=("model", "dataset"))
    p.add_argument("--data-root", default=os.environ.get("AUTOSPARSE_DATA"),
                   help="dataset directory (default: $AUTOSPARSE_DATA, else data_root in "
                        "config/config.yaml)")
    p.add_argument("--max-runtime", type=float, default=None, metavar="SECONDS",
                   help="checkpoint and exit (status 75) before this time budget runs out; the "
                        "same command continues (needs --checkpoint for train, --work or --out "
                        "for irp); 0: no budget")


def register_cli(sub) -> None:
    p = sub.add_parser("train", help="train a dense or pruned network; write metrics JSON")
    add_training_args(p)
    p.add_argument("--mask", type=Path, default=None,
                   help="mask store (.zarr) to train under (default: dense)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="checkpoint file written each epoch; a rerun resumes from it")
    p.add_argument("--out", type=Path, default=None, help="metrics JSON path to write")
    p.add_argument("--save-weights", type=Path, default=None,
                   help="also write the trained prunable weights (state_dict .pt) here")
    p.set_defaults(func=lambda a: print(
        f"test accuracy {run_training(a)['test_accuracy']:.2f}%") or 0)
