"""Our tables in the papers' layout: each cell shows ours (mean and 95 % t-interval over seeds),
the published value and the difference, with the setting and noise floor stated above the table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..stats import binomial_se
from . import LAYOUT, column_key, display, fmt, paper_cells, row_key

if TYPE_CHECKING:
    import pandas as pd

REFERENCE_ROWS = ("dense", "snip", "random")  # beside AutoS rows: what AutoS gains
PIPELINE_CHECK = {"quick", "smoke", "paper_smoke"}


def _cell(r: Mapping | None, paper: float | None, n_seeds: int, digits: int = 2) -> str:
    p = None if paper is None or math.isnan(paper) else float(paper)
    if r is None:
        return f"— / {p:.{digits}f}" if p is not None else ""
    ours = fmt(r["mean"], digits)
    if not math.isnan(r.get("ci95_low", math.nan)):
        ours += f" [{fmt(r['ci95_low'], digits)}, {fmt(r['ci95_high'], digits)}]"
    if int(r.get("n_seeds", 0)) != n_seeds:
        ours += f" (n={int(r['n_seeds'])})"
    if p is None:
        return ours
    return f"{ours} / {p:.{digits}f} / {r['mean'] - p:+.{digits}f}"


def _label(name: str, key: str, cells: Mapping) -> str:
    """The paper's name of a row (PX Table 2: with its rounds T), else ours in display names."""
    *parts, last = key.split("|")
    rounds = f" (T = {last[1:]})" if parts and last[:1] == "T" and last[1:].isdigit() else ""
    for (row, _), v in cells.items():
        if row == key:
            return str(v["paper_row"]) + rounds
    if rounds:
        return " / ".join(display(p) for p in parts) + rounds
    return " / ".join(display(p) for p in key.split("|"))


def _setting(name: str, df: pd.DataFrame, profile: str) -> list[str]:
    lay = LAYOUT[name]
    pruned = df[df["method"] != "dense"] if "method" in df else df
    src = pruned if len(pruned) else df
    model, dataset = str(src["model"].iloc[0]), str(src["dataset"].iloc[0])
    width = float(src["width"].iloc[0]) if "width" in src else 1.0
    ours = f"{display(model)} / {display(dataset)}" + (f" at width {width:g}" if width != 1 else "")
    theirs = f"{display(lay.model, paper=True)} / {display(lay.dataset, paper=True)}"
    same = (model, dataset, width) == (lay.model, lay.dataset, 1.0)
    lines = [f"Profile `{profile or '?'}`. We prune **{ours}**" +
             ("" if same else f"; the paper prunes {theirs} (our setting differs)") + "."]
    if "epochs" in df and df["epochs"].max() > 0:
        ep = int(df["epochs"].max())
        lines.append(f"Retraining: {ep} epochs (paper: {lay.epochs})" +
                     ("." if ep == lay.epochs else ": every cell is below the paper's budget."))
    return lines


def _noise(df: pd.DataFrame) -> str:
    n = int(df["n_test"].max()) if "n_test" in df else 0
    if n <= 0:
        return ""
    dense = df[df["method"] == "dense"]["mean"] if "method" in df else []
    at = f"{binomial_se(float(dense.iloc[0]), n):.2f} points at the dense accuracy " \
         f"({float(dense.iloc[0]):.2f} %), " if len(dense) else ""
    return (f"Noise floor: the binomial standard error of one run's accuracy on the {n:,} test "
            f"images is {at}{binomial_se(0.5, n):.2f} points at 50 %.")


def render(name: str, df: pd.DataFrame, profile: str = "") -> str:
    """Markdown of table ``name`` in the paper's layout (rows and columns as the paper has them,
    then rows the paper lacks; Table 4 with the dense, SNIP and random references)."""
    if name == "table9":
        return render_concordance(df, profile)
    if name == "beyond":  # not a paper table: its own layout
        from ..beyond import render_beyond

        return render_beyond(df, profile)
    lay, cells = LAYOUT[name], paper_cells(name)
    recs = df.to_dict("records")
    ours: dict[tuple[str, str], Mapping] = {}
    for r in recs:
        ours[(row_key(name, r), column_key(r) if r.get("method") != "dense" else "*")] = r
    n_seeds = max((int(r["n_seeds"]) for r in recs), default=0)
    cols = sorted({c for (_, c) in cells if c != "time"} |
                  {c for (_, c) in ours if c != "*"}, key=float)
    paper_rows = list(dict.fromkeys(r for (r, _) in cells))
    our_rows = list(dict.fromkeys(k for (k, _) in ours))
    refs = [k for k in REFERENCE_ROWS if k in our_rows and k not in paper_rows]
    rows = paper_rows + [k for k in our_rows if k not in paper_rows and k not in refs] + refs
    timed = name == "px_table2"
    head = [lay.row_header, *[f"{100 * float(c):g} %" for c in cols]] + (
        ["scoring time (s)"] if timed else [])
    notes = any(r.get("dataset_note") or r.get("source_note") for r in recs)
    head += ["note"] if notes else []
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for k in rows:
        vals = []
        for c in cols:
            r = ours.get((k, c)) or ours.get((k, "*"))
            p = cells.get((k, c), {}).get("value")
            vals.append(_cell(r, p, n_seeds))
        if timed:
            r = next((ours[(k, c)] for c in cols if (k, c) in ours), None)
            t = cells.get((k, "time"), {}).get("value")
            mine = fmt(r.get("scoring_time_mean", math.nan), 3) if r else "—"
            vals.append(f"{mine} / {t:g}" if t is not None else mine)
        if notes:
            r = next((v for (kk, _), v in ours.items() if kk == k), {})
            vals.append("; ".join(x for x in (r.get("dataset_note"), r.get("source_note")) if x))
        lines.append("| " + " | ".join([_label(name, k, cells), *vals]) + " |")
    intro = [f"# {name}: {lay.caption} ({lay.source})", ""]
    if profile in PIPELINE_CHECK:
        intro += [f"**The `{profile}` profile is a pipeline check, not evidence**: narrow networks,"
                  " small data and few epochs; see `config/cpu.yaml` for the CPU reproduction.", ""]
    intro += _setting(name, df, profile)
    intro += [f"Each cell: our mean [{_ci_words(n_seeds)}] / the paper's value / ours − paper "
              "(top-1 test accuracy, %); `—` = not run here." + (
                  " Scoring time: ours (this machine) / the paper's (Titan Xp)." if timed else "")]
    noise = _noise(df)
    return "\n".join(intro + ([noise] if noise else []) + [""] + lines) + "\n"


def _ci_words(n: int) -> str:
    return f"95 % Student-t interval over {n} seeds" if n > 1 else "one seed: no interval"


def render_concordance(df: pd.DataFrame, profile: str = "") -> str:
    """Table 9: CCC of survival scores, same vs different initialisation, ours / paper."""
    lay, cells = LAYOUT["table9"], paper_cells("table9")
    lines = [f"# table9: {lay.caption} ({lay.source})", "",
             f"Profile `{profile or '?'}`. IRP runs of {display(lay.model)} / "
             f"{display(lay.dataset)}; each cell: our mean CCC over pairs of runs (pairs) / the "
             "paper's value.", "",
             "| Methods | Same Init. | Different Init. |", "| --- | --- | --- |"]
    for (a, b), grp in df.groupby(["method_a", "method_b"], sort=False):
        key = "&".join(sorted((a, b)))
        out = []
        for init in ("same", "different"):
            r = grp[grp["init"] == init]
            p = cells.get((key, init), {}).get("value")
            mine = "—" if r.empty or math.isnan(r["ccc"].iloc[0]) else \
                f"{r['ccc'].iloc[0]:.5f} ({int(r['n_pairs'].iloc[0])})"
            out.append(mine + (f" / {p:.5f}" if p is not None else ""))
        lines.append(f"| {display(a)} & {display(b)} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"
