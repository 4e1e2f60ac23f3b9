"""The claims of the three papers (AutoS, PX, Frankle et al.), one function per experiment: each
plans the runs it needs from the config and returns its :class:`~autosparse.claims.evidence.Claim`
rows, tested (:data:`CLAIMS`, in the ledger's order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from .. import workflow_config as wc
from .. import workflow_paths as wp
from ..paper import display
from ..stats import INCONCLUSIVE
from .evidence import COLLAPSE, MARGIN, Claim, Runs, high, pct, source_note


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
    for s in [x for x in ex["sparsities"] if x in (0.95, 0.99)] or high(ex["sparsities"])[-1:]:
        c.compare(pct(s), runs.acc(variant=v.get("autos", ""), sparsity=s, **on),
                  runs.acc(variant=v.get("snip", ""), sparsity=s, **on), -MARGIN)
    c.note = source_note(config)
    out.append(c)
    top = max(ex["sparsities"])
    refs = [m for m in ("magnitude_after_training", "lottery") if m in v]
    pai = [m for m in v if m not in ("random", *refs)]
    c = Claim("frankle-random", f"Every PaI method beats random pruning at high sparsity "
              f"({pct(top)})", "Frankle et al. Sec. 4", "results/figures/fig3.png",
              "paired t over seeds: method - random > 0, for every method")
    for m in pai:
        c.compare(display(m), runs.acc(variant=v[m], sparsity=top, **on),
                  runs.acc(variant=v.get("random", ""), sparsity=top, **on), 0.0)
    out.append(c)
    c = Claim("frankle-references", f"Magnitude pruning after training and lottery-ticket "
              f"rewinding beat every PaI method ({pct(top)})", "Frankle et al. Sec. 4",
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
            high(ex["table2"]["sparsities"])[-1:]
        c = Claim("table2-inputs", "Param + grad inputs >= param-only and >= grad-only at 99 %",
                  "AutoS Table 2", "results/table2.csv",
                  f"paired t: param+grad - other > -{MARGIN}")
        for s in sps:
            for other in ("param", "grad"):
                c.compare(f"{pct(s)} vs {other}", runs.acc(inputs="param+grad", sparsity=s),
                          runs.acc(inputs=other, sparsity=s), -MARGIN)
        c.note = source_note(config)
        out.append(c)
    if (runs := _scorer_table(config, "table3", "criterion")) is not None:
        c = Claim("table3-criterion", "A scorer trained on SNIP-iter IRP data beats one trained "
                  "on LTH (magnitude) IRP data at >= 95 %", "AutoS Table 3", "results/table3.csv",
                  "paired t: SNIP-iter - LTH > 0")
        for s in high(ex["table3"]["sparsities"], 0.95):
            c.compare(pct(s), runs.acc(criterion="snip", sparsity=s),
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
                c.compare(f"N={n}, {pct(s)}", runs.acc(iterations=base, sparsity=s),
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
            c.compare(f"{display(arch)} scorer, {pct(s)}",
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
            c.compare(f"{display(arch)} scorer, {pct(s)}",
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
            c.compare(f"{kinds['20+40+100']}, {pct(s)}", base.acc(sparsity=s),
                      runs.acc(merge=kinds["20+40+100"], sparsity=s), COLLAPSE)
        for k in ("3x20", "lth+snip"):
            if k in kinds:
                c2.compare(f"{kinds[k]}, {pct(s)}", runs.acc(merge=kinds[k], sparsity=s),
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
                c.compare(f"{display(m)} {pct(s)}", acc(m, kind, s), acc(m, None, s), -MARGIN)
        out.append(c)
    if "invert" in ex["kinds"]:
        c = Claim("frankle-invert-hurts", "Score inversion hurts SNIP, SynFlow and magnitude",
                  "Frankle et al. Sec. 5", "results/figures/ablations.png",
                  "paired t: original - inverted > 0")
        for m in [m for m in ("snip", "synflow", "magnitude") if m in base]:
            for s in sps:
                c.compare(f"{display(m)} {pct(s)}", acc(m, None, s), acc(m, "invert", s), 0.0)
        out.append(c)
        if "grasp" in base:
            c = Claim("frankle-invert-grasp", "Score inversion does not hurt GraSP",
                      "Frankle et al. Sec. 5", "results/figures/ablations.png",
                      f"paired t: inverted - original > -{MARGIN}")
            for s in sps:
                c.compare(f"GraSP {pct(s)}", acc("grasp", "invert", s), acc("grasp", None, s),
                          -MARGIN)
            out.append(c)
    if "autos" in base:
        for kind in ex["kinds"]:
            c = Claim(f"autos-{kind}", f"(ours, no published claim) {kind.capitalize()} hurts "
                      "AutoS", "new: the Frankle et al. sanity check applied to AutoS",
                      "results/figures/ablations.png", "paired t: original - ablated > 0")
            for s in sps:
                c.compare(f"AutoS {pct(s)}", acc("autos", None, s), acc("autos", kind, s), 0.0)
            out.append(c)
    return out


def _px(config: Mapping) -> list[Claim]:
    ex = config["experiments"].get("px_table2")
    if not ex or "px" not in ex["methods"]:
        return []
    runs = Runs(wc.table_inputs(config, "px_table2"))
    t_max, t_min = max(ex["rounds"]), min(ex["rounds"])
    out = []
    c = Claim("px-beats-iterative", f"PX >= SynFlow and IterSNIP at {pct(ex['sparsity'])} "
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
