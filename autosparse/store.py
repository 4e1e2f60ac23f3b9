"""Artifact I/O: run identity, atomic writes, zarr mask stores, provenance.

Nothing half-written is ever read as complete: files and zarr stores are written to a temporary
sibling path and renamed into place (``os.replace`` is atomic on one filesystem).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
import zarr

from .data import REPO_ROOT

# Snakemake marks directory outputs (our zarr stores) with a `.snakemake_timestamp` file.
warnings.filterwarnings("ignore", message=r"Object at \.snakemake_timestamp is not recognized")


def canonical_json(obj) -> str:
    """Key-sorted, compact JSON: the identity of a set of parameters."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(params: Mapping, length: int = 12) -> str:
    """Short SHA-256 of the canonical JSON of ``params`` (keys whose value is None are dropped,
    so adding a new option defaulting to None keeps old hashes)."""
    clean = {k: v for k, v in params.items() if v is not None}
    return hashlib.sha256(canonical_json(clean).encode()).hexdigest()[:length]


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance() -> dict:
    """Package versions and git revision, for artifact attributes."""
    import importlib.metadata as md

    versions = {}
    for pkg in ("autosparse", "torch", "numpy", "zarr", "pyarrow", "pandas"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    return {"versions": versions, "git_revision": git_revision()}


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def to_numpy(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def write_arrays(group: zarr.Group, name: str, arrays: Mapping[str, torch.Tensor]) -> None:
    """Write ``{param_name: tensor}`` as arrays of subgroup ``name`` (one array per layer)."""
    sub = group.require_group(name)
    for key, value in arrays.items():
        a = to_numpy(value)
        arr = sub.create_array(key, shape=a.shape, dtype=a.dtype, chunks=a.shape or None)
        arr[...] = a


def read_arrays(group: zarr.Group, name: str) -> dict[str, torch.Tensor]:
    sub = group[name]
    return {k: torch.from_numpy(np.asarray(sub[k][...])) for k in sorted(sub.array_keys())}


def _write_layers(path: str | os.PathLike, groups: Mapping[str, Mapping[str, torch.Tensor]],
                  layers: list[str], attrs: Mapping | None) -> None:
    """Atomically write ``{group: {layer: array}}`` and attrs (layer order in attrs["layers"])."""
    with atomic_dir(path) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        for name, arrays in groups.items():
            write_arrays(root, name, arrays)
        root.attrs.update({"layers": layers, **dict(attrs or {}), **provenance()})


def write_mask_store(
    path: str | os.PathLike, masks: Mapping[str, torch.Tensor],
    scores: Mapping[str, torch.Tensor] | None = None, attrs: Mapping | None = None,
) -> None:
    """Mask store (DESIGN.md): ``mask/<layer>`` bool, optional ``scores/<layer>``, attrs.

    Layer names keep their order in attrs["layers"] (zarr lists keys sorted).
    """
    groups = {"mask": {k: v.bool() for k, v in masks.items()}}
    if scores is not None:
        groups["scores"] = {k: v.float() for k, v in scores.items()}
    _write_layers(path, groups, list(masks), attrs)


def _read_layers(path: str | os.PathLike, name: str) -> tuple[dict[str, torch.Tensor], dict]:
    root = zarr.open_group(str(path), mode="r")
    arrays = read_arrays(root, name)
    attrs = dict(root.attrs)
    return {k: arrays[k] for k in attrs.get("layers", list(arrays))}, attrs


def read_mask_store(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(masks in layer order, attrs) of a mask store."""
    return _read_layers(path, "mask")


def write_score_store(
    path: str | os.PathLike, scores: Mapping[str, torch.Tensor], attrs: Mapping | None = None
) -> None:
    """Score store: ``scores/<layer>`` in float64 (masks thresholded from it equal those of a
    fresh scoring, ties included) and attrs; layer order in attrs["layers"]."""
    _write_layers(path, {"scores": {k: v.double() for k, v in scores.items()}}, list(scores),
                  attrs)


def read_score_store(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(scores in layer order, attrs) of a score store."""
    return _read_layers(path, "scores")
