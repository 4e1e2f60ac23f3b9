"""The claims ledger: one row per qualitative claim of the three papers, tested on our runs.

``python -m autosparse claims --config-json '<config>' --out results/claims.csv`` re-plans the
experiments of the config (:mod:`autosparse.workflow_config`), reads every metrics JSON they
name, and for each claim compares two sets of runs paired by seed (same seed = same theta_0 and
data order): the mean paired difference and its 95 % Student-t interval
(:func:`autosparse.stats.paired_difference`). A claim "A >= B" is the difference A - B above
``-MARGIN``; "A beats B" is A - B above 0; "A collapses" is B - A above ``COLLAPSE``. The verdict is
*holds* when the whole interval clears the threshold, *fails* when it lies on the wrong side,
*inconclusive* when it straddles it (:func:`autosparse.stats.decide`); a claim over several
comparisons fails if one fails and holds only if all hold.

Here: the ledger (:func:`ledger`), its Markdown and the CLI; how one claim is tested (thresholds,
:class:`Claim`, :class:`Runs`): :mod:`.evidence`; the papers' claims themselves: :mod:`.papers`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .. import workflow_config as wc
from .. import workflow_paths as wp
from ..paper import display
from ..stats import FAILS, HOLDS, INCONCLUSIVE
from .evidence import COLLAPSE, MARGIN, Claim, Runs, source_note  # noqa: F401  (re-exported)
from .papers import CLAIMS, FRANKLE_METHODS  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    import pandas as pd


def ledger(config: Mapping) -> pd.DataFrame:
    """Every claim of :data:`CLAIMS` tested on the runs of ``config`` that exist."""
    import pandas as pd

    tgt, note = wc.target_for(config, config["target"])
    t = wp.parse_target(tgt)
    setting = (f"{display(t['model'])} / {display(t['dataset'])}"
               + (f" at width {t['width']:g}" if t["width"] != 1 else "")
               + f", {len(config['seeds'])} seeds, profile {config.get('profile', '?')}"
               + (f"; {note}" if note else ""))
    rows = [c.row(setting) for make in CLAIMS for c in make(config)]
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame, profile: str = "") -> str:
    counts = df["verdict"].value_counts()
    lines = [
        "# Claims ledger", "",
        f"Profile `{profile}`; setting: {df['setting'].iloc[0] if len(df) else '-'}.",
        f"**{counts.get(HOLDS, 0)} hold, {counts.get(FAILS, 0)} fail, "
        f"{counts.get(INCONCLUSIVE, 0)} inconclusive** of {len(df)} claims.", "",
        "Each comparison pairs runs by seed (same theta_0 and data order) and gives the mean "
        "paired difference with its 95 % Student-t interval (n - 1 dof). A claim holds when the "
        "whole interval clears its threshold, fails when it lies on the other side, and is "
        f"inconclusive when it straddles it. Non-inferiority (>=) margin: {MARGIN} points; "
        f"collapse: a drop of more than {COLLAPSE:g} points.", "",
        "| claim | source | experiment | our numbers | test | verdict |",
        "| --- | --- | --- | --- | --- | --- |"]
    for r in df.to_dict("records"):
        verdict = f"**{r['verdict']}**" + (f" ({r['note']})" if r["note"] else "")
        nums = str(r["our_numbers"]).replace("; ", "<br>")
        lines.append(f"| {r['statement']} | {r['source']} | `{r['experiment']}` | {nums} | "
                     f"{r['test']} | {verdict} |")
    return "\n".join(lines) + "\n"


def register_cli(sub) -> None:
    p = sub.add_parser("claims", help="the claims ledger: each claim of the papers tested on "
                       "our runs (results/claims.csv + .md)")
    p.add_argument("--config-json", required=True, metavar="JSON",
                   help="the workflow config as a JSON string (not a path)")
    p.add_argument("--out", type=Path, required=True,
                   help="CSV path; the Markdown ledger (.md) is written beside it")

    def run(a: argparse.Namespace) -> int:
        from ..tables import write_table

        config = json.loads(a.config_json)
        df = ledger(config)
        write_table(df, a.out, markdown=to_markdown(df, config.get("profile", "")))
        print(df["verdict"].value_counts().to_string())
        return 0

    p.set_defaults(func=run)
