"""Iterative rewind pruning (IRP): AutoS seed Sec. 4.2, Alg. 2; the LTH loop with any criterion.

theta_0 is drawn once and g_0 (the initial gradient on the pruning data) computed at theta_0. Then,
for i = 1..N: train theta_0 * m_{i-1} with the preset, score the *trained* weights with the
criterion (through the method registry: ``magnitude`` = LTH, ``snip`` = SNIP-iter, ``random``,
``grasp``, ...), keep the top ``d_i`` of the surviving weights (``d_i`` from the density schedule,
``d_N`` = final density), and rewind the survivors to theta_0.

The store the run fills (``results/irp/<run>.zarr``): its layout, commit protocol, readers and
learning check live in :mod:`autosparse.artifacts.irp_store` (re-exported here). A rerun trusts
only committed iterations and continues at ``c + 1`` (resume = uninterrupted, bit for bit on CPU);
training inside an iteration checkpoints each epoch to ``<store>.ckpt/iter<i>.pt``, so a kill
mid-training resumes mid-iteration. Under the DAG (``--work``) the partial store lives in a work
folder beside the output and is published complete.

g_0 (the paper is silent; METHODS.md on the authors' code): by default the **sum over batches of
the batch-mean cross-entropy gradient** of the first ``grad_batches`` (default 1, as the DAG; None:
the whole training set, or training subset when ``train_per_class`` is set) batches of 128, in
order, BatchNorm in **eval** mode. ``grad_reduction="mean"`` and ``grad_bn_mode="train"`` change
it. The run's parameters are :class:`~autosparse.irp_config.IRPConfig` (re-exported here).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
import zarr
from torch import nn

from . import features
from .artifacts.atomic import IRP_STORE, publish_dir, writer_lock
from .artifacts.identity import config_hash
from .artifacts.irp_learning import LEARNED_RATIO, LEARNED_Z, above_chance, chance_attrs
from .artifacts.irp_store import _commit as _commit  # its old name here (tests/test_plan.py)
from .artifacts.irp_store import (  # the store's format: re-exported under its old home
    add_learning_attrs,
    commit_iteration,
    committed,
    create_store,
    export_mask,
    inspect_store,
    learning_check,
    open_store,
    read_layer,
    read_mask_history,
    read_masks,
    survival_counts,
    work_store,
)
from .data import ImageTensorDataset, class_balanced_subset
from .irp_config import GRAD_REDUCTIONS, IRPConfig
from .masks import Masks, is_nested, keep_count, topk_masks
from .methods import get_method, score
from .models import build_model, prunable_parameters
from .params import add_arguments, from_args
from .retrain import deadline
from .retrain import load_data as load_split_data
from .train import OutOfTime, format_duration, past_deadline, train

__all__ = [  # the IRP stage, and the store's names it re-exports
    "GRAD_REDUCTIONS", "LEARNED_RATIO", "LEARNED_Z", "IRPConfig", "above_chance", "chance_attrs",
    "commit_iteration", "committed", "config_from_args", "config_hash", "create_store",
    "export_mask", "init_model", "initial_gradient", "inspect_store", "learning_check",
    "load_data", "open_store", "prune_step", "read_layer", "read_mask_history", "read_masks",
    "register_cli", "rewind", "run_irp", "scoring_batches", "survival_counts", "work_store",
]


# --- building blocks -----------------------------------------------------------------------------


def load_data(cfg: IRPConfig, root=None) -> tuple[ImageTensorDataset, ImageTensorDataset]:
    """The run's train/test data (class-balanced subsets when configured)."""
    return load_split_data(cfg.dataset, root, cfg.train_per_class, cfg.test_per_class, cfg.seed)


def init_model(cfg: IRPConfig, num_classes: int, input_shape) -> nn.Module:
    """theta_0: the model drawn from ``cfg.seed`` (Kaiming init)."""
    return build_model(cfg.model, num_classes, cfg.width, tuple(input_shape), seed=cfg.seed)


def scoring_batches(cfg: IRPConfig, train_data: ImageTensorDataset) -> list:
    """One class-balanced batch (``score_per_class`` per class) of the training data."""
    sub = class_balanced_subset(train_data, cfg.score_per_class, cfg.seed)
    return [next(sub.batches(len(sub)))]


def initial_gradient(
    model: nn.Module, data: ImageTensorDataset, batch_size: int = 128,
    n_batches: int | None = None, reduction: str = "sum", bn_mode: str = "eval",
) -> dict[str, torch.Tensor]:
    """g_0 (Alg. 2 line 7): gradient of the batch-mean cross-entropy at theta_0, summed (or
    averaged) over the first ``n_batches`` in-order batches of ``data`` (all when None);
    :func:`autosparse.features.initial_gradient` over those batches, streamed."""
    total = math.ceil(len(data) / batch_size)
    n = total if n_batches is None else min(int(n_batches), total)
    device = next(model.parameters()).device
    batches = (b for _, b in zip(range(n), data.batches(batch_size, device)))
    return features.initial_gradient(model, batches, reduction, bn_mode)


def rewind(model: nn.Module, init_state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Reset every parameter and buffer to theta_0 (Alg. 2 line 13)."""
    model.load_state_dict(init_state)
    return model


def prune_step(
    trained: nn.Module, criterion: str, density: float, current: Masks, data,
    scope: str = "global", **options,
) -> tuple[Masks, dict[str, torch.Tensor]]:
    """Score the trained weights with ``criterion`` and keep the top ``density`` of all weights
    among the survivors of ``current`` (never reviving one). Returns (masks, scores)."""
    needs = get_method(criterion).needs_data
    s = score(trained, criterion, data if needs else None, masks=current, **options)
    return topk_masks(s, density, scope, current=current), s


# --- the loop ------------------------------------------------------------------------------------


def run_irp(
    cfg: IRPConfig, out: str | os.PathLike, data_root=None, log: Callable[[str], None] | None = None,
    stop_after: int | None = None, work: str | os.PathLike | None = None,
    deadline: float | None = None,
) -> zarr.Group:
    """Run (or resume) IRP into the store ``out``; returns the opened store. One writer per
    store (:func:`~autosparse.artifacts.atomic.writer_lock`): a second run on ``out`` is refused.

    Without ``work`` the partial store is ``out`` itself (a rerun continues it). With ``work``
    (the DAG: Snakemake deletes a failed job's output) it is :func:`work_store`, published to
    ``out`` once every iteration is committed; a rerun after a kill, time limit or preemption
    continues it. ``stop_after=k`` returns once iteration k is committed (tests resumption);
    past ``deadline`` (``time.time()``) it stops with :class:`~autosparse.train.OutOfTime` at the
    last epoch checkpoint or committed iteration.
    """
    with writer_lock(out):
        if work is None or Path(out).exists():
            return _run_irp(cfg, out, data_root, log, stop_after, deadline)
        staged = work_store(out, work, cfg)
        root = _run_irp(cfg, staged, data_root, log, stop_after, deadline)
        if committed(root) < cfg.iterations:
            return root
        publish_dir(staged, out, IRP_STORE)
        return open_store(out)


def _run_irp(cfg: IRPConfig, out: str | os.PathLike, data_root, log, stop_after,
             deadline: float | None) -> zarr.Group:
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out = Path(out)
    ident = config_hash(cfg.identity())
    if out.exists():
        root = open_store(out, "r+")
        if root.attrs.get("config_hash") != ident:
            raise ValueError(f"{out} holds a different run (config hash "
                             f"{root.attrs.get('config_hash')} != {ident}); choose another --out")
    train_data, test_data = load_data(cfg, data_root)
    model = init_model(cfg, train_data.num_classes, train_data.spec.input_shape)
    init_state = copy.deepcopy(model.state_dict())
    theta0 = {k: p.detach().clone() for k, p in prunable_parameters(model).items()}
    if not out.exists():
        t = time.perf_counter()
        grad0 = initial_gradient(model, train_data, cfg.grad_batch_size, cfg.grad_batches,
                                 cfg.grad_reduction, cfg.grad_bn_mode)
        log(f"g_0 on {len(train_data)} examples in {format_duration(time.perf_counter() - t)}")
        create_store(out, cfg, theta0, grad0, {"train_size": len(train_data),
                                               "test_size": len(test_data),
                                               **chance_attrs(len(test_data),
                                                               test_data.num_classes)})
    root = open_store(out, "r+")
    stored = read_layer(root, "theta0")
    if any(not torch.equal(stored[k], theta0[k].float()) for k in theta0):
        raise ValueError(f"theta0 in {out} differs from the model drawn with seed {cfg.seed}")
    ckdir = out.with_name(out.name + ".ckpt")
    for stale in out.glob("**/*.partial"):
        stale.unlink(missing_ok=True)
    start = committed(root)
    if start < cfg.iterations:
        add_learning_attrs(root, len(test_data), test_data.num_classes)
    if start >= cfg.iterations:
        log(f"{out}: all {cfg.iterations} iterations already committed")
    elif start:
        log(f"{out}: resuming at iteration {start + 1}/{cfg.iterations}")
    current = read_masks(root, start)
    densities = cfg.densities()
    batches = scoring_batches(cfg, train_data) if get_method(cfg.criterion).needs_data else None
    t_run = time.perf_counter()
    last = 0.0
    for i in range(start + 1, cfg.iterations + 1):
        if i > start + 1 and past_deadline(deadline, last):
            raise OutOfTime(f"time budget reached with iteration {i - 1}/{cfg.iterations} "
                            f"committed in {out}: run the same command again to continue")
        t0 = time.perf_counter()
        rewind(model, init_state)
        ck = ckdir / f"iter{i}.pt"
        res = train(model, train_data, test_data, cfg.train_config(i), masks=current,
                    checkpoint=ck, log=lambda m, i=i: log(f"iter {i}/{cfg.iterations}: {m}"),
                    deadline=deadline)
        t_train = time.perf_counter() - t0
        new, _ = prune_step(model, cfg.criterion, densities[i], current, batches, cfg.scope,
                            seed=cfg.score_seed(i))
        if not is_nested(new, current):
            raise RuntimeError(f"iteration {i}: mask not nested in iteration {i - 1}'s")
        kept = sum(int(m.sum()) for m in new.values())
        total = sum(m.numel() for m in new.values())
        if kept != keep_count(total, densities[i]):
            raise RuntimeError(f"iteration {i}: kept {kept} weights, expected "
                               f"{keep_count(total, densities[i])}")
        record = {"density": kept / total, "train_density": densities[i - 1],
                  "test_accuracy": res.test_accuracy, "test_loss": res.test_loss}
        commit_iteration(root, i, new, prunable_parameters(model) if cfg.save_trained else None,
                         {**record, "timing": {"train_s": t_train,
                                               "total_s": time.perf_counter() - t0}})
        shutil.rmtree(ckdir, ignore_errors=True)
        current = new
        dt = last = time.perf_counter() - t0
        eta = (time.perf_counter() - t_run) / (i - start) * (cfg.iterations - i)
        log(f"iter {i}/{cfg.iterations} density {record['density']:.4f} "
            f"(trained at {densities[i - 1]:.4f}: test acc {res.test_accuracy:.2f}%) "
            f"{format_duration(dt)} eta {format_duration(eta)}")
        if stop_after is not None and i >= stop_after:
            break
    return root


# --- CLI -----------------------------------------------------------------------------------------


def config_from_args(args: argparse.Namespace) -> IRPConfig:
    """The run the ``irp`` flags describe (flags generated from :class:`IRPConfig`)."""
    return from_args(IRPConfig, args)


def _cmd_irp(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    cfg.train_config(1)  # validate the preset and overrides before any work
    run_irp(cfg, args.out, args.data_root, work=args.work, deadline=deadline(args))
    return 0


def register_cli(sub) -> None:
    p = sub.add_parser("irp", help="iterative rewind pruning into a zarr store (Alg. 2)")
    add_arguments(p, IRPConfig)  # the run's parameters; below: where and how long the job runs
    p.add_argument("--data-root", default=os.environ.get("AUTOSPARSE_DATA"),
                   help="dataset directory (default: $AUTOSPARSE_DATA, else data_root in "
                        "config/config.yaml)")
    p.add_argument("--max-runtime", type=float, default=None, metavar="SECONDS",
                   help="checkpoint and exit (status 75) before this time budget runs out; the "
                        "same command continues (with --work or --out); 0: no budget")
    p.add_argument("--out", type=Path, required=True,
                   help="IRP store path (.zarr), e.g. results/irp/<run>.zarr")
    p.add_argument("--work", type=Path, default=None,
                   help="keep the partial store in this folder (keyed by the run's identity) and "
                        "publish --out when complete; a rerun resumes it (the DAG's rules)")
    p.set_defaults(func=_cmd_irp)

    q = sub.add_parser("inspect", help="summarise an IRP store")
    q.add_argument("store", type=Path, help="IRP store path (.zarr)")
    q.set_defaults(func=lambda a: print(inspect_store(a.store)) or 0)

    e = sub.add_parser("export-mask", help="write one IRP iteration's mask as a mask store")
    e.add_argument("store", type=Path, help="IRP store path (.zarr)")
    e.add_argument("--iteration", type=int, default=None,
                   help="mask index to export, 0 (dense) to N (default: the last committed "
                        "iteration)")
    e.add_argument("--out", type=Path, required=True, help="mask store path to write (.zarr)")
    e.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    it = committed(open_store(args.store)) if args.iteration is None else args.iteration
    export_mask(args.store, it, args.out)
    print(f"wrote {args.out} (iteration {it})")
    return 0
