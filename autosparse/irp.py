"""Iterative rewind pruning (IRP): AutoS seed Sec. 4.2, Alg. 2; the LTH loop with any criterion.

theta_0 is drawn once and g_0 (the initial gradient on the pruning data) computed at theta_0. Then,
for i = 1..N: train theta_0 * m_{i-1} with the preset, score the *trained* weights with the
criterion (through the method registry: ``magnitude`` = LTH, ``snip`` = SNIP-iter, ``random``,
``grasp``, ...), keep the top ``d_i`` of the surviving weights (``d_i`` from the density schedule,
``d_N`` = final density), and rewind the survivors to theta_0.

Store (``results/irp/<run>.zarr``, DESIGN.md): ``theta0/<layer>`` float32, ``grad0/<layer>`` float32,
``masks/<layer>`` bool ``[N+1, *shape]`` (index 0 = dense; one iteration per chunk; blosc-zstd with
bit-shuffle), optional ``trained/<layer>`` float32 ``[N+1, *shape]`` (index i = weights trained in
iteration i; index 0 unused). Attrs: ``config`` (the run's parameters), ``config_hash``,
``layers`` (order), ``completed_iterations``, ``density`` (per mask index 0..N, committed),
``train_density``/``test_accuracy``/``test_loss`` (per iteration 1..N: the network trained in
iteration i, i.e. under mask i-1), ``timing`` (per iteration, not part of the result), provenance.
Learning check (not part of the run identity): ``n_test`` (test images every accuracy is measured
on), ``num_classes``, ``chance`` (1 / num_classes, a fraction), and from iteration 1 on
``dense_test_accuracy`` (in %, = ``test_accuracy[0]``: the network trained under the dense mask)
and ``learned`` (:func:`learning_check`'s verdict). Scores of a run that never learned are noise.

Commit protocol (resume = uninterrupted, bit for bit on CPU): the store is created complete with
iteration 0 in a temp dir and renamed into place. Iteration i writes ``masks[i]`` (and
``trained[i]``) into the preallocated arrays, then rewrites the attrs with
``completed_iterations = i``: that single atomic ``zarr.json`` replace is the commit point. A rerun
trusts only committed iterations, reloads ``masks[c]`` and continues at ``c + 1``; chunks an
uncommitted iteration left behind are overwritten. Training inside an iteration checkpoints each
epoch to ``<store>.ckpt/iter<i>.pt``, so a kill mid-training resumes mid-iteration. Under the DAG
(``--work``) the partial store lives in a work folder beside the output and is published complete.

g_0 (the paper is silent; METHODS.md on the authors' code): by default the **sum over batches of
the batch-mean cross-entropy gradient**, over the whole training set (the training subset when
``train_per_class`` is set), batch size 128, in order, BatchNorm in **eval** mode. ``grad_batches``
(first n batches), ``grad_reduction="mean"`` and ``grad_bn_mode="train"`` change it.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import zarr
from torch import nn

from . import features
from .data import ImageTensorDataset, class_balanced_subset, dataset_spec
from .features import GRAD_REDUCTIONS
from .masks import Masks, density_schedule, is_nested, keep_count, topk_masks
from .methods import get_method, score
from .models import build_model, prunable_parameters
from .retrain import add_training_args, deadline
from .retrain import load_data as load_split_data
from .store import (
    DIGEST,
    INTEGRITY_ATTR,
    IRP_STORE,
    KIND_ATTR,
    MASK_STORE,
    DamagedArtifactError,
    array_digest,
    atomic_dir,
    check_replaceable,
    config_hash,
    integrity_record,
    provenance,
    publish_dir,
    read_array,
    verify_digest,
    verify_iteration,
    write_mask_store,
    writer_lock,
)
from .train import OutOfTime, TrainConfig, format_duration, past_deadline, preset, train
from .train_config import parse_overrides


@dataclass
class IRPConfig:
    """Parameters of one IRP run (their canonical JSON is the run's identity)."""

    model: str
    dataset: str
    criterion: str
    iterations: int = 20
    seed: int = 0  # theta_0 (model init)
    train_seed: int | None = None  # data order (+ random scores); None = seed
    width: float = 1.0
    final_density: float = 0.01
    schedule: str = "exponential"
    scope: str = "global"
    train_overrides: dict = field(default_factory=dict)  # preset fields, e.g. {"epochs": 2}
    train_per_class: int | None = None
    test_per_class: int | None = None
    score_per_class: int = 10  # class-balanced scoring batch for data-driven criteria
    grad_batches: int | None = None  # None = the whole training set
    grad_batch_size: int = 128
    grad_reduction: str = "sum"
    grad_bn_mode: str = "eval"
    save_trained: bool = False

    def __post_init__(self) -> None:
        get_method(self.criterion)  # unknown criterion -> error listing the valid ones
        if not isinstance(self.iterations, int) or self.iterations < 1:
            raise ValueError(f"iterations must be a positive int, got {self.iterations!r}")
        if not 0.0 < float(self.final_density) < 1.0:
            raise ValueError(f"final_density must lie in (0, 1), got {self.final_density!r}")
        density_schedule(self.final_density, self.iterations, self.schedule)
        if self.scope not in ("global", "local"):
            raise ValueError(f"scope must be 'global' or 'local', got {self.scope!r}")
        if self.grad_reduction not in GRAD_REDUCTIONS:
            raise ValueError(f"grad_reduction must be one of {GRAD_REDUCTIONS}, "
                             f"got {self.grad_reduction!r}")
        if self.grad_bn_mode not in ("train", "eval"):
            raise ValueError(f"grad_bn_mode must be 'train' or 'eval', got {self.grad_bn_mode!r}")
        if self.grad_batches is not None and self.grad_batches < 1:
            raise ValueError(f"grad_batches must be >= 1, got {self.grad_batches!r}")

    @property
    def data_seed(self) -> int:
        return self.seed if self.train_seed is None else self.train_seed

    def densities(self) -> list[float]:
        """Mask densities for indices 0..N (index 0 = dense)."""
        return [1.0, *density_schedule(self.final_density, self.iterations, self.schedule)]

    def train_config(self, iteration: int) -> TrainConfig:
        """Preset + overrides; iteration i trains with data-order seed ``data_seed*100003 + i``."""
        over = {**self.train_overrides, "seed": self.data_seed * 100003 + iteration}
        return preset(self.model, self.dataset, **over)

    def score_seed(self, iteration: int) -> int:
        """Seed option passed to the criterion (random scores): depends on theta_0's seed, the
        data seed and the iteration, so no two runs or iterations share random scores."""
        return (self.seed * 1_000_003 + self.data_seed) * 1_009 + iteration

    def identity(self) -> dict:
        return dataclasses.asdict(self)


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


# --- the store -----------------------------------------------------------------------------------


def _codecs():
    """blosc-zstd with bit-shuffle: bool masks cost ~1 bit per weight before compression."""
    from zarr.codecs import BloscCodec, BloscShuffle

    return [BloscCodec(cname="zstd", clevel=5, shuffle=BloscShuffle.bitshuffle)]


def _float_codecs():
    from zarr.codecs import BloscCodec, BloscShuffle

    return [BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.shuffle)]


def create_store(path: Path, cfg: IRPConfig, theta0: Mapping[str, torch.Tensor],
                 grad0: Mapping[str, torch.Tensor], meta: Mapping) -> None:
    """Create the complete store with iteration 0 committed (temp dir + rename), with the kind
    marker and the integrity record: digests of ``theta0``/``grad0`` and, per committed
    iteration, of its ``masks`` (and ``trained``) slices plus the kept count per layer."""
    n = cfg.iterations
    digests: dict[str, str] = {}
    with atomic_dir(path, IRP_STORE) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        for name, arrays in (("theta0", theta0), ("grad0", grad0)):
            sub = root.require_group(name)
            for k, v in arrays.items():
                a = v.detach().cpu().float().numpy()
                arr = sub.create_array(k, shape=a.shape, dtype="float32", chunks=a.shape,
                                       compressors=_float_codecs())
                arr[...] = a
                digests[f"{name}/{k}"] = array_digest(a)
        it0: dict[str, str] = {}
        kept0: dict[str, int] = {}
        masks = root.require_group("masks")
        trained = root.require_group("trained") if cfg.save_trained else None
        for k, v in theta0.items():
            shape = (n + 1, *v.shape)
            arr = masks.create_array(k, shape=shape, dtype="bool", chunks=(1, *v.shape),
                                     fill_value=False, compressors=_codecs())
            dense = np.ones(tuple(v.shape), dtype=bool)
            arr[0] = dense
            it0[f"masks/{k}"], kept0[k] = array_digest(dense), int(dense.size)
            if trained is not None:
                trained.create_array(k, shape=shape, dtype="float32", chunks=(1, *v.shape),
                                     fill_value=0.0, compressors=_float_codecs())
        root.attrs.update({
            "model": cfg.model, "dataset": cfg.dataset, "criterion": cfg.criterion,
            "N": n, "schedule": cfg.schedule, "seed": cfg.seed, "train_seed": cfg.data_seed,
            "final_density": cfg.final_density, "width": cfg.width,
            "config": cfg.identity(), "config_hash": config_hash(cfg.identity()),
            "layers": list(theta0), "schedule_densities": cfg.densities(),
            "completed_iterations": 0, "density": [1.0], "train_density": [],
            "test_accuracy": [], "test_loss": [], "timing": [], **dict(meta), **provenance(),
            KIND_ATTR: IRP_STORE,
            INTEGRITY_ATTR: {"hash": DIGEST, "arrays": digests, "iterations": [it0],
                             "kept": [kept0]},
        })


def open_store(path: str | os.PathLike, mode: str = "r") -> zarr.Group:
    """The IRP store at ``path``; FileNotFoundError when there is none, ValueError when it is
    another kind of artifact, :class:`~autosparse.store.DamagedArtifactError` when its metadata
    cannot be read."""
    path = Path(path)
    if not (path / "zarr.json").exists():
        held = ""
        if path.is_dir() and any(path.iterdir()):
            n = sum(len(f) for _, _, f in os.walk(path))
            held = f" (it holds {n} files, not an IRP store written by autosparse)"
        raise FileNotFoundError(f"no IRP store at {path}{held}")
    try:
        root = zarr.open_group(str(path), mode=mode)
    except (ValueError, OSError) as e:
        raise DamagedArtifactError(f"{path}: metadata unreadable ({type(e).__name__}: {e})") \
            from None
    kind = root.attrs.get(KIND_ATTR)
    if kind is not None and kind != IRP_STORE:
        raise ValueError(f"{path} is a {kind.replace('_', ' ')}, not an IRP store")
    return root


def _location(root: zarr.Group) -> str:
    """The path of an opened store, for messages."""
    return str(getattr(root.store, "root", root.store))


def committed(root: zarr.Group) -> int:
    return int(root.attrs["completed_iterations"])


def read_masks(root: zarr.Group, iteration: int) -> Masks:
    """Masks of a committed iteration, in layer order, verified against the digests recorded
    at its commit (:class:`~autosparse.store.DamagedArtifactError`)."""
    c = committed(root)
    if not 0 <= iteration <= c:
        raise ValueError(f"iteration {iteration} is not committed (completed: 0..{c})")
    path = _location(root)
    record = integrity_record(root, path)
    out = {}
    for k in root.attrs["layers"]:
        key = f"masks/{k}"
        a = read_array(root, key, path, iteration, f", iteration {iteration}")
        if record is not None:
            verify_iteration(a, record, path, key, iteration)
        out[k] = torch.from_numpy(a)
    return out


def read_layer(root: zarr.Group, group: str) -> dict[str, torch.Tensor]:
    """Arrays of ``group`` in layer order, verified: ``theta0``/``grad0`` whole, the per-iteration
    groups (``masks``, ``trained``) on their committed slices that have a digest."""
    path = _location(root)
    record = integrity_record(root, path)
    out = {}
    for k in root.attrs["layers"]:
        key = f"{group}/{k}"
        a = read_array(root, key, path)
        if record is not None:
            if group in ("masks", "trained"):
                for i in range(committed(root) + 1):
                    if group == "masks" or i > 0:
                        verify_iteration(a[i], record, path, key, i)
            else:
                verify_digest(a, record["arrays"].get(key), path, key)
        out[k] = torch.from_numpy(a)
    return out


def survival_counts(root: zarr.Group) -> dict[str, np.ndarray]:
    """Per weight, the number of pruning iterations 1..c survived: sum_i m_i (Eq. 4 before
    normalisation), over the committed iterations c (each slice verified as it is read)."""
    c = committed(root)
    path = _location(root)
    record = integrity_record(root, path)
    out = {}
    for k in root.attrs["layers"]:
        key = f"masks/{k}"
        try:
            total = np.zeros(root[key].shape[1:], dtype=np.int32)
        except KeyError:
            raise DamagedArtifactError(f"{path}: array {key}: missing") from None
        for i in range(1, c + 1):
            a = read_array(root, key, path, i, f", iteration {i}")
            if record is not None:
                verify_iteration(a, record, path, key, i)
            total += np.asarray(a, dtype=np.int32)
        out[k] = total
    return out


def _commit(root: zarr.Group, i: int, masks: Masks, trained: nn.Module | None,
            record: dict) -> None:
    """Write iteration i's arrays, then commit it with one attrs write (the commit point) that
    also records their digests (stores written before integrity records stay without)."""
    entry: dict[str, str] = {}
    kept: dict[str, int] = {}
    for k, m in masks.items():
        a = np.asarray(m.cpu().numpy(), dtype=bool)
        root["masks"][k][i] = a
        entry[f"masks/{k}"], kept[k] = array_digest(a), int(np.count_nonzero(a))
    if trained is not None and "trained" in root:
        params = prunable_parameters(trained)
        for k in masks:
            a = params[k].detach().float().cpu().numpy()
            root["trained"][k][i] = a
            entry[f"trained/{k}"] = array_digest(a)
    attrs = dict(root.attrs)
    attrs["completed_iterations"] = i
    if isinstance(attrs.get(INTEGRITY_ATTR), dict):
        integ = dict(attrs[INTEGRITY_ATTR])
        its, ks = list(integ.get("iterations") or [])[:i], list(integ.get("kept") or [])[:i]
        its += [None] * (i - len(its))  # never: iterations 0..i-1 are committed with digests
        ks += [None] * (i - len(ks))
        attrs[INTEGRITY_ATTR] = {**integ, "iterations": [*its, entry], "kept": [*ks, kept]}
    for key in ("density", "train_density", "test_accuracy", "test_loss", "timing"):
        attrs[key] = [*attrs[key], record[key]]
    if i == 1:  # iteration 1 trained the dense network: record whether it learned
        attrs["dense_test_accuracy"] = float(record["test_accuracy"])
        attrs["learned"] = learning_check(attrs)["learned"]
    root.attrs.put(attrs)


def export_mask(store: str | os.PathLike, iteration: int, out: str | os.PathLike) -> None:
    """Write the mask of a committed iteration as a mask store (for ``autosparse train --mask``).
    ``out`` may only replace a mask store (checked before reading)."""
    check_replaceable(out, MASK_STORE)
    root = open_store(store)
    masks = read_masks(root, iteration)
    a = root.attrs
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    write_mask_store(out, masks, attrs={
        "method": f"irp-{a['criterion']}", "requested_sparsity": 1 - a["density"][iteration],
        "achieved_sparsity": 1 - kept / total, "source": str(store), "iteration": iteration,
        "config": a["config"],
    })


# --- the loop ------------------------------------------------------------------------------------


def work_store(out: str | os.PathLike, work: str | os.PathLike, cfg: IRPConfig) -> Path:
    """Where a run with a work folder keeps its partial store: ``<work>/<name>-<identity hash>``,
    so state of another config is never picked up."""
    name = Path(out).name.removesuffix(".zarr")
    return Path(work) / f"{name}-{config_hash(cfg.identity())}.zarr"


def run_irp(
    cfg: IRPConfig, out: str | os.PathLike, data_root=None, log: Callable[[str], None] | None = None,
    stop_after: int | None = None, work: str | os.PathLike | None = None,
    deadline: float | None = None,
) -> zarr.Group:
    """Run (or resume) IRP into the store ``out``; returns the opened store. One writer per
    store (:func:`~autosparse.store.writer_lock`): a second run on ``out`` is refused.

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
                                               **_chance_attrs(len(test_data),
                                                               test_data.num_classes)})
    root = open_store(out, "r+")
    stored = read_layer(root, "theta0")
    if any(not torch.equal(stored[k], theta0[k].float()) for k in theta0):
        raise ValueError(f"theta0 in {out} differs from the model drawn with seed {cfg.seed}")
    ckdir = out.with_name(out.name + ".ckpt")
    for stale in out.glob("**/*.partial"):
        stale.unlink(missing_ok=True)
    start = committed(root)
    if start < cfg.iterations and "n_test" not in root.attrs:  # a store from before n_test
        extra = _chance_attrs(len(test_data), test_data.num_classes)
        if start >= 1:
            extra["dense_test_accuracy"] = float(root.attrs["test_accuracy"][0])
            extra["learned"] = learning_check({**dict(root.attrs), **extra})["learned"]
        root.attrs.update(extra)
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
        _commit(root, i, new, model if cfg.save_trained else None,
                {**record, "timing": {"train_s": t_train, "total_s": time.perf_counter() - t0}})
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


# --- did the network learn? ---------------------------------------------------------------------

LEARNED_Z = 3.0  # binomial standard errors above chance
LEARNED_RATIO = 1.5  # and at least this many times chance


def _chance_attrs(n_test: int, num_classes: int) -> dict:
    """The attrs the learning check needs, recorded when the store is created."""
    return {"n_test": int(n_test), "num_classes": int(num_classes),
            "chance": 1.0 / int(num_classes)}


def above_chance(accuracy: float, n_test: int | None, chance: float) -> tuple[bool, float]:
    """(learned, z) for an accuracy (fraction) measured on ``n_test`` images.

    z = (accuracy - chance) / sqrt(chance (1 - chance) / n_test); learned means z >= 3 AND
    accuracy >= 1.5 x chance. Unknown ``n_test`` (None or < 1): z is NaN and only the 1.5 x rule
    decides. A NaN accuracy never counts as learned.
    """
    if not math.isfinite(accuracy) or not 0.0 < chance < 1.0:
        return False, float("nan")
    eps = 1e-9  # accuracies are k / n in %: exact boundary cases must not fail on rounding
    ratio_ok = accuracy >= LEARNED_RATIO * chance - eps
    if not n_test or n_test < 1:
        return bool(ratio_ok), float("nan")
    z = (accuracy - chance) / math.sqrt(chance * (1.0 - chance) / n_test)
    return bool(z >= LEARNED_Z - eps and ratio_ok), float(z)


def _infer_num_classes(attrs: Mapping, notes: list[str]) -> int | None:
    if attrs.get("num_classes"):
        return int(attrs["num_classes"])
    name = attrs.get("dataset") or (attrs.get("config") or {}).get("dataset")
    try:
        n = int(dataset_spec(str(name)).num_classes)
    except (KeyError, TypeError, ValueError):
        notes.append(f"number of classes unknown (dataset {name!r})")
        return None
    notes.append(f"num_classes {n} from dataset {name}")
    return n


def _infer_n_test(attrs: Mapping, num_classes: int | None, notes: list[str]) -> int | None:
    if attrs.get("n_test"):
        return int(attrs["n_test"])
    if attrs.get("test_size"):
        notes.append("n_test from the test_size attr")
        return int(attrs["test_size"])
    per_class = (attrs.get("config") or {}).get("test_per_class")
    if per_class and num_classes:
        notes.append(f"n_test inferred as test_per_class x num_classes = "
                     f"{per_class} x {num_classes}")
        return int(per_class) * num_classes
    notes.append("test-set size unknown: z not computed, decided on the 1.5 x chance rule alone")
    return None


def learning_check(store: str | os.PathLike | zarr.Group | Mapping) -> dict:
    """Whether the IRP network learned: the dense network's test accuracy (iteration 1, full mask)
    against chance. ``store``: a path, an opened store, or its attrs.

    Returns ``dense_accuracy`` and ``chance`` as fractions, ``n_test`` (0 when unknown), ``z``,
    ``learned`` (see :func:`above_chance`) and a one-line ``message``. Stores written before the
    ``n_test``/``num_classes`` attrs get them inferred (said in the message); never raises on a
    readable store.
    """
    if isinstance(store, Mapping):
        attrs = store
    else:
        root = store if isinstance(store, zarr.Group) else open_store(store)
        attrs = dict(root.attrs)
    notes: list[str] = []
    num_classes = _infer_num_classes(attrs, notes)
    chance = float(attrs["chance"]) if attrs.get("chance") else (
        1.0 / num_classes if num_classes else float("nan"))
    n_test = _infer_n_test(attrs, num_classes, notes)
    accs = attrs.get("test_accuracy") or []
    if attrs.get("dense_test_accuracy") is not None:
        acc = float(attrs["dense_test_accuracy"]) / 100.0
    elif accs:
        acc = float(accs[0]) / 100.0
    else:
        acc = float("nan")
    learned, z = above_chance(acc, n_test, chance)
    on = f"{n_test} test images" if n_test else "an unknown number of test images"
    if not math.isfinite(acc):
        head = "no dense accuracy (no trained iteration committed, or none evaluated)"
        verdict = "cannot tell whether the network learned"
    else:
        head = f"dense accuracy {100 * acc:.1f} % on {on}, chance {100 * chance:.3g} %"
        verdict = ("clearly above chance" if learned else "NOT clearly above chance") + (
            f" (z={z:.1f})" if math.isfinite(z) else "")
    note = f" [store predates the learning-check attrs: {'; '.join(notes)}]" if notes else ""
    return {"dense_accuracy": acc, "n_test": int(n_test or 0), "chance": chance,
            "learned": learned, "z": z, "message": f"{head}: {verdict}{note}"}


# --- inspect -------------------------------------------------------------------------------------


def inspect_store(path: str | os.PathLike) -> str:
    """Human summary of an IRP store: per-iteration density/accuracy, per-layer survival."""
    root = open_store(path)
    a = root.attrs
    c = committed(root)
    lines = [f"IRP store {path}", f"  {a['model']} (width {a['width']}) / {a['dataset']}, "
             f"criterion {a['criterion']}, N={a['N']}, schedule {a['schedule']}, seed {a['seed']}, "
             f"train seed {a['train_seed']}, config {a['config_hash']}",
             f"  committed iterations: {c}/{a['N']}"]
    check = learning_check(a)
    lines.append(f"  {check['message']}")
    if not math.isfinite(check["dense_accuracy"]):
        lines.append("  WARNING: no dense test accuracy yet: cannot tell whether this IRP network "
                     "learned")
    elif not check["learned"]:
        lines.append("  WARNING: this IRP network did not learn (dense test accuracy not clearly "
                     "above chance): its survival scores are noise")
    lines.append(f"  {'iter':>4} {'density':>9} {'trained at':>10} {'test acc':>9}")
    lines.append(f"  {0:>4} {a['density'][0]:>9.4f} {'-':>10} {'-':>9}")
    for i in range(1, c + 1):
        lines.append(f"  {i:>4} {a['density'][i]:>9.4f} {a['train_density'][i - 1]:>10.4f} "
                     f"{a['test_accuracy'][i - 1]:>8.2f}%")
    counts = survival_counts(root)
    lines.append(f"  {'layer':<24} {'weights':>9} {'mean survived':>13} {'share at end':>12}")
    for k, cnt in counts.items():
        end = float(np.asarray(root["masks"][k][c]).mean())
        lines.append(f"  {k:<24} {cnt.size:>9} {cnt.mean():>13.3f} {end:>12.4f}")
    return "\n".join(lines)


# --- CLI -----------------------------------------------------------------------------------------


def config_from_args(args: argparse.Namespace) -> IRPConfig:
    overrides = parse_overrides(args.set)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    overrides.pop("seed", None)
    return IRPConfig(
        model=args.model, dataset=args.dataset, criterion=args.criterion,
        iterations=args.iterations, seed=args.seed, train_seed=args.train_seed, width=args.width,
        final_density=args.final_density, schedule=args.schedule, scope=args.scope,
        train_overrides=overrides, train_per_class=args.train_per_class,
        test_per_class=args.test_per_class, score_per_class=args.score_per_class,
        grad_batches=args.grad_batches, grad_reduction=args.grad_reduction,
        grad_bn_mode=args.grad_bn_mode, save_trained=args.save_trained,
    )


def _cmd_irp(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    cfg.train_config(1)  # validate the preset and overrides before any work
    run_irp(cfg, args.out, args.data_root, work=args.work, deadline=deadline(args))
    return 0


def register_cli(sub) -> None:
    from .cli import str2bool  # cli imports the stage modules: import it lazily
    from .masks import SCHEDULES
    from .methods import METHODS

    p = sub.add_parser("irp", help="iterative rewind pruning into a zarr store (Alg. 2)")
    add_training_args(p)
    p.add_argument("--criterion", required=True, metavar="METHOD",
                   help="pruning criterion applied to the trained weights each iteration, a "
                        f"registered method: {', '.join(METHODS.names())} (magnitude = LTH)")
    p.add_argument("--iterations", type=int, default=20,
                   help="N, the number of train-prune-rewind iterations (default: %(default)s)")
    p.add_argument("--train-seed", type=int, default=None,
                   help="data-order seed of the training runs (and of random scores) "
                        "(default: --seed)")
    p.add_argument("--final-density", type=float, default=0.01,
                   help="fraction of the weights kept after the last iteration, in (0, 1) "
                        "(default: %(default)s)")
    p.add_argument("--schedule", default="exponential", choices=sorted(SCHEDULES),
                   help="how the density falls from 1 to --final-density over the iterations "
                        "(default: %(default)s)")
    p.add_argument("--scope", default="global", choices=("global", "local"),
                   help="top-k over all layers together (global) or within each layer (local) "
                        "(default: %(default)s)")
    p.add_argument("--score-per-class", type=int, default=10,
                   help="examples per class in the scoring batch of data-driven criteria "
                        "(default: %(default)s)")
    p.add_argument("--grad-batches", type=int, default=None, metavar="N",
                   help="compute g_0 over the first N training batches of 128 (default: the "
                        "whole training set)")
    p.add_argument("--grad-reduction", default="sum", choices=GRAD_REDUCTIONS,
                   help="combine the per-batch mean gradients of g_0 by their sum or their mean "
                        "(default: %(default)s)")
    p.add_argument("--grad-bn-mode", default="eval", choices=("train", "eval"),
                   help="BatchNorm mode while computing g_0 (default: %(default)s)")
    p.add_argument("--save-trained", type=str2bool, default=False, metavar="BOOL",
                   help="also store each iteration's trained weights (true/false, default: "
                        "false)")
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
