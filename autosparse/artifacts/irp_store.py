"""The IRP store (``results/irp/<run>.zarr``, DESIGN.md): its writer, readers, integrity record,
mask export, learning check and summary. The IRP stage (:mod:`autosparse.irp`) fills it.

Layout: ``theta0/<layer>`` float32, ``grad0/<layer>`` float32, ``masks/<layer>`` bool
``[N+1, *shape]`` (index 0 = dense; one iteration per chunk; blosc-zstd with bit-shuffle),
optional ``trained/<layer>`` float32 ``[N+1, *shape]`` (index i = weights trained in iteration i;
index 0 unused). Attrs: ``config`` (the run's parameters), ``config_hash``, ``layers`` (order),
``completed_iterations``, ``density`` (per mask index 0..N, committed),
``train_density``/``test_accuracy``/``test_loss`` (per iteration 1..N: the network trained in
iteration i, i.e. under mask i-1), ``timing`` (per iteration, not part of the result), provenance.
Learning check (not part of the run identity): ``n_test`` (test images every accuracy is measured
on), ``num_classes``, ``chance`` (1 / num_classes, a fraction), and from iteration 1 on
``dense_test_accuracy`` (in %, = ``test_accuracy[0]``: the network trained under the dense mask)
and ``learned`` (:func:`learning_check`'s verdict). Scores of a run that never learned are noise.

Commit protocol (resume = uninterrupted, bit for bit on CPU): the store is created complete with
iteration 0 in a temp dir and renamed into place (:func:`create_store`). Iteration i writes
``masks[i]`` (and ``trained[i]``) into the preallocated arrays, then rewrites the attrs with
``completed_iterations = i`` (:func:`commit_iteration`): that single atomic ``zarr.json`` replace
is the commit point. Readers trust only committed iterations; chunks an uncommitted iteration left
behind are overwritten by the rerun. Integrity record (:func:`irp_integrity`): digests of
``theta0``/``grad0`` and, per committed iteration, of its slices plus the kept count per layer.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import zarr

from ..masks import Masks
from .atomic import IRP_STORE, KIND_ATTR, MASK_STORE, atomic_dir, check_replaceable
from .identity import config_hash, provenance
from .integrity import (
    INTEGRITY_ATTR,
    DamagedArtifactError,
    array_digest,
    integrity_record,
    new_record,
    read_array,
    read_verified,
    verify_iteration,
)
from .irp_learning import chance_attrs, learning_verdict
from .mask_store import write_mask_store


class RunConfig(Protocol):
    """What the store records of a run (:class:`autosparse.irp.IRPConfig`)."""

    model: str
    dataset: str
    criterion: str
    iterations: int
    seed: int
    width: float
    final_density: float
    schedule: str
    save_trained: bool

    @property
    def data_seed(self) -> int: ...

    def identity(self) -> dict: ...

    def densities(self) -> list[float]: ...


def _codecs():
    """blosc-zstd with bit-shuffle: bool masks cost ~1 bit per weight before compression."""
    from zarr.codecs import BloscCodec, BloscShuffle

    return [BloscCodec(cname="zstd", clevel=5, shuffle=BloscShuffle.bitshuffle)]


def _float_codecs():
    from zarr.codecs import BloscCodec, BloscShuffle

    return [BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.shuffle)]


# --- writer ----------------------------------------------------------------------------------------


def mask_digests(masks: Mapping[str, np.ndarray]) -> tuple[dict[str, str], dict[str, int]]:
    """(``{"masks/<layer>": digest}``, ``{layer: kept}``) of one iteration's mask slices."""
    digests, kept = {}, {}
    for k, a in masks.items():
        digests[f"masks/{k}"], kept[k] = array_digest(a), int(np.count_nonzero(a))
    return digests, kept


def irp_integrity(arrays: Mapping[str, str], history: Sequence[Mapping[str, np.ndarray]]) -> dict:
    """The integrity record of an IRP store: ``arrays`` (digests of its whole arrays, ``theta0``
    and ``grad0``) and, per committed iteration 0..c (``history``: its mask slices), the digests
    and kept counts of :func:`mask_digests` (:func:`commit_iteration` appends one per commit)."""
    entries = [mask_digests(h) for h in history]
    return new_record(arrays, iterations=[d for d, _ in entries], kept=[k for _, k in entries])


def create_store(path: Path, cfg: RunConfig, theta0: Mapping[str, torch.Tensor],
                 grad0: Mapping[str, torch.Tensor], meta: Mapping) -> None:
    """Create the complete store with iteration 0 (dense) committed (temp dir + rename), with
    the kind marker and the integrity record."""
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
        dense = {k: np.ones(tuple(v.shape), dtype=bool) for k, v in theta0.items()}
        masks = root.require_group("masks")
        trained = root.require_group("trained") if cfg.save_trained else None
        for k, v in theta0.items():
            shape = (n + 1, *v.shape)
            arr = masks.create_array(k, shape=shape, dtype="bool", chunks=(1, *v.shape),
                                     fill_value=False, compressors=_codecs())
            arr[0] = dense[k]
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
            KIND_ATTR: IRP_STORE, INTEGRITY_ATTR: irp_integrity(digests, [dense]),
        })


def commit_iteration(root: zarr.Group, i: int, masks: Masks,
                     trained: Mapping[str, torch.Tensor] | None, record: dict) -> None:
    """Write iteration i's masks (and its ``trained`` weights when the store keeps them), then
    commit it with one attrs write (the commit point) that also records their digests (stores
    written before integrity records stay without). ``record``: the iteration's ``density``,
    ``train_density``, ``test_accuracy``, ``test_loss`` and ``timing``."""
    slices = {k: np.asarray(m.cpu().numpy(), dtype=bool) for k, m in masks.items()}
    for k, a in slices.items():
        root["masks"][k][i] = a
    entry, kept = mask_digests(slices)
    if trained is not None and "trained" in root:
        for k in masks:
            a = trained[k].detach().float().cpu().numpy()
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


_commit = commit_iteration  # its name before it moved here


def add_learning_attrs(root: zarr.Group, n_test: int, num_classes: int) -> None:
    """Give a store from before the learning-check attrs its ``n_test``, ``num_classes`` and
    ``chance`` (and, with iteration 1 committed, ``dense_test_accuracy`` and ``learned``)."""
    if "n_test" in root.attrs:
        return
    extra = chance_attrs(n_test, num_classes)
    if committed(root) >= 1:
        extra["dense_test_accuracy"] = float(root.attrs["test_accuracy"][0])
        extra["learned"] = learning_verdict({**dict(root.attrs), **extra})["learned"]
    root.attrs.update(extra)


def work_store(out: str | os.PathLike, work: str | os.PathLike, cfg: RunConfig) -> Path:
    """Where a run with a work folder keeps its partial store: ``<work>/<name>-<identity hash>``,
    so state of another config is never picked up."""
    name = Path(out).name.removesuffix(".zarr")
    return Path(work) / f"{name}-{config_hash(cfg.identity())}.zarr"


# --- readers ---------------------------------------------------------------------------------------


def open_store(path: str | os.PathLike, mode: str = "r") -> zarr.Group:
    """The IRP store at ``path``; FileNotFoundError when there is none, ValueError when it is
    another kind of artifact, :class:`~.integrity.DamagedArtifactError` when its metadata
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


def _read_slice(root: zarr.Group, path, record: Mapping | None, key: str, i: int) -> np.ndarray:
    """Slice ``i`` of a per-iteration array, verified against iteration i's digest."""
    a = read_array(root, key, path, i, f", iteration {i}")
    if record is not None:
        verify_iteration(a, record, path, key, i)
    return a


def read_masks(root: zarr.Group, iteration: int) -> Masks:
    """Masks of a committed iteration, in layer order, verified against the digests recorded
    at its commit (:class:`~.integrity.DamagedArtifactError`)."""
    c = committed(root)
    if not 0 <= iteration <= c:
        raise ValueError(f"iteration {iteration} is not committed (completed: 0..{c})")
    path = _location(root)
    record = integrity_record(root, path)
    return {k: torch.from_numpy(_read_slice(root, path, record, f"masks/{k}", iteration))
            for k in root.attrs["layers"]}


def read_layer(root: zarr.Group, group: str) -> dict[str, torch.Tensor]:
    """Arrays of ``group`` in layer order, verified: ``theta0``/``grad0`` whole, the per-iteration
    groups (``masks``, ``trained``) on their committed slices that have a digest."""
    path = _location(root)
    record = integrity_record(root, path)
    out = {}
    for k in root.attrs["layers"]:
        key = f"{group}/{k}"
        if group not in ("masks", "trained"):
            out[k] = torch.from_numpy(read_verified(root, key, path, record))
            continue
        a = read_array(root, key, path)
        if record is not None:
            for i in range(committed(root) + 1):
                if group == "masks" or i > 0:
                    verify_iteration(a[i], record, path, key, i)
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
            total += np.asarray(_read_slice(root, path, record, key, i), dtype=np.int32)
        out[k] = total
    return out


def read_mask_history(store: str | os.PathLike
                      ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``{layer: bool [c+1, *shape]}`` of an IRP store's ``masks`` group (its committed iterations
    0..c; all N+1 slices for a store without ``completed_iterations``), and its ``theta0`` group
    (empty when absent), verified (:class:`~.integrity.DamagedArtifactError`); older stores only
    with ``AUTOSPARSE_READ_UNVERIFIED=1`` (:func:`~.integrity.integrity_record`). Another kind of
    artifact, or a store without ``masks``: ValueError."""
    if not Path(store).exists():
        raise FileNotFoundError(f"IRP store not found: {store}")
    group = open_store(store)
    if "masks" not in group:
        raise ValueError(f"IRP store {store} has no 'masks' group")
    record = integrity_record(group, store)
    c = group.attrs.get("completed_iterations")
    names = list(group.attrs.get("layers") or []) if record is not None else []
    names = names or list(group["masks"].array_keys())
    masks = {}
    for k in names:
        key = f"masks/{k}"
        try:
            shape = tuple(group[key].shape)
        except KeyError:
            raise DamagedArtifactError(f"{store}: array {key}: missing") from None
        n = shape[0] if c is None else min(shape[0], int(c) + 1)
        a = np.empty((n, *shape[1:]), dtype=bool)
        for i in range(n):  # slice by slice (one chunk each): errors name the iteration
            a[i] = _read_slice(group, store, record, key, i)
        masks[k] = a
    theta0 = {}
    if "theta0" in group:
        for k in (names if record is not None else group["theta0"].array_keys()):
            theta0[k] = read_verified(group, f"theta0/{k}", store, record)
    return masks, theta0


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


def learning_check(store: str | os.PathLike | zarr.Group | Mapping) -> dict:
    """Whether the IRP network learned (:func:`~.irp_learning.learning_verdict`): the dense
    network's test accuracy (iteration 1, full mask) against chance. ``store``: a path, an opened
    store, or its attrs. Never raises on a readable store."""
    if isinstance(store, Mapping):
        return learning_verdict(store)
    root = store if isinstance(store, zarr.Group) else open_store(store)
    return learning_verdict(dict(root.attrs))


# --- summary ---------------------------------------------------------------------------------------


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
