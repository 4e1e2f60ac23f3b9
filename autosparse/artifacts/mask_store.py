"""Mask and score stores (DESIGN.md): zarr groups of per-layer arrays with their attrs.

Mask store: ``mask/<layer>`` bool, optional ``scores/<layer>`` float32. Score store:
``scores/<layer>`` float64. Layer order in attrs["layers"] (zarr lists keys sorted), the kind
marker and the integrity record (:mod:`.integrity`) beside the caller's attrs and the provenance.
Written atomically (:func:`~.atomic.atomic_dir`), read verified.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import torch
import zarr

from .atomic import KIND_ATTR, MASK_STORE, SCORE_STORE, atomic_dir
from .identity import provenance
from .integrity import (
    INTEGRITY_ATTR,
    DamagedArtifactError,
    array_digest,
    integrity_record,
    new_record,
    open_group_checked,
    read_verified,
)


def to_numpy(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def write_arrays(group: zarr.Group, name: str, arrays: Mapping[str, torch.Tensor]
                 ) -> dict[str, str]:
    """Write ``{param_name: tensor}`` as arrays of subgroup ``name`` (one array per layer).
    Returns ``{"<name>/<param_name>": digest}`` of the arrays written."""
    sub = group.require_group(name)
    digests = {}
    for key, value in arrays.items():
        a = to_numpy(value)
        arr = sub.create_array(key, shape=a.shape, dtype=a.dtype, chunks=a.shape or None)
        arr[...] = a
        digests[f"{name}/{key}"] = array_digest(a)
    return digests


def read_arrays(group: zarr.Group, name: str) -> dict[str, torch.Tensor]:
    """All arrays of subgroup ``name``, unverified (see :func:`read_mask_store`)."""
    sub = group[name]
    return {k: torch.from_numpy(np.asarray(sub[k][...])) for k in sorted(sub.array_keys())}


def _write_layers(path: str | os.PathLike, groups: Mapping[str, Mapping[str, torch.Tensor]],
                  layers: list[str], attrs: Mapping | None, kind: str) -> None:
    """Atomically write ``{group: {layer: array}}`` and attrs (layer order in attrs["layers"]),
    with the kind marker and the integrity record (digests; kept counts of bool arrays)."""
    with atomic_dir(path, kind) as tmp:
        root = zarr.open_group(str(tmp), mode="w")
        digests: dict[str, str] = {}
        kept: dict[str, int] = {}
        for name, arrays in groups.items():
            digests.update(write_arrays(root, name, arrays))
            if name == "mask":
                kept.update({k: int(v.sum()) for k, v in arrays.items()})
        record = new_record(digests, **({"kept": kept} if kept else {}))
        root.attrs.update({"layers": layers, **dict(attrs or {}), **provenance(),
                           KIND_ATTR: kind, INTEGRITY_ATTR: record})


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
    _write_layers(path, groups, list(masks), attrs, MASK_STORE)


def _read_layers(path: str | os.PathLike, name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """(``name/<layer>`` arrays in layer order, attrs), each array verified against the store's
    integrity record (stores without one: a warning)."""
    root = open_group_checked(path)
    attrs = dict(root.attrs)
    record = integrity_record(root, path)
    if "layers" in attrs:
        layers = list(attrs["layers"])
    else:
        try:
            layers = sorted(root[name].array_keys())
        except KeyError:
            raise DamagedArtifactError(f"{path}: group {name} missing") from None
    kept = (record or {}).get("kept", {}) if name == "mask" else {}
    out = {k: torch.from_numpy(read_verified(root, f"{name}/{k}", path, record, kept.get(k)))
           for k in layers}
    return out, attrs


def read_mask_store(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(masks in layer order, attrs) of a mask store, verified (:class:`DamagedArtifactError`)."""
    return _read_layers(path, "mask")


def write_score_store(
    path: str | os.PathLike, scores: Mapping[str, torch.Tensor], attrs: Mapping | None = None
) -> None:
    """Score store: ``scores/<layer>`` in float64 (masks thresholded from it equal those of a
    fresh scoring, ties included) and attrs; layer order in attrs["layers"]."""
    _write_layers(path, {"scores": {k: v.double() for k, v in scores.items()}}, list(scores),
                  attrs, SCORE_STORE)


def read_score_store(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict]:
    """(scores in layer order, attrs) of a score store, verified."""
    return _read_layers(path, "scores")
