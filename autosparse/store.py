"""Artifact I/O under its old name: a re-export of :mod:`autosparse.artifacts`.

Atomic writes, artifact kinds and writer locks: :mod:`.artifacts.atomic`; run identity and
provenance: :mod:`.artifacts.identity`; digests and integrity records: :mod:`.artifacts.integrity`;
mask and score stores: :mod:`.artifacts.mask_store`. New code imports from those modules.
"""

from __future__ import annotations

from .artifacts.atomic import (
    IRP_STORE,
    KIND_ATTR,
    KIND_NAMES,
    MASK_STORE,
    SCORE_STORE,
    SURVIVAL_DATASET,
    OutputConflictError,
    artifact_kind,
    atomic_dir,
    check_replaceable,
    clean_stale_temps,
    publish_dir,
    replace_file,
    write_bytes,
    write_json_atomic,
    write_text,
    writer_lock,
)
from .artifacts.identity import canonical_json, config_hash, git_revision, provenance
from .artifacts.integrity import (
    DIGEST,
    INTEGRITY_ATTR,
    UNVERIFIED_ENV,
    DamagedArtifactError,
    UnverifiedArtifactWarning,
    array_digest,
    integrity_record,
    open_group_checked,
    read_array,
    verify_digest,
    verify_iteration,
    warn_unverified,
)
from .artifacts.mask_store import (
    read_arrays,
    read_mask_store,
    read_score_store,
    to_numpy,
    write_arrays,
    write_mask_store,
    write_score_store,
)

__all__ = [
    "DIGEST", "INTEGRITY_ATTR", "IRP_STORE", "KIND_ATTR", "KIND_NAMES", "MASK_STORE",
    "SCORE_STORE", "SURVIVAL_DATASET", "UNVERIFIED_ENV", "DamagedArtifactError",
    "OutputConflictError", "UnverifiedArtifactWarning", "array_digest", "artifact_kind",
    "atomic_dir", "canonical_json", "check_replaceable", "clean_stale_temps", "config_hash",
    "git_revision", "integrity_record", "open_group_checked", "provenance", "publish_dir",
    "read_array", "read_arrays", "read_mask_store", "read_score_store", "replace_file",
    "to_numpy", "verify_digest", "verify_iteration", "warn_unverified", "write_arrays",
    "write_bytes", "write_json_atomic", "write_mask_store", "write_score_store", "write_text",
    "writer_lock",
]
