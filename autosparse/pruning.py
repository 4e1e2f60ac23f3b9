"""Pruning stage: prune theta_0 with a PaI method (optionally ablated), write a mask store.

``autosparse prune --model resnet20 --dataset cifar10 --seed 0 --method snip --sparsity 0.9
--out results/masks/.../seed0.zarr`` builds theta_0 = build_model(model, classes, width,
input_shape, seed), takes class-balanced scoring examples (``--n-per-class`` per class, seeded)
from the train split in batches of ``--batch-size`` (gradients summed over them), prunes, and
writes ``mask/<layer>`` (+ ``scores/<layer>`` with ``--save-scores``) and attrs (DESIGN.md, mask
store). Every argument is checked before any work.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .ablations import ABLATIONS, check_ablation, prune_ablated
from .data import class_balanced_subset, dataset_spec, load_dataset
from .masks import check_sparsity, mask_stats
from .methods import get_method
from .models import MODELS, build_model
from .retrain import parse_overrides
from .store import canonical_json, write_mask_store

REINIT_SEED_OFFSET = 1000  # default init seed of the "reinit" ablation: seed + 1000


def check_args(args: argparse.Namespace) -> dict:
    """Validate every argument (raising ValueError/KeyError naming it); return method options."""
    check_sparsity(args.sparsity)
    get_method(args.method)
    MODELS.get(args.model)
    dataset_spec(args.dataset)
    check_ablation(args.ablation)
    if args.scope not in ("global", "local"):
        raise ValueError(f"scope must be 'global' or 'local', got {args.scope!r}")
    if args.rounds is not None and args.rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {args.rounds!r}")
    if args.n_per_class < 1:
        raise ValueError(f"n-per-class must be >= 1, got {args.n_per_class!r}")
    if args.batch_size < 1:
        raise ValueError(f"batch-size must be >= 1, got {args.batch_size!r}")
    if args.ablation == "reinit" and args.ablation_seed == args.seed:
        raise ValueError(f"reinit needs an init seed other than --seed {args.seed}")
    if not args.width > 0:
        raise ValueError(f"width must be > 0, got {args.width!r}")
    return parse_overrides(args.set)


def run_prune(args: argparse.Namespace) -> dict:
    """Prune as the arguments say, write the mask store, return its attrs."""
    options = check_args(args)
    train_set = load_dataset(args.dataset, "train", args.data_root)
    model = build_model(args.model, train_set.num_classes, args.width,
                        tuple(train_set.spec.input_shape), seed=args.seed)
    sub = class_balanced_subset(train_set, args.n_per_class, seed=args.seed)
    batches = list(sub.batches(args.batch_size))
    ablation_seed = args.seed if args.ablation_seed is None else args.ablation_seed
    masks, _, info = prune_ablated(
        model, args.method, args.sparsity, args.ablation, data=batches, seed=ablation_seed,
        scope=args.scope, rounds=args.rounds, **options,
    )
    stats = mask_stats(masks)
    attrs = {
        "method": args.method, "requested_sparsity": float(args.sparsity),
        "achieved_sparsity": stats["sparsity"], "kept": stats["kept"], "total": stats["total"],
        "layer_density": stats["layer_density"], "collapsed": stats["collapsed"],
        "scoring_time": info["scoring_time"], "rounds": info["rounds"], "scope": args.scope,
        "model": args.model, "dataset": args.dataset, "width": args.width, "seed": args.seed,
        "n_per_class": args.n_per_class, "batch_size": args.batch_size, "ablation": args.ablation,
        "options": json.loads(canonical_json(options)),
    }
    if args.ablation == "shuffle":
        attrs["ablation_seed"] = ablation_seed
    if args.ablation == "reinit":
        # The retraining stage rebuilds theta_0 as build_model(..., seed=init_seed).
        init_seed = args.seed + REINIT_SEED_OFFSET if args.ablation_seed is None else ablation_seed
        attrs["init_seed"] = init_seed
    write_mask_store(args.out, masks, info["scores"] if args.save_scores else None, attrs)
    return attrs


def register_cli(sub) -> None:
    p = sub.add_parser("prune", help="prune theta_0 with a PaI method; write a mask store (zarr)")
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0, help="model seed (theta_0) and batch seed")
    p.add_argument("--method", required=True)
    p.add_argument("--sparsity", type=float, required=True, help="fraction pruned, in [0, 1)")
    p.add_argument("--scope", default="global", help="global or local (layer-wise) ranking")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default: the method's)")
    p.add_argument("--ablation", default=None, help=f"one of {', '.join(ABLATIONS)}")
    p.add_argument("--ablation-seed", type=int, default=None,
                   help="shuffle seed (default --seed) / reinit init seed (default --seed+1000)")
    p.add_argument("--n-per-class", type=int, default=10, help="scoring examples per class")
    p.add_argument("--batch-size", type=int, default=256,
                   help="scoring batch size: the examples are scored in batches of this size, "
                        "gradients summed (TinyImageNet's 2000 examples in one GraSP batch took "
                        "12 GB)")
    p.add_argument("--set", nargs="*", metavar="KEY=VALUE", help="method options (YAML values)")
    p.add_argument("--save-scores", action="store_true", help="also store the last scores")
    p.add_argument("--data-root", default=os.environ.get("AUTOSPARSE_DATA"))
    p.add_argument("--out", type=Path, required=True, help="mask store path (.zarr)")
    p.set_defaults(func=lambda a: print(
        "achieved sparsity {achieved_sparsity:.6f}, scoring {scoring_time:.2f}s".format(
            **run_prune(a))) or 0)
