"""Survival datasets (AutoS seed Eq. 4, Alg. 2 output D_A) and their consistency (App. F, Eq. 5).

A survival dataset is a directory of Parquet files (zstd), one row per prunable weight of each
source IRP run, readable with ``pandas.read_parquet(dir)``:

| column | dtype | meaning |
| --- | --- | --- |
| ``run`` | dictionary<string> | source run id (the store's config hash) |
| ``layer`` | dictionary<string> | parameter name, e.g. ``fc1.weight`` |
| ``layer_index`` | int32 | position of the layer among the prunable layers (0-based) |
| ``flat_index`` | int64 | index of the weight in the flattened parameter |
| ``theta0`` | float32 | initial weight theta_0 |
| ``grad0`` | float32 | initial gradient g_0 on the pruning data (see ``autosparse.irp``) |
| ``survived`` | int16 | pruning iterations survived, sum_{i=1..N} m_i (0..N) |
| ``score`` | float32 | Eq. 4: ``survived`` min-max normalised to [0, 1] *within its run* |
| ``n_iterations`` | int16 | N of the source run |
| ``fan_in``, ``fan_out`` | int32 | in*kh*kw and out*kh*kw (conv), in and out (linear) |
| ``kind`` | dictionary<string> | ``conv`` or ``linear`` |
| ``depth`` | float32 | layer_index / (L - 1), in [0, 1] (0 for a single layer) |

Normalisation (Eq. 4, as the authors' code: min-max of the survival count) is per source run,
before any merge, so runs with different N (20 + 40 + 100) share the [0, 1] scale. Key-value
metadata ``autosparse`` holds JSON: the attrs of every source store and the merge rule.

Merges build new datasets from existing ones: ``concat`` stacks the rows (3x20, 20+40+100,
LTH+SNIP; each row keeps its run's score; the ``run`` column tells them apart); ``mean`` requires
the same weights in every input (same model and theta_0) and averages ``score`` per weight
(``survived`` summed, ``n_iterations`` summed), one row per weight, ``run`` = ``mean(<runs>)``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .irp import committed, open_store, read_layer, survival_counts
from .models import layer_fans
from .store import SURVIVAL_DATASET, DamagedArtifactError, atomic_dir, check_replaceable

if TYPE_CHECKING:  # pandas is imported where used: every DAG job imports this module (~0.5 s)
    import pandas as pd

META_KEY = b"autosparse"
MERGE_RULES = ("concat", "mean")
COLUMNS = ["run", "layer", "layer_index", "flat_index", "theta0", "grad0", "survived", "score",
           "n_iterations", "fan_in", "fan_out", "kind", "depth"]


def minmax(x: np.ndarray) -> np.ndarray:
    """(x - min) / (max - min); all zeros when x is constant."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(), x.max()
    return np.zeros_like(x) if hi == lo else (x - lo) / (hi - lo)


def from_store(store: str | os.PathLike, allow_partial: bool = False) -> tuple[pd.DataFrame, dict]:
    """Survival rows of one IRP store (Eq. 4) and its attrs."""
    import pandas as pd

    root = open_store(store)
    attrs = dict(root.attrs)
    c = committed(root)
    if c < attrs["N"] and not allow_partial:
        raise ValueError(f"{store}: only {c}/{attrs['N']} iterations committed")
    counts = survival_counts(root)
    theta0, grad0 = read_layer(root, "theta0"), read_layer(root, "grad0")
    layers = attrs["layers"]
    parts = []
    for li, name in enumerate(layers):
        cnt = counts[name].reshape(-1)
        fan_in, fan_out, kind = layer_fans(tuple(counts[name].shape))
        n = cnt.size
        parts.append(pd.DataFrame({
            "layer": name, "layer_index": np.full(n, li, np.int32),
            "flat_index": np.arange(n, dtype=np.int64),
            "theta0": theta0[name].reshape(-1).numpy().astype(np.float32),
            "grad0": grad0[name].reshape(-1).numpy().astype(np.float32),
            "survived": cnt.astype(np.int16), "fan_in": np.int32(fan_in),
            "fan_out": np.int32(fan_out), "kind": kind,
            "depth": np.float32(li / (len(layers) - 1) if len(layers) > 1 else 0.0),
        }))
    df = pd.concat(parts, ignore_index=True)
    df["score"] = minmax(df["survived"].to_numpy()).astype(np.float32)
    df["n_iterations"] = np.int16(c)
    df["run"] = attrs["config_hash"]
    return _typed(df), attrs


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df[COLUMNS].copy()
    for col in ("run", "layer", "kind"):
        df[col] = df[col].astype(str).astype("category")
    for col, dt in (("layer_index", np.int32), ("flat_index", np.int64), ("theta0", np.float32),
                    ("grad0", np.float32), ("survived", np.int16), ("score", np.float32),
                    ("n_iterations", np.int16), ("fan_in", np.int32), ("fan_out", np.int32),
                    ("depth", np.float32)):
        df[col] = df[col].astype(dt)
    return df.reset_index(drop=True)


def write_dataset(df: pd.DataFrame, out: str | os.PathLike, metadata: Mapping) -> Path:
    """Write ``df`` as a Parquet dataset directory (zstd, one file, a CRC-32 per page that
    readers verify: :func:`read_dataset`, :func:`autosparse.scorer.open_survival`), atomically."""
    table = pa.Table.from_pandas(_typed(df), preserve_index=False)
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
    files = sorted(Path(path).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"no Parquet files in {path}")
    return json.loads(pq.read_schema(files[0]).metadata[META_KEY])


def merge_frames(frames: Sequence[pd.DataFrame], rule: str = "concat") -> pd.DataFrame:
    """Merge survival frames by ``rule`` (module docstring)."""
    import pandas as pd

    if rule not in MERGE_RULES:
        raise ValueError(f"merge rule must be one of {MERGE_RULES}, got {rule!r}")
    if not frames:
        raise ValueError("nothing to merge")
    if rule == "concat":
        return _typed(pd.concat([f.astype({c: str for c in ("run", "layer", "kind")})
                                 for f in frames], ignore_index=True))
    key = ["layer_index", "flat_index"]
    base = frames[0].sort_values(key).reset_index(drop=True)
    out = base.copy()
    scores = [base["score"].to_numpy(np.float64)]
    for f in frames[1:]:
        f = f.sort_values(key).reset_index(drop=True)
        same = (len(f) == len(base) and (f[key].to_numpy() == base[key].to_numpy()).all()
                and np.array_equal(f["theta0"].to_numpy(), base["theta0"].to_numpy()))
        if not same:
            raise ValueError("rule 'mean' needs the same weights (model and theta_0) in every input")
        scores.append(f["score"].to_numpy(np.float64))
        out["survived"] = out["survived"].astype(np.int64) + f["survived"].to_numpy()
        out["n_iterations"] = out["n_iterations"].astype(np.int64) + f["n_iterations"].to_numpy()
    out["score"] = np.mean(scores, axis=0)
    runs = [str(r) for f in frames for r in f["run"].unique()]
    out["run"] = f"mean({','.join(runs)})"
    return _typed(out)


def build(stores: Sequence[str | os.PathLike], out: str | os.PathLike,
          rule: str = "concat") -> Path:
    """Survival dataset of one or several IRP stores (normalised per run, then merged)."""
    check_replaceable(out, SURVIVAL_DATASET)  # before reading anything
    pairs = [from_store(s) for s in stores]
    df = merge_frames([p[0] for p in pairs], rule)
    meta = {"rule": rule, "sources": [{"store": str(s), "attrs": a}
                                       for s, (_, a) in zip(stores, pairs)]}
    return write_dataset(df, out, meta)


def merge(inputs: Sequence[str | os.PathLike], out: str | os.PathLike,
          rule: str = "concat") -> Path:
    """A new dataset merging existing survival datasets."""
    check_replaceable(out, SURVIVAL_DATASET)
    frames = [read_dataset(p) for p in inputs]
    meta = {"rule": rule, "inputs": [{"path": str(p), "metadata": read_metadata(p)}
                                     for p in inputs]}
    return write_dataset(merge_frames(frames, rule), out, meta)


# --- consistency (App. F) ------------------------------------------------------------------------


def ccc(x: Iterable[float], y: Iterable[float]) -> float:
    """Concordance correlation coefficient (Eq. 5), population moments:
    2 cov(X, Y) / (var X + var Y + (mean X - mean Y)^2)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"ccc needs two equal-length non-empty arrays, got {x.shape}, {y.shape}")
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    return float(2 * cov / (x.var() + y.var() + (mx - my) ** 2))


def table9(stores: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Table 9 grid from IRP stores of one model/dataset: for every pair of criteria (a, b) and
    init relation, the mean CCC (Eq. 5) of per-run survival scores over all pairs of distinct
    runs (run of a, run of b) with the same theta_0 seed ("same") or different seeds
    ("different"). Tidy: method_a, method_b, init, ccc, n_pairs, paper."""
    import pandas as pd

    from .paper import paper_cells

    runs = []
    for s in stores:
        df, a = from_store(s)
        runs.append((a["criterion"], a["seed"], str(s), df["score"].to_numpy(np.float64)))
    sizes = {r[3].size for r in runs}
    if len(sizes) > 1:
        raise ValueError(f"stores have different numbers of weights: {sorted(sizes)}")
    crit = list(dict.fromkeys(r[0] for r in runs))
    paper_ccc = paper_cells("table9")  # App. F, Table 9 (autosparse/paper/values.csv)
    rows = []
    for i, ca in enumerate(crit):
        for cb in crit[i:]:
            for init in ("same", "different"):
                vals = [ccc(ra[3], rb[3]) for ia, ra in enumerate(runs) for ib, rb in
                        enumerate(runs) if ia < ib and {ra[0], rb[0]} == {ca, cb}
                        and (ra[1] == rb[1]) == (init == "same")]
                paper = paper_ccc.get(("&".join(sorted((ca, cb))), init), {}).get("value")
                rows.append({"method_a": ca, "method_b": cb, "init": init,
                             "ccc": float(np.mean(vals)) if vals else float("nan"),
                             "n_pairs": len(vals),
                             "paper": np.nan if paper is None else float(paper)})
    return pd.DataFrame(rows)


# --- CLI -----------------------------------------------------------------------------------------


def register_cli(sub) -> None:
    from .methods import METHODS  # loaded with .irp already

    rules = ("concat stacks the rows, mean averages each weight's score (same weights in every "
             "input)")
    p = sub.add_parser("survival", help="survival dataset (Parquet) from IRP store(s), Eq. 4")
    p.add_argument("--irp", nargs="+", type=Path, required=True, help="IRP store(s) (.zarr)")
    p.add_argument("--rule", default="concat", choices=MERGE_RULES,
                   help=f"how to merge several stores: {rules} (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True,
                   help="survival dataset directory to write, e.g. results/survival/<name>/")
    p.set_defaults(func=lambda a: print(f"wrote {build(a.irp, a.out, a.rule)}") or 0)

    m = sub.add_parser("survival-merge", help="merge survival datasets into a new one")
    m.add_argument("--inputs", nargs="+", type=Path, required=True,
                   help="survival dataset directories")
    m.add_argument("--rule", default="concat", choices=MERGE_RULES,
                   help=f"how to merge them: {rules} (default: %(default)s)")
    m.add_argument("--out", type=Path, required=True,
                   help="survival dataset directory to write")
    m.set_defaults(func=lambda a: print(f"wrote {merge(a.inputs, a.out, a.rule)}") or 0)

    t = sub.add_parser("table9", help="CCC of survival scores between IRP runs (App. F)")
    t.add_argument("--irp", nargs="+", type=Path, required=True,
                   help="IRP stores (.zarr) compared pairwise")
    t.add_argument("--out", type=Path, default=None,
                   help="also write the table to this CSV path (default: print only)")
    t.set_defaults(func=_cmd_table9)

    f = sub.add_parser("fig1", help="Figure 1: survival score vs theta_0 and PaI scores at init")
    f.add_argument("--irp", type=Path, required=True, help="IRP store (.zarr)")
    f.add_argument("--methods", nargs="*", default=["snip", "grasp"], metavar="METHOD",
                   help="registered PaI methods scored at theta_0, one panel each from (b) "
                        f"(default: snip grasp); one of: {', '.join(METHODS.names())}")
    f.add_argument("--data-root", default=os.environ.get("AUTOSPARSE_DATA"),
                   help="dataset directory for the scoring examples (default: $AUTOSPARSE_DATA, "
                        "else data_root in config/config.yaml)")
    f.add_argument("--out", type=Path, required=True,
                   help="PNG path; the PDF and SVG are written beside it (same stem)")
    f.set_defaults(func=_cmd_fig1)


def _cmd_fig1(args: argparse.Namespace) -> int:
    from .figures.survival import figure1

    for note in figure1(args.irp, args.out, args.methods, args.data_root):
        print(f"note: {note}")
    print(f"wrote {args.out}")
    return 0


def _cmd_table9(args: argparse.Namespace) -> int:
    df = table9(args.irp)
    print(df.to_string(index=False))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        df.to_csv(tmp, index=False)
        os.replace(tmp, args.out)
    return 0
