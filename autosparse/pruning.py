"""Pruning stage: prune theta_0 with a PaI method (optionally ablated), write a mask store.

``autosparse prune --model resnet20 --dataset cifar10 --seed 0 --method snip --sparsity 0.9
--out results/masks/.../seed0.zarr`` builds theta_0 = build_model(model, classes, width,
input_shape, seed), takes class-balanced scoring examples (``--n-per-class`` per class, seeded)
from the train split in batches of ``--batch-size`` (gradients summed over them), prunes, and
writes ``mask/<layer>`` (+ ``scores/<layer>`` with ``--save-scores``) and attrs (DESIGN.md, mask
store). Every argument is checked before any work.

``--seed`` reaches every random choice: theta_0, which scoring examples are taken and their
order, the method's ``seed`` option (random scores, NTK-SAP noise, NPB tie-breaks; ``--set
seed=`` wins) and the shuffle draw (``--ablation-seed`` wins); the reinit draw uses the init seed
``--seed + 1000``. Seed 0 is the methods' default seed 0.

A single-shot method's scores do not depend on the sparsity: ``autosparse score ...`` (the same
arguments, no sparsity) writes them once to a score store, and ``prune --scores <store>``
thresholds them at any sparsity, with the same masks as a fresh scoring (AutoS: one pass of the
scorer network over every weight, not one per sparsity).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from .ablations import check_ablation, prune_ablated
from .data import dataset_spec, load_dataset
from .masks import check_sparsity, mask_stats
from .methods import get_method, score
from .models import MODELS, build_model
from .params import add_arguments, from_args
from .prune_config import PruneConfig, ScoreConfig
from .store import (
    MASK_STORE,
    SCORE_STORE,
    canonical_json,
    check_replaceable,
    read_score_store,
    write_mask_store,
    write_score_store,
)
from .train_config import parse_overrides
from .training import resolve_device

REINIT_SEED_OFFSET = 1000  # default init seed of the "reinit" ablation: seed + 1000
# What a score store and the prune job thresholding it must agree on.
SCORE_KEYS = ("method", "model", "dataset", "width", "seed", "n_per_class", "batch_size", "options")


def check_common_args(args: ScoreConfig) -> dict:
    """Check what ``prune`` and ``score`` share against the registries (the method and its
    options, the model, the dataset, the device; the rest: :class:`ScoreConfig`); return the
    method options."""
    method = get_method(args.method)
    MODELS.get(args.model)
    dataset_spec(args.dataset)
    resolve_device(args.device)
    options = parse_overrides(args.set)
    unknown = sorted(set(options) - set(method.options) - {"seed"})
    if unknown:
        raise ValueError(f"--set {unknown[0]}=: method {args.method!r} has no option "
                         f"{unknown[0]!r}; its options: {', '.join(sorted(method.options)) or 'none'}"
                         " (and seed)")
    if not isinstance(options.get("seed", 0), int):
        raise ValueError(f"--set seed= must be an integer, got {options['seed']!r}")
    return options


def check_args(args: PruneConfig, out: str | os.PathLike) -> dict:
    """Check every argument (raising ValueError/KeyError naming it; what needs no registry:
    :class:`PruneConfig`) and that ``out`` may be written; return the method options."""
    check_sparsity(args.sparsity)
    options = check_common_args(args)
    check_ablation(args.ablation)
    if args.scores is not None and not Path(args.scores).is_dir():
        raise FileNotFoundError(f"score store --scores {args.scores} not found")
    check_replaceable(out, MASK_STORE)  # before any scoring
    return options


def common_attrs(args: argparse.Namespace, options: dict) -> dict:
    return {"method": args.method, "model": args.model, "dataset": args.dataset,
            "width": args.width, "seed": args.seed, "n_per_class": args.n_per_class,
            "batch_size": args.batch_size, "options": json.loads(canonical_json(options))}


def theta0(args: argparse.Namespace):
    """theta_0 = build_model(model, classes, width, input_shape, seed) on ``--device``, with no
    data loaded (built on the CPU, so the same seed gives the same theta_0 on every device)."""
    spec = dataset_spec(args.dataset)
    return build_model(args.model, spec.num_classes, args.width, tuple(spec.input_shape),
                       seed=args.seed).to(resolve_device(args.device))


def scoring_batches(args: ScoreConfig | argparse.Namespace, data_root=None) -> list:
    """``n_per_class`` seeded examples of every class of the train split, in batches
    (``data_root``: else ``args.data_root``, else $AUTOSPARSE_DATA / the config's)."""
    root = data_root if data_root is not None else getattr(args, "data_root", None)
    sub = load_dataset(args.dataset, "train", root, n_per_class=args.n_per_class,
                       seed=args.seed)
    return list(sub.batches(args.batch_size))


def method_seed(args: argparse.Namespace, options: dict) -> int:
    """The method's ``seed`` option: ``--set seed=`` when given, else the run's ``--seed``."""
    return int(options.get("seed", args.seed))


def method_options(args: argparse.Namespace, options: dict) -> dict:
    """``options`` with :func:`method_seed` as ``seed`` for a method that has that option."""
    if "seed" not in get_method(args.method).options:
        return options
    return {**options, "seed": method_seed(args, options)}


def ablation_seed(args: argparse.Namespace) -> int:
    """Seed of the ablation draw: ``--ablation-seed``, else ``--seed`` (shuffle) or the init
    seed ``--seed + 1000`` (reinit: the weights the retraining stage builds)."""
    if args.ablation_seed is not None:
        return args.ablation_seed
    return args.seed + REINIT_SEED_OFFSET if args.ablation == "reinit" else args.seed


def load_scores(path: str | os.PathLike, expected: dict) -> tuple[dict, dict]:
    """(scores, attrs) of a score store, after checking it was made with ``expected``
    (SCORE_KEYS)."""
    scores, attrs = read_score_store(path)
    for key in SCORE_KEYS:
        if attrs.get(key) != expected[key]:
            raise ValueError(f"score store {path} has {key}={attrs.get(key)!r}, this job "
                             f"{expected[key]!r}")
    return scores, attrs


def run_prune(ns: argparse.Namespace) -> dict:
    """Prune as the arguments say (:class:`PruneConfig`; ``--out``, ``--data-root``,
    ``--save-scores``), write the mask store, return its attrs."""
    args = from_args(PruneConfig, ns)
    options = check_args(args, ns.out)
    model = theta0(args)
    common = common_attrs(args, options)
    if args.scores:
        scores, scored = load_scores(args.scores, common)
        given = {"scores": scores}
    else:
        scored, given = {}, {"data": scoring_batches(args, ns.data_root)}
    draw_seed = ablation_seed(args)
    masks, _, info = prune_ablated(
        model, args.method, args.sparsity, args.ablation, seed=method_seed(args, options),
        ablation_seed=draw_seed, scope=args.scope, rounds=args.rounds, **given,
        **{k: v for k, v in options.items() if k != "seed"},
    )
    stats = mask_stats(masks)
    attrs = {
        **common, "requested_sparsity": float(args.sparsity),
        "achieved_sparsity": stats["sparsity"], "kept": stats["kept"], "total": stats["total"],
        "layer_density": stats["layer_density"], "collapsed": stats["collapsed"],
        # with --scores: the score job's scoring time plus this job's thresholding
        "scoring_time": scored.get("scoring_time", 0.0) + info["scoring_time"],
        "rounds": info["rounds"], "scope": args.scope,
        "ablation": args.ablation,
    }
    if args.scores:
        attrs["scores_from"] = str(args.scores)
    if args.ablation == "shuffle":
        attrs["ablation_seed"] = draw_seed
    if args.ablation == "reinit":
        # The retraining stage rebuilds theta_0 as build_model(..., seed=init_seed).
        attrs["init_seed"] = draw_seed
    write_mask_store(ns.out, masks, info["scores"] if ns.save_scores else None, attrs)
    return attrs


def run_score(ns: argparse.Namespace) -> dict:
    """Score theta_0 once with a single-shot method (:class:`ScoreConfig`), write the score
    store at ``--out``, return its attrs."""
    args = from_args(ScoreConfig, ns)
    options = check_common_args(args)
    if get_method(args.method).rounds != 1:
        raise ValueError(f"method {args.method!r} is iterative: its scores depend on the sparsity")
    check_replaceable(ns.out, SCORE_STORE)
    model = theta0(args)
    batches = scoring_batches(args, ns.data_root)
    t0 = time.perf_counter()
    scores = score(model, args.method, batches, **method_options(args, options))
    attrs = {**common_attrs(args, options), "scoring_time": time.perf_counter() - t0}
    write_score_store(ns.out, scores, attrs)
    return attrs


def _common_arguments(p, cls: type, single_shot: bool = False) -> None:
    """The flags of ``cls`` (:class:`ScoreConfig` / :class:`PruneConfig`), with the registries'
    names in the help of --model, --dataset and --method, and --data-root."""
    from .methods import METHODS
    from .retrain import add_registry_args

    methods = [m for m in METHODS.names() if not single_shot or get_method(m).rounds == 1]
    add_registry_args(p, " (its classes and input shape build theta_0; its train split gives "
                         "the scoring examples)")
    p.add_argument("--method", required=True,
                   help=("a registered single-shot PaI method: " if single_shot else
                         "a registered PaI method: ") + ", ".join(methods))
    add_arguments(p, cls, skip=("model", "dataset", "method"))
    p.add_argument("--data-root", default=os.environ.get("AUTOSPARSE_DATA"),
                   help="dataset directory (default: $AUTOSPARSE_DATA, else data_root in "
                        "config/config.yaml)")


def register_cli(sub) -> None:
    p = sub.add_parser("score", help="score theta_0 with a single-shot method; write a score "
                                     "store (zarr) for prune --scores")
    _common_arguments(p, ScoreConfig, single_shot=True)
    p.add_argument("--out", type=Path, required=True, help="score store path (.zarr)")
    p.set_defaults(func=lambda a: print(
        "scoring {scoring_time:.2f}s".format(**run_score(a))) or 0)

    p = sub.add_parser("prune", help="prune theta_0 with a PaI method; write a mask store (zarr)")
    _common_arguments(p, PruneConfig)
    p.add_argument("--save-scores", action="store_true",
                   help="also store the (last round's) scores in the mask store")
    p.add_argument("--out", type=Path, required=True, help="mask store path (.zarr)")
    p.set_defaults(func=lambda a: print(
        "achieved sparsity {achieved_sparsity:.6f}, scoring {scoring_time:.2f}s".format(
            **run_prune(a))) or 0)
