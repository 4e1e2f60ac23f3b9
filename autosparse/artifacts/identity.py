"""The identity of an artifact: the canonical JSON and hash of the parameters that made it, and
its provenance (package versions, git revision). Torch-free."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]  # the checkout holding the package, for its revision


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
            ["git", "rev-parse", "HEAD"], cwd=_REPO, capture_output=True, text=True, timeout=5
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
