"""Survival datasets (AutoS seed Eq. 4, Alg. 2 output D_A) built from IRP runs, their merges,
and their consistency (App. F, Eq. 5).

The format (schema, rows of an IRP store, writer, readers, checksums) is
:mod:`autosparse.artifacts.survival_dataset`; its names stay importable from here.

Merges build new datasets from existing ones: ``concat`` stacks the rows (3x20, 20+40+100,
LTH+SNIP; each row keeps its run's score; the ``run`` column tells them apart); ``mean`` requires
the same weights in every input (same model and theta_0) and averages ``score`` per weight
(``survived`` summed, ``n_iterations`` summed), one row per weight, ``run`` = ``mean(<runs>)``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .artifacts.survival_dataset import (  # noqa: F401  (re-exported: the format's old home)
    CATEGORIES,
    COLUMNS,
    META_KEY,
    from_store,
    minmax,
    read_dataset,
    read_metadata,
    typed,
    write_dataset,
)
from .params import add_arguments, from_args
from .store import SURVIVAL_DATASET, check_replaceable, replace_file
from .survival_config import (  # noqa: F401  (re-exported: the stage's parameters)
    MERGE_RULES,
    SurvivalConfig,
    SurvivalMergeConfig,
)

if TYPE_CHECKING:  # pandas is imported where used: every DAG job imports this module (~0.5 s)
    import pandas as pd


def merge_frames(frames: Sequence[pd.DataFrame], rule: str = "concat") -> pd.DataFrame:
    """Merge survival frames by ``rule`` (module docstring)."""
    import pandas as pd

    if rule not in MERGE_RULES:
        raise ValueError(f"merge rule must be one of {MERGE_RULES}, got {rule!r}")
    if not frames:
        raise ValueError("nothing to merge")
    if rule == "concat":
        return typed(pd.concat([f.astype({c: str for c in CATEGORIES}) for f in frames],
                               ignore_index=True))
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
    return typed(out)


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

    p = sub.add_parser("survival", help="survival dataset (Parquet) from IRP store(s), Eq. 4")
    add_arguments(p, SurvivalConfig)
    p.add_argument("--out", type=Path, required=True,
                   help="survival dataset directory to write, e.g. results/survival/<name>/")
    p.set_defaults(func=_cmd_survival)

    m = sub.add_parser("survival-merge", help="merge survival datasets into a new one")
    add_arguments(m, SurvivalMergeConfig)
    m.add_argument("--out", type=Path, required=True,
                   help="survival dataset directory to write")
    m.set_defaults(func=_cmd_merge)

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


def _cmd_survival(args: argparse.Namespace) -> int:
    cfg = from_args(SurvivalConfig, args)
    print(f"wrote {build(cfg.irp, args.out, cfg.rule)}")
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    cfg = from_args(SurvivalMergeConfig, args)
    print(f"wrote {merge(cfg.inputs, args.out, cfg.rule)}")
    return 0


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
        with replace_file(args.out) as tmp:
            df.to_csv(tmp, index=False)
    return 0
