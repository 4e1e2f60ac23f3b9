"""Beyond the paper: the comparison table of learned PaI variants (``results/beyond.*``).

One row per (configured entry, sparsity): the accuracy over the held-out seeds (mean, sample std,
95 % Student-t interval, ``n_seeds``), the test-set size and the noise floor of one run there
(:func:`autosparse.stats.binomial_se` at the row's mean), the mean scoring time of its masks and
its ratio to PX's at the same sparsity, and two paired comparisons by seed
(:func:`autosparse.stats.paired_difference`; same seed = same theta_0 and data order):

* against the **best baseline** of that network and sparsity, the PaI baseline (role
  ``baseline``) with the highest mean accuracy there, with the verdict of "this row beats it"
  (:func:`autosparse.stats.decide` with threshold 0: *holds* when the whole interval lies above
  zero, *fails* below, *inconclusive* when it straddles zero);
  and, for the ``m`` learned and transferred rows of that network and sparsity, the same test
  with Bonferroni's correction (a ``1 - 0.05 / m`` interval, ``verdict_adjusted``): with many
  contestants one of them clears 0 at 95 % by chance alone;
* against the first **reference** row (the IRP ticket, ``lottery``), difference and interval.

Roles come from the DAG's labels (:func:`autosparse.workflow_config.beyond_inputs`): ``baseline``,
``reference``, ``learned``, ``transfer`` and ``dense``. Picking the best baseline on the same
seeds favours the baseline (a conservative test of a learned row).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .paper import display, fmt
from .stats import LEVEL, binomial_se, decide, paired_difference, t_interval
from .workflow.paths import Variant, parse_irp, parse_scorer

if TYPE_CHECKING:
    import pandas as pd

ROLES = ("baseline", "reference", "learned", "transfer")
CONTESTANTS = ("learned", "transfer")  # the rows that try to beat the best baseline
ROLE_NAMES = {"baseline": "PaI baseline", "reference": "IRP ticket (not PaI)",
              "learned": "learned (ours)", "transfer": "transferred (ours)", "dense": "dense"}
BEST = "best baseline"


def row_name(method: str, rounds: object = None, entry: str = "", source: str = "") -> str:
    """Display name of a row: the method's, with its rounds when the variant names them and,
    in brackets, what the configured ``entry`` sets itself: its scorer's merged IRP runs, MLP
    backbone, layer context or ranking loss, the criterion of its IRP ticket; ``source``: the
    IRP run a transferred row reads (its network named)."""
    r = None if rounds is None or (isinstance(rounds, float) and math.isnan(rounds)) else rounds
    tags = []
    v = Variant.parse(entry) if entry and isinstance(entry, str) else None
    if v is not None and v.scorer:
        s = parse_scorer(v.scorer)
        try:
            parse_irp(s["survival"])
        except ValueError:  # a merge of several IRP runs (Table 6's names)
            tags.append(f"scorer on {s['survival']} IRP runs")
        tags += [t for t, on in (("MLP scorer", s["arch"] == "mlp"),
                                 ("layer context", s["context"]),
                                 ("ranking loss", s["loss"] == "rank")) if on]
    if v is not None and v.irp:
        tags.append(f"{display(parse_irp(v.irp)['criterion'])} IRP ticket")
    if source:
        irp = parse_irp(source)
        tags.append(f"from {display(irp['model'])} / {display(irp['dataset'])}")
    return (display(method) + (f" (T = {int(r)})" if r not in (None, "") else "")
            + (f" [{', '.join(tags)}]" if tags else ""))


def _by_seed(df: pd.DataFrame) -> dict[int, float]:
    return {int(s): float(a) for s, a in zip(df["seed"], df["accuracy"])}


def compare(runs: pd.DataFrame) -> pd.DataFrame:
    """The beyond table of per-job ``runs`` (:func:`autosparse.tables.gather` rows with ``role``
    and ``entry`` labels); see the module docstring for the columns."""
    import pandas as pd

    runs = runs.copy()
    roles = runs["role"].fillna("") if "role" in runs else [""] * len(runs)
    runs["role"] = [("dense" if m == "dense" else r or "baseline")
                    for m, r in zip(runs["method"], roles)]
    if "entry" not in runs:
        runs["entry"] = runs["variant"]
    runs["entry"] = [e if isinstance(e, str) and e else v
                     for e, v in zip(runs["entry"], runs["variant"])]
    runs["net"] = [net_key(m, d, w) for m, d, w in zip(runs["model"], runs["dataset"],
                                                        runs["width"])]
    nets = list(dict.fromkeys(runs["net"]))
    keys = ["net", "role", "entry", "variant", "sparsity"]
    cells = []
    for (net, role, entry, variant, sp), g in runs.groupby(keys, sort=False):
        iv = t_interval(list(g["accuracy"]))
        n_test = int(g["n_test"].max()) if "n_test" in g else 0
        rounds = g["rounds"].iloc[0] if "rounds" in g else None
        times = g["scoring_time"].dropna() if "scoring_time" in g else []
        source = (Variant.parse(variant).irp or "") if role == "transfer" else ""
        cells.append({
            "net": net, "role": role, "entry": entry,
            "name": row_name(str(g["method"].iloc[0]), rounds, entry, source),
            "method": str(g["method"].iloc[0]), "sparsity": float(sp), "mean": iv.mean,
            "std": iv.std, "ci95_low": iv.low, "ci95_high": iv.high, "n_seeds": iv.n,
            "seeds": ",".join(str(int(s)) for s in sorted(g["seed"])), "n_test": n_test,
            "noise_floor": binomial_se(iv.mean, n_test) if n_test else math.nan,
            "scoring_time_mean": float(times.mean()) if len(times) else math.nan,
            "epochs": int(g["epochs"].max()) if "epochs" in g else 0,
            "irp": next((str(x) for x in g.get("irp", []) if isinstance(x, str) and x), ""),
            "dataset_note": next((str(x) for x in g.get("dataset_note", []) if x), ""),
            "model": str(g["model"].iloc[0]), "dataset": str(g["dataset"].iloc[0]),
            "width": float(g["width"].iloc[0]), "variant": variant, "_runs": _by_seed(g)})
    # per network and sparsity, once: the best baseline, the first reference row and PX's row
    anchors = {}
    for net, sp in {(c["net"], c["sparsity"]) for c in cells}:
        here = [x for x in cells if x["sparsity"] == sp and x["net"] == net]
        base = [x for x in here if x["role"] == "baseline" and not math.isnan(x["mean"])]
        anchors[net, sp] = (max(base, key=lambda x: x["mean"], default=None),
                            next((x for x in here if x["role"] == "reference"), None),
                            next((x for x in here
                                  if x["method"] == "px" and x["role"] == "baseline"), None),
                            sum(x["role"] in CONTESTANTS for x in here))
    out = []
    for c in cells:
        row = {k: v for k, v in c.items() if k != "_runs"}
        row.update(best_baseline="", diff=math.nan, diff_ci95_low=math.nan,
                   diff_ci95_high=math.nan, diff_n=0, verdict="", reference="",
                   diff_reference=math.nan, diff_reference_ci95_low=math.nan,
                   diff_reference_ci95_high=math.nan, time_vs_px=math.nan,
                   n_contestants=0, diff_adj_low=math.nan, diff_adj_high=math.nan,
                   verdict_adjusted="")
        if c["role"] != "dense":
            best, ref, px, m = anchors[c["net"], c["sparsity"]]
            if best is not None:
                row["best_baseline"] = best["name"]
                if best is c:
                    row["verdict"] = BEST
                else:
                    p = paired_difference(c["_runs"], best["_runs"])
                    row.update(diff=p.diff.mean, diff_ci95_low=p.diff.low,
                               diff_ci95_high=p.diff.high, diff_n=p.diff.n,
                               verdict=decide(p.diff, 0.0))
                    if c["role"] in CONTESTANTS:  # Bonferroni over the contested rows
                        a = paired_difference(c["_runs"], best["_runs"],
                                              level=1 - (1 - LEVEL) / m).diff
                        row.update(n_contestants=m, diff_adj_low=a.low, diff_adj_high=a.high,
                                   verdict_adjusted=decide(a, 0.0))
            if ref is not None:
                row["reference"] = ref["name"]
                if ref is not c:
                    p = paired_difference(c["_runs"], ref["_runs"])
                    row.update(diff_reference=p.diff.mean, diff_reference_ci95_low=p.diff.low,
                               diff_reference_ci95_high=p.diff.high)
            if px is not None and px["scoring_time_mean"] > 0:
                row["time_vs_px"] = c["scoring_time_mean"] / px["scoring_time_mean"]
        out.append(row)
    df = pd.DataFrame(out)
    order = {r: i for i, r in enumerate(("dense", *ROLES))}
    df["_o"] = [order.get(r, len(order)) for r in df["role"]]
    df["_n"] = [nets.index(n) for n in df["net"]]
    return df.sort_values(["_n", "sparsity", "_o"], kind="stable").drop(
        columns=["_o", "_n"]).reset_index(drop=True)


def net_key(model: object, dataset: object, width: object) -> str:
    """One network of the table: ``model/dataset/width``."""
    return f"{model}/{dataset}/{float(width):g}"


def _bold(verdict: str) -> str:
    return f"**{verdict}**" if verdict == "holds" else verdict


def _iv(mean: float, low: float, high: float, sign: bool = False) -> str:
    s = fmt(mean, sign=sign)
    return s if math.isnan(low) else f"{s} [{fmt(low, sign=sign)}, {fmt(high, sign=sign)}]"


def render_beyond(df: pd.DataFrame, profile: str = "") -> str:
    """Markdown of the beyond table: the protocol, then per network its setting and one table per
    sparsity."""
    lines = ["# beyond: learned PaI variants against every baseline and the IRP ticket", "",
             f"Profile `{profile or '?'}`. Accuracy: top-1 test accuracy (%), mean [95 % "
             "Student-t interval over seeds] (n). Differences are paired by seed (same theta_0, "
             "same data order), mean [95 % t-interval]. Verdict of \"beats the best baseline\" "
             "(the PaI baseline with the highest mean at that network and sparsity): `holds` = "
             "the interval lies above 0, `fails` = below 0, `inconclusive` = it straddles 0; "
             "with m learned and transferred rows at a network and sparsity, the Bonferroni "
             "verdict uses the 1 - 0.05/m interval (one of many rows clears 0 at 95 % by chance "
             "alone). The "
             "IRP ticket (LTH of each seed's own IRP run) is a reference that trains before "
             "pruning, not a PaI method. Learned rows read the layer-wise densities of the "
             "network's own IRP ticket on another seed (another initialisation and data order), "
             "never its per-weight mask; transferred rows read those of another network's "
             "ticket. Scoring time: mean seconds to score and prune one mask on this machine, "
             "and its ratio to PX's."]
    for net in dict.fromkeys(df["net"]):
        lines += _render_net(df[df["net"] == net])
    return "\n".join(lines) + "\n"


def _render_net(df: pd.DataFrame) -> list[str]:
    from .figures.style import sparsity_pct  # matplotlib-free helpers

    pruned = df[df["role"] != "dense"]
    r0 = (pruned if len(pruned) else df).iloc[0]
    width = float(r0["width"])
    target = f"{display(r0['model'])} / {display(r0['dataset'])}" + (
        f" at width {width:g}" if width != 1 else "")
    seeds = sorted({s for v in pruned["seeds"] for s in str(v).split(",") if s}, key=int)
    n_test = int(df["n_test"].max()) if len(df) else 0
    dense = df[df["role"] == "dense"]
    lines = ["", f"## {target}", "", f"Held-out seeds {', '.join(seeds)}."]
    for role, what in (("learned", "learned rows"), ("transfer", "transferred rows")):
        tickets = sorted({x for x in pruned.loc[pruned["role"] == role, "irp"] if x})
        if tickets:
            lines.append(f"IRP ticket of the {what}: {', '.join(f'`{t}`' for t in tickets)}.")
    if "epochs" in df:
        lines.append(f"Retraining: {int(df['epochs'].max())} epochs.")
    if n_test:
        at = (f"{binomial_se(float(dense['mean'].iloc[0]), n_test):.2f} points at the dense "
              f"accuracy ({float(dense['mean'].iloc[0]):.2f} %), " if len(dense) else "")
        lines.append(f"Noise floor: the binomial standard error of one run's accuracy on the "
                     f"{n_test:,} test images is {at}{binomial_se(50.0, n_test):.2f} points at "
                     "50 % (per row: column `noise_floor` of the CSV).")
    if len(dense):
        d = dense.iloc[0]
        lines.append(f"Dense: {_iv(d['mean'], d['ci95_low'], d['ci95_high'])} "
                     f"({int(d['n_seeds'])} seeds).")
    for sp, g in pruned.groupby("sparsity", sort=True):
        best = next((b for b in g["best_baseline"] if b), "—")
        ref = next((b for b in g["reference"] if b), "")
        m = int(g["n_contestants"].max()) if "n_contestants" in g else 0
        head = ["Method", "kind", "accuracy (%)", "std", "scoring time (s)", "× PX time",
                f"− best baseline ({best})", "verdict"] + (
                    [f"verdict, Bonferroni over {m}"] if m else []) + (
                    [f"− {ref}"] if ref else [])
        lines += ["", f"### {target}, {sparsity_pct(sp)} sparsity", "",
                  "| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
        for r in g.to_dict("records"):
            acc = _iv(r["mean"], r["ci95_low"], r["ci95_high"]) + f" ({int(r['n_seeds'])})"
            vals = [r["name"], ROLE_NAMES.get(r["role"], r["role"]), acc, fmt(r["std"]),
                    fmt(r["scoring_time_mean"], 3), fmt(r["time_vs_px"]),
                    _iv(r["diff"], r["diff_ci95_low"], r["diff_ci95_high"], sign=True),
                    _bold(r["verdict"])]
            if m:
                vals.append(_bold(r["verdict_adjusted"]))
            if ref:
                vals.append(_iv(r["diff_reference"], r["diff_reference_ci95_low"],
                                r["diff_reference_ci95_high"], sign=True))
            lines.append("| " + " | ".join(vals) + " |")
    return lines
