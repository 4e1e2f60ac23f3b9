"""The survival dataset format (AutoS seed Eq. 4, Alg. 2 output D_A): its schema, its rows from an
IRP store, its writer and its readers, each Parquet page checked against its CRC-32.

A survival dataset is a directory of Parquet files (zstd), one row per prunable weight of each
source IRP run, readable with ``pandas.read_parquet(dir)``:

| column | dtype | meaning |
| --- | --- | --- |
| ``run`` | dictionary<string> | source run id (the store's config hash) |
| ``layer`` | dictionary<string> | parameter name, e.g. ``fc1.weight`` |
| ``layer_index`` | int32 | position of the layer among the prunable layers (0-based) |
| ``flat_index`` | int64 | index of the weight in the flattened parameter |
| ``theta0`` | float32 | initial weight theta_0 |
| ``grad0`` | float32 | initial gradient g_0 on the pruning data (``autosparse.features``) |
| ``survived`` | int16 | pruning iterations survived, sum_{i=1..N} m_i (0..N) |
| ``score`` | float32 | Eq. 4: ``survived`` min-max normalised to [0, 1] *within its run* |
| ``n_iterations`` | int16 | N of the source run |
| ``fan_in``, ``fan_out`` | int32 | in*kh*kw and out*kh*kw (conv), in and out (linear) |
| ``kind`` | dictionary<string> | ``conv`` or ``linear`` |
| ``depth`` | float32 | layer_index / (L - 1), in [0, 1] (0 for a single layer) |

Normalisation (Eq. 4, as the authors' code: min-max of the survival count) is per source run,
before any merge, so runs with different N (20 + 40 + 100) share the [0, 1] scale. Key-value
metadata ``autosparse`` holds JSON: the attrs of every source store and the merge rule.

Readers: :func:`read_dataset` (pandas, whole) and :func:`open_survival` + :func:`record_batches`
(streamed, as the scorer trains); both verify every page's checksum and raise
:class:`~autosparse.store.DamagedArtifactError` naming the damaged file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..store import SURVIVAL_DATASET, DamagedArtifactError, atomic_dir

if TYPE_CHECKING:  # pandas and pyarrow.dataset are imported where used (~0.5 s per DAG job)
    import pandas as pd
    import pyarrow.dataset as pds

META_KEY = b"autosparse"
COLUMNS = ["run", "layer", "layer_index", "flat_index", "theta0", "grad0", "survived", "score",
           "n_iterations", "fan_in", "fan_out", "kind", "depth"]  # as written, in this order
DTYPES = {"layer_index": np.int32, "flat_index": np.int64, "theta0": np.float32,
          "grad0": np.float32, "survived": np.int16, "score": np.float32,
          "n_iterations": np.int16, "fan_in": np.int32, "fan_out": np.int32, "depth": np.float32}
CATEGORIES = ("run", "layer", "kind")  # dictionary<string> columns
# what a reader needs (n_iterations is informative only), the numeric ones, and the scorer's
# inputs and target: a NaN there trains a NaN scorer
REQUIRED_COLUMNS = ("layer", "layer_index", "flat_index", "theta0", "grad0", "survived", "score",
                    "fan_in", "fan_out", "kind", "depth", "run")
NUMERIC_COLUMNS = ("layer_index", "flat_index", "theta0", "grad0", "survived", "score", "fan_in",
                   "fan_out", "depth")
FINITE_COLUMNS = ("theta0", "grad0", "score")


# --- rows ------------------------------------------------------------------------------------------


def minmax(x: np.ndarray) -> np.ndarray:
    """(x - min) / (max - min); all zeros when x is constant."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(), x.max()
    return np.zeros_like(x) if hi == lo else (x - lo) / (hi - lo)


def from_store(store: str | os.PathLike, allow_partial: bool = False) -> tuple[pd.DataFrame, dict]:
    """Survival rows of one IRP store (Eq. 4) and its attrs."""
    import pandas as pd

    from ..features import shape_context
    from ..irp import committed, open_store, read_layer, survival_counts

    root = open_store(store)
    attrs = dict(root.attrs)
    c = committed(root)
    if c < attrs["N"] and not allow_partial:
        raise ValueError(f"{store}: only {c}/{attrs['N']} iterations committed")
    counts = survival_counts(root)
    theta0, grad0 = read_layer(root, "theta0"), read_layer(root, "grad0")
    context = shape_context({name: counts[name].shape for name in attrs["layers"]})
    parts = []
    for name, ctx in context.items():
        cnt = counts[name].reshape(-1)
        n = cnt.size
        parts.append(pd.DataFrame({
            "layer": name, "layer_index": np.full(n, ctx["layer_index"], np.int32),
            "flat_index": np.arange(n, dtype=np.int64),
            "theta0": theta0[name].reshape(-1).numpy().astype(np.float32),
            "grad0": grad0[name].reshape(-1).numpy().astype(np.float32),
            "survived": cnt.astype(np.int16), "fan_in": np.int32(ctx["fan_in"]),
            "fan_out": np.int32(ctx["fan_out"]), "kind": ctx["kind"],
            "depth": np.float32(ctx["depth"]),
        }))
    df = pd.concat(parts, ignore_index=True)
    df["score"] = minmax(df["survived"].to_numpy()).astype(np.float32)
    df["n_iterations"] = np.int16(c)
    df["run"] = attrs["config_hash"]
    return typed(df), attrs


def typed(df: pd.DataFrame) -> pd.DataFrame:
    """``df``'s :data:`COLUMNS` in order, with the schema's dtypes."""
    df = df[COLUMNS].copy()
    for col in CATEGORIES:
        df[col] = df[col].astype(str).astype("category")
    for col, dt in DTYPES.items():
        df[col] = df[col].astype(dt)
    return df.reset_index(drop=True)


# --- writer and whole-dataset readers ------------------------------------------------------------


def write_dataset(df: pd.DataFrame, out: str | os.PathLike, metadata: Mapping) -> Path:
    """Write ``df`` as a Parquet dataset directory (zstd, one file, a CRC-32 per page that
    readers verify: :func:`read_dataset`, :func:`open_survival`), atomically."""
    table = pa.Table.from_pandas(typed(df), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[META_KEY] = json.dumps(metadata, sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(meta)
    with atomic_dir(out, SURVIVAL_DATASET) as tmp:
        tmp.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp / "part-0.parquet", compression="zstd", write_page_checksum=True)
    return Path(out)


def read_dataset(path: str | os.PathLike) -> pd.DataFrame:
    """The rows of a survival dataset, every page's checksum verified (a damaged or truncated
    file: :class:`~autosparse.store.DamagedArtifactError` naming the dataset)."""
    try:
        table = pq.read_table(path, use_pandas_metadata=True, page_checksum_verification=True)
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as e:
        raise DamagedArtifactError(f"survival dataset {path}: unreadable ({e}): damaged or "
                                   "truncated file") from None
    return table.to_pandas()


def read_metadata(path: str | os.PathLike) -> dict:
    """The ``autosparse`` key-value metadata (JSON) of a survival dataset."""
    files = sorted(Path(path).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Parquet files in {path}")
    return json.loads(pq.read_schema(files[0]).metadata[META_KEY])


# --- streamed reader -------------------------------------------------------------------------------


def _check_schema(d, frag) -> None:
    schema = frag.physical_schema
    missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
    if missing:
        raise ValueError(f"survival dataset {str(d)!r}: {Path(frag.path).name} lacks "
                         f"columns {missing}")
    for c in NUMERIC_COLUMNS:
        t = schema.field(c).type
        if not (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_boolean(t)):
            raise ValueError(f"survival dataset {str(d)!r}: column {c!r} of "
                             f"{Path(frag.path).name} has type {t}, not a number")


def open_survival(dirs: str | os.PathLike | Sequence[str | os.PathLike]) -> pds.Dataset:
    """One pyarrow dataset over the Parquet files of one or more survival directories (each
    file's columns checked against :data:`REQUIRED_COLUMNS` / :data:`NUMERIC_COLUMNS`)."""
    import pyarrow.dataset as pds  # lazy: it imports pandas (~0.5 s) in every DAG job

    dirs = [dirs] if isinstance(dirs, (str, os.PathLike)) else list(dirs)
    if not dirs:
        raise ValueError("no survival dataset directory given")
    parts = []
    for d in dirs:
        if not Path(d).is_dir():
            raise FileNotFoundError(f"survival dataset {str(d)!r} is not a directory")
        files = sorted(str(p) for p in Path(d).rglob("*.parquet") if not p.name.startswith("."))
        if not files:
            raise FileNotFoundError(f"survival dataset {str(d)!r} has no Parquet files")
        fmt = pds.ParquetFileFormat(default_fragment_scan_options=pds.ParquetFragmentScanOptions(
            page_checksum_verification=True))  # pages written with a CRC (write_dataset)
        try:
            part = pds.dataset(files, format=fmt)
        except (OSError, pa.ArrowException) as e:
            raise DamagedArtifactError(f"survival dataset {str(d)!r}: unreadable ({e})") from None
        for frag in part.get_fragments():  # the dataset's schema is its first file's
            _check_schema(d, frag)
        parts.append(part)
    return parts[0] if len(parts) == 1 else pds.dataset(parts)


def fragments(dataset: pds.Dataset, order_seed: int | None = None) -> list:
    """The dataset's files, by path, or permuted by ``order_seed`` when given."""
    frags = sorted(dataset.get_fragments(), key=lambda f: f.path)
    if order_seed is not None:
        perm = np.random.default_rng(order_seed).permutation(len(frags))
        frags = [frags[i] for i in perm]
    return frags


def record_batches(frag, read_batch: int) -> Iterator[pa.RecordBatch]:
    """A file's record batches of :data:`REQUIRED_COLUMNS`; a page failing its checksum or to
    decode -> :class:`~autosparse.store.DamagedArtifactError` naming the file."""
    try:
        yield from frag.to_batches(columns=list(REQUIRED_COLUMNS), batch_size=read_batch,
                                   use_threads=False)
    except (OSError, pa.ArrowException) as e:
        raise DamagedArtifactError(f"survival dataset file {frag.path}: unreadable ({e}): "
                                   "damaged or truncated") from None


def dictionary(arr: pa.Array) -> pa.DictionaryArray:
    """A string column as a dictionary array (as written, or encoded)."""
    return arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)


def decode(arr: pa.Array) -> np.ndarray:
    """A string column as a numpy object array."""
    arr = dictionary(arr)
    words = np.asarray(arr.dictionary.to_pylist(), dtype=object)
    return words[arr.indices.to_numpy(zero_copy_only=False).astype(np.int64)]


def check_finite(rows: Mapping[str, np.ndarray]) -> None:
    """Raise unless the :data:`FINITE_COLUMNS` of a block of rows are finite."""
    for c in FINITE_COLUMNS:
        bad = np.flatnonzero(~np.isfinite(rows[c]))
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"survival dataset: column {c!r} has non-finite values (first: "
                             f"{rows[c][i]} in layer {rows['layer'][i]!r}, "
                             f"flat index {rows['flat_index'][i]}); refusing to train on it")


__all__ = ["COLUMNS", "FINITE_COLUMNS", "META_KEY", "NUMERIC_COLUMNS", "REQUIRED_COLUMNS",
           "check_finite", "decode", "dictionary", "fragments", "from_store", "minmax",
           "open_survival", "read_dataset", "read_metadata", "record_batches", "typed",
           "write_dataset"]
