"""Every report target of the DAG, declared once: each table, figure and the claims ledger
registers here (:func:`experiment`) with its kind and the function planning its inputs.

A planning function takes the profile and the target's entry under ``experiments`` and returns
the planned inputs: ``(path, labels)`` pairs, where ``labels`` are the experiment's key columns
(e.g. IRP source and scorer backbone for Table 4) plus ``dataset_note`` where a stand-in is used.
:data:`TABLES`, :data:`FIGURES` and :func:`all_targets` derive from the registry; the rules call
:func:`table_inputs`, :func:`figure_inputs` and :func:`claims_inputs`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from . import paths as wp
from .stages import (
    SCORER_METHOD,
    autos_variant,
    beyond_nets,
    beyond_seeds,
    beyond_variants,
    dataset_for,
    irp_for,
    scorer_for,
    survival_inputs,
    target_for,
    variant_for,
)

Planned = list[tuple[str, dict]]
PlanFn = Callable[[Mapping, Mapping], Planned]
KINDS = ("table", "figure", "ledger")
FIGURE_FORMATS = (".png", ".pdf", ".svg")  # each figure's files (autosparse.figures.FORMATS)
REFERENCES = ("snip", "random")  # Table 4's rows beside AutoS: what it gains over them


@dataclass(frozen=True)
class Experiment:
    """One target: its kind (``table``, ``figure``, ``ledger``), name and planning function;
    ``always``: built without an entry under ``experiments`` (it reads other config blocks)."""

    kind: str
    name: str
    plan: PlanFn
    always: bool = False

    def configured(self, config: Mapping) -> bool:
        return self.always or self.name in config["experiments"]

    def outputs(self) -> list[str]:
        """The files ``all`` asks for (a table's HTML page and a figure's siblings come along)."""
        if self.kind == "figure":
            return [f"{wp.RESULTS}/figures/{self.name}{ext}" for ext in FIGURE_FORMATS]
        return [f"{wp.RESULTS}/{self.name}.csv", f"{wp.RESULTS}/{self.name}.md"]

    def inputs(self, config: Mapping) -> Planned:
        ex = config["experiments"]
        return self.plan(config, ex.get(self.name, {}) if self.always else ex[self.name])


EXPERIMENTS: dict[tuple[str, str], Experiment] = {}


def experiment(kind: str, name: str, always: bool = False) -> Callable[[PlanFn], PlanFn]:
    """Register the decorated function as the planning of target ``name`` of ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")

    def register(fn: PlanFn) -> PlanFn:
        if (kind, name) in EXPERIMENTS:
            raise ValueError(f"{kind} {name!r} is registered twice")
        EXPERIMENTS[(kind, name)] = Experiment(kind, name, fn, always)
        return fn

    return register


def names(kind: str) -> list[str]:
    """Registered targets of ``kind``, in registration order."""
    return [n for k, n in EXPERIMENTS if k == kind]


def get(kind: str, name: str) -> Experiment:
    try:
        return EXPERIMENTS[(kind, name)]
    except KeyError:
        raise KeyError(f"unknown {kind} {name!r}; valid: {', '.join(names(kind))}") from None


def is_target(config: Mapping, kind: str, name: str) -> bool:
    """Whether the profile builds ``name`` of ``kind``."""
    return (kind, name) in EXPERIMENTS and EXPERIMENTS[(kind, name)].configured(config)


def table_inputs(config: Mapping, name: str) -> Planned:
    """Metrics JSON files (IRP stores for Table 9), with key labels, that table ``name`` reads."""
    return get("table", name).inputs(config)


def figure_inputs(config: Mapping, name: str) -> Planned:
    """Artifacts (metrics JSON, mask stores, IRP stores, scorers) a figure is drawn from."""
    return get("figure", name).inputs(config)


def claims_inputs(config: Mapping) -> list[str]:
    """Every file the claims ledger (:mod:`autosparse.claims`) reads."""
    return [p for p, _ in get("ledger", "claims").inputs(config)]


def all_targets(config: Mapping) -> list[str]:
    """Every configured table (CSV + Markdown) and figure (PNG, PDF, SVG), then the ledger."""
    return [p for e in EXPERIMENTS.values() if e.configured(config) for p in e.outputs()]


def table_sources(config: Mapping, name: str) -> list[str]:
    """Every IRP store named in a table's ``sources`` labels (inputs of its table job)."""
    items = table_inputs(config, name)
    return sorted({s for _, lab in items if lab.get("sources")
                   for s in lab["sources"].split(";")} - {p for p, _ in items})


def labels_json(items: Planned) -> str:
    """``{path: labels}`` of planned inputs as compact JSON (for ``--labels``)."""
    return json.dumps({p: lab for p, lab in items}, separators=(",", ":"))


# -- helpers of the planning functions --------------------------------------------------------

def grid(config: Mapping, target: str, variant: str, sparsities, labels: dict,
         dense: bool = True) -> Planned:
    """Metrics of ``variant`` on ``target`` at each sparsity and seed, and (``dense``) the dense
    run of each seed (labelled with the key columns left empty)."""
    out: Planned = []
    for seed in config["seeds"]:
        for s in sparsities:
            out.append((wp.metrics_path(target, variant, s, seed), dict(labels)))
        if dense:
            out.append((wp.metrics_path(target, "dense", None, seed),
                        {**{k: "" for k in labels if k != "dataset_note"},
                         "dataset_note": labels.get("dataset_note", "")}))
    return out


def dedup(items: Planned) -> Planned:
    """Each path once, with the labels of its first occurrence."""
    seen: dict[str, dict] = {}
    for path, lab in items:
        seen.setdefault(path, lab)
    return list(seen.items())


def sources_of(config: Mapping, metrics: str) -> list[str]:
    """IRP stores the scorer of an AutoS metrics file learned from (for the learning check)."""
    if "/dense/" in metrics:
        return []
    scorer = wp.parse_metrics_path(metrics)["scorer"]
    return survival_inputs(config, wp.parse_scorer(scorer)["survival"]) if scorer else []


def with_sources(config: Mapping, items: Planned) -> Planned:
    """:func:`dedup`, each AutoS row labelled with the IRP stores its scorer learned from."""
    return [(p, {**lab, **({"sources": ";".join(s)} if (s := sources_of(config, p)) else {})})
            for p, lab in dedup(items)]


def _target(config: Mapping) -> tuple[str, str]:
    return target_for(config, config["target"])


def _autos_sweep(config: Mapping, ex: Mapping, key: str, field: str) -> Planned:
    """AutoS with each value of ``ex[key]`` as the scorer's ``field`` (Tables 2, 3, 5)."""
    tgt, note = _target(config)
    out: Planned = []
    for v in ex[key]:
        out += grid(config, tgt, autos_variant(scorer_for(config, **{field: v})),
                    ex["sparsities"], {field: v, "dataset_note": note})
    return with_sources(config, out)


def merge_kind(runs: list[Mapping]) -> str:
    """The kind of Table 6 merge a list of IRP runs is, as the paper names it: several criteria
    -> ``lth+snip``; one criterion, several seeds -> ``3x20``; several N -> ``20+40+100``."""
    if len({r["criterion"] for r in runs}) > 1:
        return "lth+snip"
    if len({r["seed"] for r in runs}) > 1:
        return "3x20"
    return "20+40+100"


def table6_baseline_sparsities(ex: Mapping) -> list[float]:
    """Sparsities at which the ledger compares Table 6's merges with the default AutoS (the
    paper's 95 and 99 % where configured)."""
    return [s for s in ex["sparsities"] if s in (0.95, 0.99)] or list(ex["sparsities"])


def beyond_inputs(config: Mapping) -> Planned:
    """Metrics of every (network, row, sparsity, seed) of the beyond table and the dense run per
    network and seed, labelled with ``role`` and ``entry`` (the configured name)."""
    ex = config["experiments"]["beyond"]
    out: Planned = []
    for net in beyond_nets(config):
        tgt, note = target_for(config, net)
        for seed in beyond_seeds(config):
            for role, entry, variant in beyond_variants(config, net):
                for s in ex["sparsities"]:
                    out.append((wp.metrics_path(tgt, variant, s, seed),
                                {"role": role, "entry": entry, "dataset_note": note}))
            out.append((wp.metrics_path(tgt, "dense", None, seed),
                        {"role": "dense", "entry": "dense", "dataset_note": note}))
    return dedup(out)


# -- tables -----------------------------------------------------------------------------------

@experiment("table", "table1")
def _table1(config: Mapping, ex: Mapping) -> Planned:
    t, note = target_for(config, ex["net"])
    out: Planned = []
    for m in ex["methods"]:
        out += grid(config, t, variant_for(config, m), ex["sparsities"], {"dataset_note": note})
    return with_sources(config, out)


experiment("table", "table2")(functools.partial(_autos_sweep, key="inputs", field="inputs"))


experiment("table", "table3")(functools.partial(_autos_sweep, key="criteria", field="criterion"))


@experiment("table", "table4")
def _table4(config: Mapping, ex: Mapping) -> Planned:
    tgt, tnote = _target(config)
    out: Planned = []
    for src in ex["sources"]:
        _, note = dataset_for(config, src["dataset"])
        for arch in ex["backbones"]:
            sc = scorer_for(config, source=src, arch=arch)
            out += grid(config, tgt, autos_variant(sc), ex["sparsities"],
                        {"irp_source": src["name"], "backbone": arch,
                         "dataset_note": "; ".join(x for x in (note, tnote) if x)})
    for m in REFERENCES:
        out += grid(config, tgt, variant_for(config, m), ex["sparsities"],
                    {"irp_source": "", "backbone": "", "dataset_note": tnote})
    return with_sources(config, out)


experiment("table", "table5")(functools.partial(_autos_sweep, key="iterations", field="iterations"))


@experiment("table", "table6")
def _table6(config: Mapping, ex: Mapping) -> Planned:
    tgt, note = _target(config)
    out: Planned = []
    for merge, runs in ex["merges"].items():
        out += grid(config, tgt, autos_variant(scorer_for(config, survival=merge)),
                    ex["sparsities"], {"merge": merge, "paper_row": merge_kind(runs),
                                       "dataset_note": note})
    return with_sources(config, out)


@experiment("table", "table8")
def _table8(config: Mapping, ex: Mapping) -> Planned:
    tgt, note = _target(config)
    out: Planned = []
    for cell in ex["cells"]:
        b, lr = cell["batch_size"], cell["lr"]
        out += grid(config, tgt, autos_variant(scorer_for(config, batch_size=b, lr=lr)),
                    ex["sparsities"], {"batch_size": b, "lr": lr, "dataset_note": note})
    return with_sources(config, out)


@experiment("table", "table9")
def _table9(config: Mapping, ex: Mapping) -> Planned:
    # same init = equal seed, different train seed; different init = different seed
    return [(wp.irp_path(irp_for(config, ex["net"], c, seed=s, train_seed=t)),
             {"criterion": c, "seed": s, "train_seed": t})
            for c in ex["criteria"] for s in ex["seeds"] for t in ex["train_seeds"]]


@experiment("table", "px_table2")
def _px_table2(config: Mapping, ex: Mapping) -> Planned:
    t, note = target_for(config, ex["net"])
    out: Planned = []
    for m in ex["methods"]:
        for r in ex["rounds"]:
            out += grid(config, t, wp.Variant(m, rounds=r).slug, [ex["sparsity"]],
                        {"rounds": r, "dataset_note": note})
    return with_sources(config, out)


@experiment("table", "beyond")
def _beyond_table(config: Mapping, ex: Mapping) -> Planned:
    return beyond_inputs(config)


# -- figures ----------------------------------------------------------------------------------

@experiment("figure", "fig1")
def _fig1(config: Mapping, ex: Mapping) -> Planned:
    return [(wp.irp_path(irp_for(config, ex["net"])), {})]


@experiment("figure", "fig3")
def _fig3(config: Mapping, ex: Mapping) -> Planned:
    out: Planned = []
    for net in ex["nets"]:
        t, note = target_for(config, net)
        used = wp.parse_target(t)["dataset"]  # the panel names a stand-in it trained on
        label = f"{net['model']}/{net['dataset']}" + (
            f" (stand-in: {used})" if used != net["dataset"] else "")
        for m in ex["methods"]:
            out += grid(config, t, variant_for(config, m), ex["sparsities"],
                        {"net": label, "dataset_note": note})
    return dedup(out)


def _scorer_figure(config: Mapping, scorers: list[str]) -> Planned:
    """Scorer checkpoints, then the survival dataset of the first (Figs. 4, 5)."""
    survival = wp.parse_scorer(scorers[0])["survival"]
    return [(wp.scorer_path(n), {}) for n in scorers] + [
        (wp.survival_path(survival), {"source": str(config["scorer"]["source"])})]


@experiment("figure", "fig4", always=True)
def _fig4(config: Mapping, ex: Mapping) -> Planned:
    return _scorer_figure(config, [scorer_for(config)])


@experiment("figure", "fig5", always=True)
def _fig5(config: Mapping, ex: Mapping) -> Planned:
    return _scorer_figure(config, [scorer_for(config, inputs=i) for i in ("param", "grad")])


@experiment("figure", "fig6")
def _fig6(config: Mapping, ex: Mapping) -> Planned:
    tgt, note = _target(config)
    out: Planned = []
    for label, v in ex["variants"].items():
        sc = scorer_for(config, source=v["source"], arch=v["arch"])
        out += grid(config, tgt, autos_variant(sc), ex["sparsities"],
                    {"variant_label": label, "dataset_note": note})
    for label, b in ex["baselines"].items():
        v = wp.Variant(b["method"], rounds=b.get("rounds"), own=b.get("criterion"))
        out += grid(config, tgt, v.slug, ex["sparsities"],
                    {"variant_label": label, "dataset_note": note})
    return dedup(out)


@experiment("figure", "ablations")
def _ablations(config: Mapping, ex: Mapping) -> Planned:
    tgt, note = _target(config)
    out: Planned = []
    for m in ex["methods"]:
        base = wp.Variant.parse(variant_for(config, m))
        for kind in (None, *ex["kinds"]):
            v = dataclasses.replace(base, ablation=kind)
            out += grid(config, tgt, v.slug, ex["sparsities"],
                        {"ablation": kind or "original", "dataset_note": note})
    return dedup(out)


def _mask_figure(config: Mapping, ex: Mapping, sparsities: list[float]) -> Planned:
    """Each method's mask store at each sparsity and seed (layerwise, neuron collapse)."""
    tgt, _ = _target(config)
    return dedup([(wp.mask_path(tgt, variant_for(config, m), s, seed), {})
                  for seed in config["seeds"] for m in ex["methods"] for s in sparsities])


@experiment("figure", "layerwise")
def _layerwise(config: Mapping, ex: Mapping) -> Planned:
    return _mask_figure(config, ex, [ex["sparsity"]])


@experiment("figure", "neuron_collapse")
def _neuron_collapse(config: Mapping, ex: Mapping) -> Planned:
    return _mask_figure(config, ex, ex["sparsities"])


@experiment("figure", "beyond")
def _beyond_figure(config: Mapping, ex: Mapping) -> Planned:
    return beyond_inputs(config)


# -- the claims ledger ------------------------------------------------------------------------

@experiment("ledger", "claims", always=True)
def _claims(config: Mapping, ex: Mapping) -> Planned:
    """The metrics of the experiments the ledger checks (autosparse/claims.py), the default AutoS
    at Table 6's compared sparsities, and Table 9's CSV."""
    exps = config["experiments"]
    paths = [p for f in ("fig3", "ablations") if f in exps for p, _ in figure_inputs(config, f)]
    paths += [p for t in ("table2", "table3", "table4", "table5", "table6", "px_table2")
              if t in exps for p, _ in table_inputs(config, t)]
    if "table6" in exps:
        tgt, _ = _target(config)
        paths += [p for p, _ in grid(config, tgt, variant_for(config, SCORER_METHOD),
                                     table6_baseline_sparsities(exps["table6"]), {}, dense=False)]
    if "table9" in exps:
        paths.append(f"{wp.RESULTS}/table9.csv")
    return [(p, {}) for p in sorted(set(paths))]


TABLES = names("table")
FIGURES = names("figure")
