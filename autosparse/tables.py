"""Tables: gather per-job metrics JSON into tidy tables (one row per cell) + Markdown.

``python -m autosparse table --name table4 --metrics a.json b.json ... [--labels JSON]
--out results/table4.csv`` writes the CSV and ``results/table4.md``. A row's identity comes from
its metrics path (:func:`autosparse.workflow_paths.parse_metrics_path`) plus the experiment's key
labels handed over by the DAG (e.g. ``irp_source``, ``backbone``, ``dataset_note``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import workflow_paths as wp
from .registry import Registry

if TYPE_CHECKING:  # pandas is imported where used (every DAG job imports the CLI's modules)
    import pandas as pd

IDENTITY = ["model", "dataset", "width", "method", "sparsity"]
VALUES = {"test_accuracy": "accuracy", "achieved_sparsity": "achieved_sparsity"}
CI = "95 % Student-t interval of the mean over seeds (n - 1 dof)"

TABLES: Registry[Callable[..., pd.DataFrame]] = Registry("table")


def gather(metrics: Sequence[str | Path], labels: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """One row per training job: identity fields, labels, seed, accuracy, achieved sparsity, the
    test-set size and epochs it was measured with and (for pruned jobs) the mask's scoring time
    when its store records one."""
    import pandas as pd

    from .artifacts.metrics import read_metrics

    rows = []
    for path in metrics:
        ident = wp.parse_metrics_path(str(path))
        m = read_metrics(path)
        row = {**ident, **dict((labels or {}).get(str(path), {})),
               "accuracy": float(m["test_accuracy"]),
               "achieved_sparsity": float(m.get("achieved_sparsity", 0.0)),
               "n_test": int(m.get("test_size") or 0),
               "epochs": int((m.get("config") or {}).get("epochs") or 0)}
        if m.get("mask"):
            row["scoring_time"] = _scoring_time(m["mask"])
        rows.append(row)
    return pd.DataFrame(rows)


def _scoring_time(mask_store: str) -> float | None:
    import zarr

    try:
        attrs = dict(zarr.open_group(mask_store, mode="r").attrs)
    except (FileNotFoundError, OSError, ValueError):
        return None
    for key in ("scoring_time", "scoring_wall_time", "wall_time"):
        if isinstance(attrs.get(key), (int, float)):
            return float(attrs[key])
    return None


RUN_COLUMNS = {"seed", "target", "variant", "scorer", "ablation", "rounds", "irp", "own",
               "accuracy", "achieved_sparsity", "scoring_time", "dataset_note", "n_test",
               "epochs", "sources"}


def summarize(runs: pd.DataFrame, keys: Sequence[str] | None = None) -> pd.DataFrame:
    """Per cell (``keys``): mean, sample std, the :data:`CI` bounds (``ci95_low``,
    ``ci95_high``) and ``n_seeds`` of the accuracy; mean and std of the other value columns;
    the test-set size ``n_test``. Default keys: label columns then identity columns."""
    from .stats import t_interval

    if keys is None:
        fixed = set(IDENTITY) | RUN_COLUMNS
        keys = [c for c in runs.columns if c not in fixed] + [*IDENTITY, "variant"]
    keys = [k for k in keys if k in runs.columns]
    runs = runs.copy()
    for k in keys:
        runs[k] = runs[k].fillna("")
    values = [c for c in ("accuracy", "achieved_sparsity", "scoring_time")
              if c in runs.columns and runs[c].notna().any()]
    g = runs.groupby(keys, sort=False, dropna=False)
    out = g[values].agg(["mean", "std"])
    out.columns = [f"{c}_{s}" if c != "accuracy" else s for c, s in out.columns]
    out["n_seeds"] = g["seed"].nunique()
    ivs = g["accuracy"].apply(lambda a: t_interval(list(a)))
    out["ci95_low"] = [iv.low for iv in ivs]
    out["ci95_high"] = [iv.high for iv in ivs]
    for col in ("n_test", "epochs"):
        if col in runs.columns:
            out[col] = g[col].max()
    for col in ("dataset_note", "sources"):
        if col in runs.columns:
            out[col] = g[col].first().fillna("")
    out = out.reset_index()
    order = [k for k in keys if k != "variant"] + ["mean", "std", "ci95_low", "ci95_high",
                                                   "n_seeds"]
    return out[order + [c for c in out.columns if c not in order and c != "variant"]
               + (["variant"] if "variant" in out.columns else [])]


def with_paper(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Add the paper's value of each cell (``paper``, from ``autosparse/paper/values.csv``), our
    difference to it (``paper_diff``) and the table's row key (``paper_row``)."""
    from .paper import column_key, paper_cells, row_key

    cells = paper_cells(name)
    df = df.copy()
    rows = [row_key(name, r) for r in df.to_dict("records")]
    cols = [column_key(r) for r in df.to_dict("records")]
    df["paper_row"] = rows
    df["paper"] = [cells[(r, c)]["value"] if (r, c) in cells else float("nan")
                   for r, c in zip(rows, cols)]
    df["paper_diff"] = df["mean"] - df["paper"]
    return df


def source_checks(df: pd.DataFrame) -> dict[str, dict]:
    """``learning_check`` of every IRP store named in the ``sources`` column (";"-joined), so
    that a cell whose scorer learned from a network that never learned is flagged."""
    stores = sorted({s for v in df.get("sources", []) if v for s in str(v).split(";")})
    if not stores:
        return {}
    from .irp import learning_check  # imports torch: only for tables with IRP sources

    return {s: learning_check(s) for s in stores}


@TABLES.register("accuracy")
def accuracy_table(metrics: Sequence[str | Path], labels: Mapping | None = None,
                   name: str = "") -> pd.DataFrame:
    """Tables 1-6, 8 and PX Table 2: accuracy per (experiment keys, method, sparsity), with the
    paper's value beside each cell and a flag on cells whose IRP source did not learn."""
    df = summarize(gather(metrics, labels))
    if name:
        df = with_paper(name, df)
    checks = source_checks(df)
    if checks:
        bad = [[checks[s]["message"] for s in str(v).split(";") if v and not checks[s]["learned"]]
               for v in df["sources"]]
        df["source_learned"] = [not b for b in bad]
        df["source_note"] = ["; ".join(b) for b in bad]
    return df


def to_markdown(df: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub Markdown table (no tabulate dependency); floats rounded to ``digits``."""
    import pandas as pd

    def cell(v) -> str:
        if isinstance(v, float):
            return "" if pd.isna(v) else f"{v:.{digits}f}" if abs(v) >= 0.01 or v == 0 else f"{v:.3g}"
        return str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body]) + "\n"


_HTML_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;max-width:90em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
th,td{border:1px solid #bbb;padding:.3em .6em;vertical-align:top;text-align:left}
th{background:#eef2f7}tr:nth-child(even) td{background:#f8f9fb}
code{background:#f1f1f1;padding:0 .2em;border-radius:3px}"""


def _inline_html(text: str) -> str:
    """One line of our Markdown as HTML: ``**bold**``, ```code```, ``<br>`` kept, the rest escaped."""
    import html
    import re

    out = html.escape(text, quote=False).replace("&lt;br&gt;", "<br>")
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)


def markdown_html(md: str, title: str = "") -> str:
    """A standalone HTML page of the Markdown our tables and ledger write (headings, paragraphs,
    ``- `` lists, pipe tables with a header row), for ``snakemake --report`` and browsers."""
    import html
    import re

    def cells(line: str) -> list[str]:
        parts = re.split(r"(?<!\\)\|", line.strip().strip("|"))
        return [_inline_html(c.strip().replace("\\|", "|")) for c in parts]

    body: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            rows = [b for b in block if not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", b.strip())]
            head, *rest = rows
            body.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in cells(head))
                        + "</tr></thead><tbody>" + "".join(
                            "<tr>" + "".join(f"<td>{c}</td>" for c in cells(r)) + "</tr>"
                            for r in rest) + "</tbody></table>")
            continue
        if m := re.match(r"(#{1,6}) (.*)", line):
            level = len(m.group(1))
            body.append(f"<h{level}>{_inline_html(m.group(2))}</h{level}>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline_html(lines[i][2:])}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line.strip():
            para = []
            while i < len(lines) and lines[i].strip() and not re.match(r"[|#]|- ", lines[i]):
                para.append(_inline_html(lines[i]))
                i += 1
            body.append("<p>" + "\n".join(para) + "</p>")
            continue
        i += 1
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}"
            f"</title><style>{_HTML_STYLE}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def write_table(df: pd.DataFrame, out: str | Path, title: str = "", markdown: str | None = None) -> None:
    """``out`` (CSV) and its ``.md`` and ``.html`` siblings (``markdown``, default a plain
    rendering of ``df``; the HTML page of it for the report), each written atomically."""
    from .artifacts.atomic import write_text

    out = Path(out)
    md = markdown if markdown is not None else (f"# {title}\n\n" if title else "") + to_markdown(df)
    for path, text in ((out, df.to_csv(index=False)), (out.with_suffix(".md"), md),
                       (out.with_suffix(".html"), markdown_html(md, title or out.stem))):
        write_text(path, text)


# Table name -> builder kind.
@TABLES.register("concordance")
def concordance_table(stores: Sequence[str | Path], labels: Mapping | None = None,
                      name: str = "table9") -> pd.DataFrame:
    """Table 9: CCC (Eq. 5) of survival scores between IRP runs (``survival.table9``)."""
    from .survival import table9

    return table9(stores)


TABLE_KIND = {name: "accuracy" for name in
              ("table1", "table2", "table3", "table4", "table5", "table6", "table8", "px_table2")}
TABLE_KIND["table9"] = "concordance"


@TABLES.register("beyond")
def beyond_table(metrics: Sequence[str | Path], labels: Mapping | None = None,
                 name: str = "beyond") -> pd.DataFrame:
    """Beyond the paper: every row against the best baseline, paired by seed
    (:func:`autosparse.beyond.compare`)."""
    from .beyond import compare

    return compare(gather(metrics, labels))


TABLE_KIND["beyond"] = "beyond"


def build_table(name: str, inputs: Sequence[str | Path], labels: Mapping | None = None) -> pd.DataFrame:
    if name not in TABLE_KIND:
        raise KeyError(f"unknown table {name!r}; valid: {', '.join(sorted(TABLE_KIND))}")
    return TABLES.get(TABLE_KIND[name])(inputs, labels, name=name)


def register_cli(sub) -> None:
    p = sub.add_parser("table", help="gather metrics JSON into a tidy CSV + Markdown table")
    p.add_argument("--name", required=True, choices=sorted(TABLE_KIND),
                   help="which of the paper's tables to build")
    p.add_argument("--metrics", nargs="+", required=True,
                   help="metrics JSON files (table9: IRP stores)")
    p.add_argument("--labels", default=None, metavar="JSON",
                   help="JSON object {path: {column: value}}: key columns of each input's rows")
    p.add_argument("--out", type=Path, required=True,
                   help="CSV path; the Markdown rendering (.md) is written beside it")
    p.add_argument("--profile", default="",
                   help="config profile name, stated in the Markdown (default: none)")

    def run(a: argparse.Namespace) -> int:
        labels = json.loads(a.labels) if a.labels else None
        from .paper.render import render

        df = build_table(a.name, a.metrics, labels)
        write_table(df, a.out, title=a.name, markdown=render(a.name, df, a.profile))
        print(f"{a.name}: {len(df)} rows -> {a.out}")
        return 0

    p.set_defaults(func=run)
