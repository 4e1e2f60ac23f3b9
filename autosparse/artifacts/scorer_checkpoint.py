"""The AutoS scorer checkpoint format (``autosparse-scorer-v1``): one ``torch.save`` file of plain
types and tensors only (read back with ``torch.load(..., weights_only=True)``):

| key | content |
| --- | --- |
| ``format`` | :data:`CHECKPOINT_FORMAT` |
| ``config`` | the scorer's ``TrainScorerConfig`` as a dict (``hidden`` a list) |
| ``state_dict`` | the scorer network's tensors |
| ``history`` | per-epoch training loss, validation MSE and Spearman |
| ``norm_stats`` | normalisation statistics of the training rows (``FeatureStats.to_dict``) |
| ``data`` | the survival dataset directories trained on |
| ``provenance`` | package versions and git revision (:func:`autosparse.store.provenance`) |
| ``digests`` | content digest per tensor of ``state_dict`` (:func:`autosparse.store.array_digest`) |

Written to a temporary sibling and renamed into place (:func:`.atomic.replace_file`); read back
verified: a truncated or damaged file, or a tensor that no longer matches its digest, raises
:class:`~autosparse.store.DamagedArtifactError` naming the checkpoint. Checkpoints without
``digests`` (written before them) are read unverified. The scorer's identity is the canonical
hash of ``config`` (``TrainScorerConfig.config_hash``), computed when it is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from .atomic import replace_file
from .identity import provenance
from .integrity import DamagedArtifactError, array_digest

CHECKPOINT_FORMAT = "autosparse-scorer-v1"


def state_digests(state_dict: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """Content digest (:func:`autosparse.store.array_digest`) of every tensor of a state dict."""
    return {k: array_digest(v.detach().cpu().numpy()) for k, v in state_dict.items()}


def checkpoint_state(config: Mapping, state_dict: Mapping[str, torch.Tensor], history: list,
                     norm_stats: Mapping, data: list) -> dict:
    """The checkpoint dict (module docstring), with provenance and per-tensor digests."""
    return {"format": CHECKPOINT_FORMAT, "config": dict(config), "state_dict": state_dict,
            "history": history, "norm_stats": norm_stats, "data": data,
            "provenance": provenance(), "digests": state_digests(state_dict)}


def save_checkpoint(path: str | os.PathLike, state: Mapping) -> Path:
    """``torch.save`` of a :func:`checkpoint_state` dict to ``path``, atomically."""
    with replace_file(path) as tmp:  # the temp's name up to its last dot names the archive
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict:
    """The verified checkpoint dict of ``path``, its tensors on ``device``.

    Missing -> FileNotFoundError; truncated, not a checkpoint archive or a tensor differing from
    its recorded digest -> :class:`~autosparse.store.DamagedArtifactError`; another kind of
    file -> ValueError."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"scorer checkpoint {str(path)!r} not found")
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError) as e:  # truncated / not a zip
        raise DamagedArtifactError(f"scorer checkpoint {str(path)!r}: unreadable "
                                   f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{str(path)!r} is not an autosparse scorer checkpoint")
    recorded = ck.get("digests")  # None: written before digests, read unverified
    if recorded is not None:
        got = state_digests(ck["state_dict"])
        for key in sorted(set(recorded) | set(got)):
            if recorded.get(key) != got.get(key):
                raise DamagedArtifactError(f"scorer checkpoint {str(path)!r}: tensor {key}: "
                                           "content digest mismatch (damaged file)")
    return ck


__all__ = ["CHECKPOINT_FORMAT", "checkpoint_state", "load_checkpoint", "save_checkpoint",
           "state_digests"]
