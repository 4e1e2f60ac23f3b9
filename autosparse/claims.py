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
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import workflow_config as wc
from . import workflow_paths as wp
from .paper import display
from .stats import FAILS, HOLDS, INCONCLUSIVE, combine, decide, paired_difference

if TYPE_CHECKING:
    import pandas as pd

MARGIN = 0.5     # accuracy points: "A >= B" holds when A - B > -MARGIN (non-inferiority)
COLLAPSE = 10.0  # accuracy points: a drop of more than this is a collapse


@dataclass
class Claim:
    """One row of the ledger."""

    id: str
    statement: str
    source: str
    experiment: str
    test: str = ""
    numbers: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    note: str = ""

    def compare(self, label: str, a: Mapping[int, float], b: Mapping[int, float],
                threshold: float, digits: int = 2) -> None:
        """Test ``a - b > threshold`` paired by seed; record the numbers and the verdict."""
        if not a or not b:
            self.numbers.append(f"{label}: not run")
            self.verdicts.append(INCONCLUSIVE)
            return
        p = paired_difference(a, b)
        d = p.diff
        if d.n == 0:
            self.numbers.append(f"{label}: no seed run on both sides")
            self.verdicts.append(INCONCLUSIVE)
            return
        ci = "" if d.n < 2 else f" [{d.low:+.{digits}f}, {d.high:+.{digits}f}]"
        self.numbers.append(f"{label}: {p.a_mean:.{digits}f} vs {p.b_mean:.{digits}f}, "
                            f"diff {d.mean:+.{digits}f}{ci} (n={d.n})")
        self.verdicts.append(decide(d, threshold))

    def row(self, setting: str) -> dict:
        return {"id": self.id, "statement": self.statement, "source": self.source,
                "experiment": self.experiment, "setting": setting, "test": self.test,
                "our_numbers": "; ".join(self.numbers), "verdict": combine(self.verdicts),
                "note": self.note}


class Runs:
    """Per-seed accuracies of the planned metrics files that exist."""

    def __init__(self, items: Iterable[tuple[str, dict]]):
        from .tables import gather

        items = [(p, lab) for p, lab in items if Path(p).is_file()]
        self.df: pd.DataFrame = gather([p for p, _ in items], dict(items))

    def acc(self, value: str = "accuracy", **where) -> dict[int, float]:
        """``{seed: value}`` of the runs whose columns equal ``where``."""
        import pandas as pd

        df = self.df
        if df.empty or value not in df:
            return {}
        for k, v in where.items():
            if k not in df:
                return {}
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                num = pd.to_numeric(df[k], errors="coerce")
                df = df[(num - float(v)).abs() < 1e-9]
            else:
                df = df[df[k].astype(str) == str(v)]
        return {int(s): float(x) for s, x in zip(df["seed"], df[value]) if x == x}


def source_note(config: Mapping, **scorer: object) -> str:
    """A note naming the IRP sources of a scorer (default: the profile's AutoS) whose network did
    not learn (:func:`autosparse.irp.learning_check`): its survival scores are noise."""
    from .irp import learning_check

    name = wc.scorer_for(config, **scorer)
    bad = []
    for store in wc.survival_inputs(config, wp.parse_scorer(name)["survival"]):
        if Path(store).exists() and not (chk := learning_check(store))["learned"]:
            bad.append(f"IRP source {Path(store).stem} did not learn ({chk['message']})")
    return "; ".join(bad)


def _pct(s: float) -> str:
    return f"{100 * s:g} %"


def _high(sparsities: Iterable[float], at_least: float = 0.0) -> list[float]:
    return [s for s in sorted(sparsities) if s >= at_least - 1e-12]


# -- the claims -------------------------------------------------------------------------------

def _fig3(config: Mapping) -> list[Claim]:
    ex = config["experiments"].get("fig3")
    if not ex:
        return []
    tgt, _ = wc.target_for(config, config["target"])
    runs = Runs(wc.figure_inputs(config, "fig3"))
    v = {m: wc.variant_for(config, m) for m in ex["methods"]}
    on = dict(target=tgt)
    out = []
    c = Claim("fig3-autos-snip", "AutoS >= SNIP at 95 % and 99 % sparsity on the main target",
              "AutoS Fig. 3 (ResNet-18: +0.8 at 95 %, +0.5 at 99 %)", "results/figures/fig3.png",
              f"paired t over seeds: AutoS - SNIP > -{MARGIN}")
    for s in [x for x in ex["sparsities"] if x in (0.95, 0.99)] or _high(ex["sparsities"])[-1:]:
        c.compare(_pct(s), runs.acc(variant=v.get("autos", ""), sparsity=s, **on),
                  runs.acc(variant=v.get("snip", ""), sparsity=s, **on), -MARGIN)
    c.note = source_note(config)
    out.append(c)
    top = max(ex["sparsities"])
    refs = [m for m in ("magnitude_after_training", "lottery") if m in v]
    pai = [m for m in v if m not in ("random", *refs)]
    c = Claim("frankle-random", f"Every PaI method beats random pruning at high sparsity "
              f"({_pct(top)})", "Frankle et al. Sec. 4", "results/figures/fig3.png",
              "paired t over seeds: method - random > 0, for every method")
    for m in pai:
        c.compare(display(m), runs.acc(variant=v[m], sparsity=top, **on),
                  runs.acc(variant=v.get("random", ""), sparsity=top, **on), 0.0)
    out.append(c)
    c = Claim("frankle-references", f"Magnitude pruning after training and lottery-ticket "
              f"rewinding beat every PaI method ({_pct(top)})", "Frankle et al. Sec. 4",
              "results/figures/fig3.png", "paired t over seeds: reference - method > 0, for "
              "every reference and PaI method")
    for r in refs:
        for m in pai:
            c.compare(f"{display(r)} vs {display(m)}", runs.acc(variant=v[r], sparsity=top, **on),
                      runs.acc(variant=v[m], sparsity=top, **on), 0.0)
    if not refs:
        c.note = "the references are not among this profile's fig3 methods"
        c.verdicts.append(INCONCLUSIVE)
    out.append(c)
    return out


def _scorer_table(config: Mapping, name: str, field_: str) -> Runs | None:
    return Runs(wc.table_inputs(config, name)) if name in config["experiments"] else None


def _tables(config: Mapping) -> list[Claim]:
    ex, out = config["experiments"], []
    if (runs := _scorer_table(config, "table2", "inputs")) is not None:
        sps = [s for s in ex["table2"]["sparsities"] if abs(s - 0.99) < 1e-9] or \
            _high(ex["table2"]["sparsities"])[-1:]
        c = Claim("table2-inputs", "Param + grad inputs >= param-only and >= grad-only at 99 %",
                  "AutoS Table 2", "results/table2.csv",
                  f"paired t: param+grad - other > -{MARGIN}")
        for s in sps:
            for other in ("param", "grad"):
                c.compare(f"{_pct(s)} vs {other}", runs.acc(inputs="param+grad", sparsity=s),
                          runs.acc(inputs=other, sparsity=s), -MARGIN)
        c.note = source_note(config)
        out.append(c)
    if (runs := _scorer_table(config, "table3", "criterion")) is not None:
        c = Claim("table3-criterion", "A scorer trained on SNIP-iter IRP data beats one trained "
                  "on LTH (magnitude) IRP data at >= 95 %", "AutoS Table 3", "results/table3.csv",
                  "paired t: SNIP-iter - LTH > 0")
        for s in _high(ex["table3"]["sparsities"], 0.95):
            c.compare(_pct(s), runs.acc(criterion="snip", sparsity=s),
                      runs.acc(criterion="magnitude", sparsity=s), 0.0)
        c.note = "; ".join(filter(None, (source_note(config, criterion=k)
                                         for k in ("snip", "magnitude"))))
        out.append(c)
    out += _table4(config)
    if (runs := _scorer_table(config, "table5", "iterations")) is not None:
        base = config["irp"]["iterations"]
        c = Claim("table5-iterations", f"More IRP iterations are no better than N = {base}",
                  "AutoS Table 5 (20 vs 40, 100)", "results/table5.csv",
                  f"paired t: N={base} - N=more > -{MARGIN}")
        for n in [i for i in ex["table5"]["iterations"] if i > base]:
            for s in ex["table5"]["sparsities"]:
                c.compare(f"N={n}, {_pct(s)}", runs.acc(iterations=base, sparsity=s),
                          runs.acc(iterations=n, sparsity=s), -MARGIN)
        c.note = "; ".join(filter(None, (source_note(config, iterations=n)
                                         for n in ex["table5"]["iterations"])))
        out.append(c)
    out += _table6(config)
    return out


def _default_autos(config: Mapping, sparsities: Iterable[float]) -> Runs:
    tgt, _ = wc.target_for(config, config["target"])
    return Runs(wc._grid(config, tgt, wc.variant_for(config, "autos"), list(sparsities), {},
                         dense=False))


def _table4(config: Mapping) -> list[Claim]:
    ex = config["experiments"].get("table4")
    if not ex:
        return []
    runs = Runs(wc.table_inputs(config, "table4"))
    t = config["target"]
    names = {s["name"]: s for s in ex["sources"]}
    own = next((n for n, s in names.items() if (s["model"], s["dataset"]) ==
                (t["model"], t["dataset"])), None)
    foreign = next((n for n in ("mnist-lenet", "cifar10-resnet18") if n in names and n != own),
                   None)
    out = []
    c = Claim("table4-own-source", f"IRP on the target's own network/data ({own}) gives a scorer "
              f">= one from {foreign}", "AutoS Table 4 (CIFAR-10/ResNet-18 >= MNIST/LeNet by "
              "0.2-0.7)", "results/table4.csv", f"paired t: own - other > -{MARGIN}")
    for arch in ex["backbones"]:
        for s in ex["sparsities"]:
            c.compare(f"{display(arch)} scorer, {_pct(s)}",
                      runs.acc(irp_source=own or "", backbone=arch, sparsity=s),
                      runs.acc(irp_source=foreign or "", backbone=arch, sparsity=s), -MARGIN)
    notes = {n: source_note(config, source=s) for n, s in names.items()}
    c.note = "; ".join(filter(None, (notes.get(own or ""), notes.get(foreign or ""))))
    out.append(c)
    drop = "cifar100-vgg19"
    c = Claim("table4-vgg19-drop", "The CIFAR-100/VGG-19 IRP source drops sharply at 99 % "
              f"(more than {COLLAPSE:g} points below the target's own source)",
              "AutoS Table 4 (88.78 -> 37.54 / 19.40)", "results/table4.csv",
              f"paired t: own - CIFAR-100/VGG-19 > {COLLAPSE:g}")
    note = wc.dataset_for(config, "cifar100")[1]
    c.note = "; ".join(filter(None, (f"stand-in: {note}" if note else "", notes.get(drop, ""))))
    for arch in ex["backbones"]:
        for s in [x for x in ex["sparsities"] if abs(x - 0.99) < 1e-9]:
            c.compare(f"{display(arch)} scorer, {_pct(s)}",
                      runs.acc(irp_source=own or "", backbone=arch, sparsity=s),
                      runs.acc(irp_source=drop, backbone=arch, sparsity=s), COLLAPSE)
    out.append(c)
    return out


def _table6(config: Mapping) -> list[Claim]:
    ex = config["experiments"].get("table6")
    if not ex:
        return []
    runs = Runs(wc.table_inputs(config, "table6"))
    base = _default_autos(config, wc.table6_baseline_sparsities(ex))
    kinds = {wc.merge_kind(r): m for m, r in ex["merges"].items()}
    out = []
    c = Claim("table6-merge-collapse", "The 20+40+100 merge collapses at 95 and 99 %",
              "AutoS Table 6 (47.56 / 10.00)", "results/table6.csv",
              f"paired t: default AutoS - merge > {COLLAPSE:g}")
    c2 = Claim("table6-merges-hold", "The 3x20 and LTH+SNIP merges do not collapse",
               "AutoS Table 6", "results/table6.csv",
               f"paired t: merge - default AutoS > -{COLLAPSE:g}")
    for s in wc.table6_baseline_sparsities(ex):
        if "20+40+100" in kinds:
            c.compare(f"{kinds['20+40+100']}, {_pct(s)}", base.acc(sparsity=s),
                      runs.acc(merge=kinds["20+40+100"], sparsity=s), COLLAPSE)
        for k in ("3x20", "lth+snip"):
            if k in kinds:
                c2.compare(f"{kinds[k]}, {_pct(s)}", runs.acc(merge=kinds[k], sparsity=s),
                           base.acc(sparsity=s), -COLLAPSE)
    return out + [c, c2]


def _table9(config: Mapping) -> list[Claim]:
    """Same-init CCC > different-init CCC, paired by criterion (self pairs, random left out)."""
    import pandas as pd

    path = Path(wp.RESULTS) / "table9.csv"
    c = Claim("table9-concordance", "Survival scores of IRP runs from the same initialisation "
              "agree more (CCC) than from different initialisations", "AutoS App. F, Table 9",
              str(path), "paired t over criteria (magnitude, SNIP, GraSP): same - different > 0")
    if "table9" not in config["experiments"]:
        return []
    if not path.is_file():
        c.verdicts.append(INCONCLUSIVE)
        c.note = "table9 not built"
        return [c]
    df = pd.read_csv(path)
    self_pairs = df[(df["method_a"] == df["method_b"]) & (df["method_a"] != "random")]
    same = {i: v for i, (_, v) in enumerate(self_pairs[self_pairs["init"] == "same"][
        ["method_a", "ccc"]].values)}
    diff = {i: v for i, (_, v) in enumerate(self_pairs[self_pairs["init"] == "different"][
        ["method_a", "ccc"]].values)}
    c.compare("CCC", same, diff, 0.0, digits=4)
    return [c]


FRANKLE_METHODS = ("snip", "grasp", "synflow", "magnitude")


def _ablations(config: Mapping) -> list[Claim]:
    ex = config["experiments"].get("ablations")
    if not ex:
        return []
    runs = Runs(wc.figure_inputs(config, "ablations"))
    tgt, _ = wc.target_for(config, config["target"])
    base = {m: wp.Variant.parse(wc.variant_for(config, m)) for m in ex["methods"]}

    def acc(m: str, kind: str | None, s: float) -> dict[int, float]:
        import dataclasses

        return runs.acc(variant=dataclasses.replace(base[m], ablation=kind).slug, sparsity=s,
                        target=tgt)

    out = []
    sps = ex["sparsities"]
    frankle = [m for m in FRANKLE_METHODS if m in base]
    for kind in ("shuffle", "reinit"):
        if kind not in ex["kinds"]:
            continue
        c = Claim(f"frankle-{kind}", f"Layer-wise {kind} does not hurt SNIP, GraSP, SynFlow or "
                  "magnitude at initialisation (except at the most extreme sparsities on "
                  "LeNet-300-100)", "Frankle et al. Sec. 5, App. (LeNet-300-100)",
                  "results/figures/ablations.png", f"paired t: ablated - original > -{MARGIN}")
        for m in frankle:
            for s in sps:
                c.compare(f"{display(m)} {_pct(s)}", acc(m, kind, s), acc(m, None, s), -MARGIN)
        out.append(c)
    if "invert" in ex["kinds"]:
        c = Claim("frankle-invert-hurts", "Score inversion hurts SNIP, SynFlow and magnitude",
                  "Frankle et al. Sec. 5", "results/figures/ablations.png",
                  "paired t: original - inverted > 0")
        for m in [m for m in ("snip", "synflow", "magnitude") if m in base]:
            for s in sps:
                c.compare(f"{display(m)} {_pct(s)}", acc(m, None, s), acc(m, "invert", s), 0.0)
        out.append(c)
        if "grasp" in base:
            c = Claim("frankle-invert-grasp", "Score inversion does not hurt GraSP",
                      "Frankle et al. Sec. 5", "results/figures/ablations.png",
                      f"paired t: inverted - original > -{MARGIN}")
            for s in sps:
                c.compare(f"GraSP {_pct(s)}", acc("grasp", "invert", s), acc("grasp", None, s),
                          -MARGIN)
            out.append(c)
    if "autos" in base:
        for kind in ex["kinds"]:
            c = Claim(f"autos-{kind}", f"(ours, no published claim) {kind.capitalize()} hurts "
                      "AutoS", "new: the Frankle et al. sanity check applied to AutoS",
                      "results/figures/ablations.png", "paired t: original - ablated > 0")
            for s in sps:
                c.compare(f"AutoS {_pct(s)}", acc("autos", None, s), acc("autos", kind, s), 0.0)
            out.append(c)
    return out


def _px(config: Mapping) -> list[Claim]:
    ex = config["experiments"].get("px_table2")
    if not ex or "px" not in ex["methods"]:
        return []
    runs = Runs(wc.table_inputs(config, "px_table2"))
    t_max, t_min = max(ex["rounds"]), min(ex["rounds"])
    out = []
    c = Claim("px-beats-iterative", f"PX >= SynFlow and IterSNIP at {_pct(ex['sparsity'])} "
              f"(T = {t_max})", "PX Table 2", "results/px_table2.csv",
              f"paired t: PX - other > -{MARGIN}")
    for m in [m for m in ("synflow", "iter_snip") if m in ex["methods"]]:
        c.compare(display(m), runs.acc(method="px", rounds=t_max),
                  runs.acc(method=m, rounds=t_max), -MARGIN)
    out.append(c)
    c = Claim("px-cost-rounds", "PX's pruning cost grows with the number of rounds",
              "PX Table 2", "results/px_table2.csv",
              f"paired t: scoring time at T = {t_max} - at T = {t_min} > 0 (seconds)")
    c.compare("seconds", runs.acc("scoring_time", method="px", rounds=t_max),
              runs.acc("scoring_time", method="px", rounds=t_min), 0.0, digits=3)
    out.append(c)
    return out


CLAIMS: tuple[Callable[[Mapping], list[Claim]], ...] = (_fig3, _tables, _table9, _ablations, _px)


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
        from .tables import write_table

        config = json.loads(a.config_json)
        df = ledger(config)
        write_table(df, a.out, markdown=to_markdown(df, config.get("profile", "")))
        print(df["verdict"].value_counts().to_string())
        return 0

    p.set_defaults(func=run)
