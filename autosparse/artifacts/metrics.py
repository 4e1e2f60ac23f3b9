"""Metrics of one training job (``results/train/.../<seed>.json``): its writer, reader and check.

A JSON object written atomically by ``retrain`` (:func:`write_metrics`) with at least
``test_accuracy`` (percent); the tables read it back through :func:`read_metrics`, which refuses
a file that is not such an object rather than reading a missing accuracy as zero.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

from .atomic import write_json_atomic
from .integrity import DamagedArtifactError

REQUIRED = ("test_accuracy",)


def write_metrics(path: str | os.PathLike, metrics: Mapping) -> None:
    """Write ``metrics`` to ``path`` atomically, after checking it as :func:`read_metrics` would."""
    check_metrics(metrics, path)
    write_json_atomic(path, dict(metrics))


def check_metrics(metrics: object, path: str | os.PathLike) -> None:
    """Raise :class:`DamagedArtifactError` naming ``path`` unless ``metrics`` is a JSON object
    with the :data:`REQUIRED` keys and a finite accuracy in [0, 100]."""
    if not isinstance(metrics, Mapping):
        raise DamagedArtifactError(f"metrics {path}: expected a JSON object, got "
                                   f"{type(metrics).__name__}")
    missing = [k for k in REQUIRED if k not in metrics]
    if missing:
        raise DamagedArtifactError(f"metrics {path}: missing {', '.join(missing)}")
    acc = metrics["test_accuracy"]
    if isinstance(acc, bool) or not isinstance(acc, (int, float)) or not math.isfinite(acc) \
            or not 0 <= acc <= 100:
        raise DamagedArtifactError(f"metrics {path}: test_accuracy {acc!r} is not a percentage")


def read_metrics(path: str | os.PathLike) -> dict:
    """The checked metrics of ``path``; a truncated or foreign file raises
    :class:`DamagedArtifactError` naming it, a missing one FileNotFoundError."""
    text = Path(path).read_text()
    try:
        metrics = json.loads(text)
    except json.JSONDecodeError as e:
        raise DamagedArtifactError(f"metrics {path}: not valid JSON ({e})") from None
    check_metrics(metrics, path)
    return metrics
