"""The Snakemake DAG's plan: config checks and the artifacts each table/figure needs.

The Snakefile validates the config against ``config/schema.yaml`` and then calls
:func:`check_config` (values against the package's registries, before any job runs) and the
``*_inputs`` functions below. Every path comes from :mod:`autosparse.workflow_paths`.

Each planned input is a ``(path, labels)`` pair: ``labels`` are the experiment's key columns
(e.g. IRP source and scorer backbone for Table 4) plus ``dataset_note`` where a stand-in is used.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

try:
    from . import workflow_paths as wp
    from .train_config import make_config, parse_overrides
except ImportError:  # loaded by file path from the Snakefile, without the (torch-importing) package
    import autosparse_workflow_paths as wp  # type: ignore[no-redef]

    from autosparse.train_config import make_config, parse_overrides  # torch-free

TABLES = ["table1", "table2", "table3", "table4", "table5", "table6", "table8", "table9",
          "px_table2", "beyond"]
FIGURES = ["fig1", "fig3", "fig4", "fig5", "fig6", "ablations", "layerwise", "neuron_collapse",
           "beyond"]
FIGURE_FORMATS = (".png", ".pdf", ".svg")  # each figure's files (autosparse.figures.FORMATS)
ABLATIONS = ("shuffle", "reinit", "invert")
SCORER_METHOD = "autos"

Planned = list[tuple[str, dict]]


class WorkflowConfigError(ValueError):
    """A config value the DAG cannot run with; the message names the key."""


# -- checks -----------------------------------------------------------------------------------

# Experiment keys holding named collections (a Table 6 merge, a Figure 6 variant or baseline per
# name): a profile that sets one means exactly its own entries, so it replaces the base's.
NAMED_COLLECTIONS = (("table6", "merges"), ("fig6", "variants"), ("fig6", "baselines"))


def replace_named_collections(config: dict, overlays: Iterable[Mapping]) -> None:
    """Snakemake merges config files key by key; redo :data:`NAMED_COLLECTIONS` so that the last
    overlay setting one replaces it whole (else the quick profile's Table 6 merges and Figure 6
    variants would also run under the smoke and paper profiles). An experiment an overlay sets
    to null is left out (cpu.yaml: ``beyond: null``; config/cpu-beyond.yaml adds it back)."""
    import copy

    for overlay in overlays:
        ex = (overlay or {}).get("experiments") or {}
        for name, key in NAMED_COLLECTIONS:
            if isinstance(ex.get(name), Mapping) and key in ex[name]:
                config["experiments"][name][key] = copy.deepcopy(ex[name][key])
    for name in [n for n, v in config["experiments"].items() if v is None]:
        del config["experiments"][name]


def typed_overrides(config: dict, overrides: Mapping) -> None:
    """Re-read ``--config`` values with ``yaml.safe_load``: Snakemake parses lists and mappings
    given on the command line with YAML's BaseLoader, so ``--config seeds='[0,1,2]'`` would
    arrive as strings and fail the schema."""
    import yaml

    def typed(v):
        if isinstance(v, str):
            try:
                return yaml.safe_load(v)
            except yaml.YAMLError:
                return v
        if isinstance(v, list):
            return [typed(x) for x in v]
        if isinstance(v, Mapping):
            return {k: typed(x) for k, x in v.items()}
        return v

    for k, v in overrides.items():
        if isinstance(v, Mapping) and isinstance(config.get(k), dict):
            typed_overrides(config[k], v)
        else:
            config[k] = typed(v)


def _walk(obj, key: str = "") -> Iterable[tuple[str, object]]:
    yield key, obj
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _walk(v, f"{key}.{k}" if key else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{key}[{i}]")


def data_root(config: Mapping, repo_root: str | Path = ".") -> Path:
    """The data folder as an absolute path: ``$AUTOSPARSE_DATA`` when set (it wins, as for the
    library), else ``data_root`` (relative values are relative to the repository)."""
    root = Path(os.environ.get("AUTOSPARSE_DATA") or config["data_root"]).expanduser()
    return (root if root.is_absolute() else Path(repo_root) / root).resolve()


def registry_names(cache: str | Path | None = None) -> dict[str, list[str]]:
    """Names of the registered models, datasets and methods.

    Listing them imports torch (seconds); with ``cache`` the lists are stored there, keyed by the
    size and mtime of every ``autosparse/**/*.py``, so a no-op ``snakemake`` run stays fast."""
    import json

    pkg = Path(__file__).resolve().parent
    key = sorted((str(p.relative_to(pkg)), p.stat().st_size, p.stat().st_mtime_ns)
                 for p in pkg.rglob("*.py"))
    key_s = json.dumps(key)
    if cache is not None and Path(cache).is_file():
        try:
            data = json.loads(Path(cache).read_text())
            if data.get("key") == key_s:
                return data["names"]
        except (ValueError, KeyError):
            pass
    import importlib

    pkg_ = importlib.import_module("autosparse")
    names = {"models": pkg_.list_models(), "datasets": pkg_.list_datasets(),
             "methods": pkg_.list_methods()}
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{cache}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key_s, "names": names}))
        os.replace(tmp, cache)
    return names


def check_config(config: Mapping, repo_root: str | Path = ".",
                 cache: str | Path | None = None) -> None:
    """Reject values the schema cannot see: sparsities outside (0, 1), unknown models, datasets,
    methods and criteria (against the registries, see :func:`registry_names`), a missing data
    root. Raises :class:`WorkflowConfigError` naming the key."""
    reg = registry_names(cache)
    models, datasets, methods = set(reg["models"]), set(reg["datasets"]), set(reg["methods"])
    root = data_root(config, repo_root)
    src = "$AUTOSPARSE_DATA" if os.environ.get("AUTOSPARSE_DATA") else "data_root"
    if not root.is_dir():
        raise WorkflowConfigError(f"{src}: folder {str(root)!r} does not exist")
    if not any(root.iterdir()):
        raise WorkflowConfigError(f"{src}: folder {str(root)!r} is empty (it should hold the "
                                  "datasets, e.g. mnist.npz: see README, 'Data')")
    for key, v in _walk(config):
        leaf = key.rsplit(".", 1)[-1].split("[")[0]
        bad = None
        if leaf in ("sparsities", "sparsity") and not isinstance(v, list):
            if not (isinstance(v, (int, float)) and 0 < v < 1):
                bad = f"sparsity must lie in (0, 1), got {v!r}"
        elif leaf == "model" and v not in models:
            bad = f"unknown model {v!r}; valid: {', '.join(sorted(models))}"
        elif leaf == "dataset" and v not in datasets:
            bad = f"unknown dataset {v!r}; valid: {', '.join(sorted(datasets))}"
        elif (leaf in ("methods", "criteria", "criterion", "references", "learned")
              and not isinstance(v, list)):
            name = str(v).split(wp.SEP)[0]
            if name not in methods:
                bad = f"unknown method {name!r}; valid: {', '.join(sorted(methods))}"
        elif leaf == "method" and v not in methods:
            bad = f"unknown method {v!r}; valid: {', '.join(sorted(methods))}"
        if bad:
            raise WorkflowConfigError(f"config key {key}: {bad}")
    prune = config.get("prune", {})
    for key, names in (("score_once", prune.get("score_once", [])),
                       ("rounds", list(prune.get("rounds", {})))):
        for name in names:
            if name not in methods:
                raise WorkflowConfigError(f"config key prune.{key}: unknown method {name!r}; "
                                          f"valid: {', '.join(sorted(methods))}")
    for key, names in (("widths", config.get("widths", {})),
                       *((f"{stage}.set_per_model", config.get(stage, {}).get("set_per_model", {}))
                         for stage in ("train", "irp"))):
        for name in names:
            if name not in models:
                raise WorkflowConfigError(f"config key {key}.{name}: unknown model {name!r}")
    for stage in ("train", "irp"):  # training overrides, validated as the jobs will (a device too)
        c = config.get(stage, {})
        for key, items in (("set", c.get("set", [])),
                           *((f"set_per_model.{m}", v) for m, v in
                             (c.get("set_per_model") or {}).items())):
            try:
                make_config(parse_overrides(items))
            except (ValueError, TypeError) as e:
                raise WorkflowConfigError(f"config key {stage}.{key}: {e}") from None
        for name in c.get("per_class_cap", {}):
            if name not in datasets:
                raise WorkflowConfigError(
                    f"config key {stage}.per_class_cap.{name}: unknown dataset {name!r}; "
                    f"valid: {', '.join(sorted(datasets))}")


# -- nets, IRP runs, scorers ------------------------------------------------------------------

def dataset_for(config: Mapping, dataset: str) -> tuple[str, str]:
    """(dataset actually used, note) after the profile's stand-ins and notes."""
    stand = config.get("stand_ins", {}).get(dataset)
    if stand:
        return stand["dataset"], stand["note"]
    return dataset, config.get("notes", {}).get(dataset) or ""


def target_for(config: Mapping, net: Mapping) -> tuple[str, str]:
    """(target name, dataset note) of a network spec ``{model, dataset}``."""
    ds, note = dataset_for(config, net["dataset"])
    width = config.get("widths", {}).get(net["model"], 1.0)
    return wp.target_name(net["model"], ds, width), note


def irp_for(config: Mapping, net: Mapping, criterion: str | None = None,
            iterations: int | None = None, seed: int | None = None,
            train_seed: int | None = None) -> str:
    irp = config["irp"]
    ds, _ = dataset_for(config, net["dataset"])
    return wp.irp_name(net["model"], ds, criterion or irp["criterion"],
                       iterations or irp["iterations"], irp["seed"] if seed is None else seed,
                       train_seed)


def scorer_for(config: Mapping, *, source: Mapping | None = None, survival: str | None = None,
               criterion: str | None = None, iterations: int | None = None,
               arch: str | None = None, inputs: str | None = None,
               batch_size: int | None = None, lr: float | None = None) -> str:
    """Scorer name; every field defaults to ``config.scorer`` (the paper's default AutoS)."""
    sc = config["scorer"]
    if survival is None:
        survival = irp_for(config, source or sc["source"], criterion, iterations)
    return wp.scorer_name(survival, arch or sc["arch"], inputs or sc["inputs"],
                          batch_size or sc["batch_size"], lr or sc["lr"])


# Reference methods read the target's own run of the job's seed (Frankle et al. Sec. 4):
# lottery = LTH (the magnitude IRP ticket), magnitude_after_training = the dense retraining.
OWN_DEFAULT = {"lottery": "magnitude", "magnitude_after_training": "dense"}


def variant_for(config: Mapping, method: str, **kw) -> str:
    """Variant slug of a configured method name (optionally with variant parts, e.g.
    ``lottery__own-snip``); ``autos`` gets the default scorer, an iterative method the profile's
    ``prune.rounds`` (none: the method's own default), a reference method its own run."""
    if method == SCORER_METHOD:
        return wp.Variant(method, scorer=scorer_for(config)).slug
    v = wp.Variant.parse(method)
    rounds = v.rounds if v.rounds is not None else (
        config.get("prune", {}).get("rounds", {}).get(v.method))
    own = v.own or (None if v.irp else OWN_DEFAULT.get(v.method))
    return dataclasses.replace(v, rounds=rounds, own=own).slug


def own_inputs(config: Mapping, target: str, variant: str, seed: int | str) -> dict[str, str]:
    """Method options of a ``__own-`` variant: ``store=`` the target's IRP run with this criterion
    and seed (lottery), or ``trained=`` the dense weights of this seed (magnitude after training)."""
    v = wp.Variant.parse(variant)
    if not v.own:
        return {}
    if v.own == "dense":
        return {"trained": wp.weights_path(target, seed)}
    t = wp.parse_target(target)
    run = wp.irp_name(t["model"], t["dataset"], v.own, config["irp"]["iterations"], int(seed))
    return {"store": wp.irp_path(run)}


def survival_inputs(config: Mapping, name: str) -> list[str]:
    """IRP stores a survival dataset is built from: a merge of Table 6, or the IRP run ``name``."""
    merges = config["experiments"].get("table6", {}).get("merges", {})
    if name in merges:
        src = config["scorer"]["source"]
        return [wp.irp_path(irp_for(config, src, r["criterion"], r["iterations"], r["seed"]))
                for r in merges[name]]
    wp.parse_irp(name)
    return [wp.irp_path(name)]


# -- tables -----------------------------------------------------------------------------------

def _grid(config: Mapping, target: str, variant: str, sparsities, labels: dict,
          dense: bool = True) -> Planned:
    out: Planned = []
    for seed in config["seeds"]:
        for s in sparsities:
            out.append((wp.metrics_path(target, variant, s, seed), dict(labels)))
        if dense:
            out.append((wp.metrics_path(target, "dense", None, seed),
                        {**{k: "" for k in labels if k != "dataset_note"},
                         "dataset_note": labels.get("dataset_note", "")}))
    return out


def _dedup(items: Planned) -> Planned:
    seen: dict[str, dict] = {}
    for path, lab in items:
        seen.setdefault(path, lab)
    return list(seen.items())


def table_inputs(config: Mapping, name: str) -> Planned:
    """Metrics JSON files (with key labels) that table ``name`` summarises."""
    ex = config["experiments"][name]
    tgt, tnote = target_for(config, config["target"])
    out: Planned = []
    if name == "table1":
        t, note = target_for(config, ex["net"])
        for m in ex["methods"]:
            out += _grid(config, t, variant_for(config, m), ex["sparsities"],
                         {"dataset_note": note})
    elif name in ("table2", "table3", "table5"):
        key, field = {"table2": ("inputs", "inputs"), "table3": ("criteria", "criterion"),
                      "table5": ("iterations", "iterations")}[name]
        for v in ex[key]:
            sc = scorer_for(config, **{field: v})
            out += _grid(config, tgt, wp.Variant(SCORER_METHOD, scorer=sc).slug,
                         ex["sparsities"], {field: v, "dataset_note": tnote})
    elif name == "table4":
        for src in ex["sources"]:
            _, note = dataset_for(config, src["dataset"])
            for arch in ex["backbones"]:
                sc = scorer_for(config, source=src, arch=arch)
                out += _grid(config, tgt, wp.Variant(SCORER_METHOD, scorer=sc).slug,
                             ex["sparsities"], {"irp_source": src["name"], "backbone": arch,
                                                "dataset_note": "; ".join(x for x in (note, tnote) if x)})
        for m in REFERENCES:  # beside the AutoS rows: what AutoS gains over SNIP and random
            out += _grid(config, tgt, variant_for(config, m), ex["sparsities"],
                         {"irp_source": "", "backbone": "", "dataset_note": tnote})
    elif name == "table6":
        for merge, runs in ex["merges"].items():
            sc = scorer_for(config, survival=merge)
            out += _grid(config, tgt, wp.Variant(SCORER_METHOD, scorer=sc).slug,
                         ex["sparsities"], {"merge": merge, "paper_row": merge_kind(runs),
                                            "dataset_note": tnote})
    elif name == "table8":
        for cell in ex["cells"]:
            b, lr = cell["batch_size"], cell["lr"]
            sc = scorer_for(config, batch_size=b, lr=lr)
            out += _grid(config, tgt, wp.Variant(SCORER_METHOD, scorer=sc).slug,
                         ex["sparsities"], {"batch_size": b, "lr": lr, "dataset_note": tnote})
    elif name == "px_table2":
        t, note = target_for(config, ex["net"])
        for m in ex["methods"]:
            for r in ex["rounds"]:
                out += _grid(config, t, wp.Variant(m, rounds=r).slug, [ex["sparsity"]],
                             {"rounds": r, "dataset_note": note})
    elif name == "beyond":
        return beyond_inputs(config)
    elif name == "table9":
        # same init = equal seed, different train seed; different init = different seed
        return [(wp.irp_path(irp_for(config, ex["net"], c, seed=s, train_seed=t)),
                 {"criterion": c, "seed": s, "train_seed": t})
                for c in ex["criteria"] for s in ex["seeds"] for t in ex["train_seeds"]]
    else:
        raise KeyError(f"unknown table {name!r}; valid: {', '.join(TABLES)}")
    return [(p, {**lab, **({"sources": ";".join(s)} if (s := sources_of(config, p)) else {})})
            for p, lab in _dedup(out)]


REFERENCES = ("snip", "random")


# -- beyond the paper: learned variants against every baseline on held-out seeds ---------------

TICKET_SCORED = ("ticket_autos",)  # ticket methods whose base criterion is the profile's AutoS


def beyond_ticket(config: Mapping) -> str:
    """The IRP run whose layer densities the ticket methods of ``experiments.beyond`` transfer:
    the target's run with ``beyond.ticket``'s criterion / iterations / seed (default the
    profile's ``irp``)."""
    t = config["experiments"]["beyond"].get("ticket") or {}
    return irp_for(config, config["target"], t.get("criterion"), t.get("iterations"),
                   t.get("seed"))


def beyond_variants(config: Mapping) -> list[tuple[str, str, str]]:
    """``(role, entry, variant slug)`` of every row of the beyond table: the configured
    ``methods`` (role ``baseline``, planned as elsewhere: PX with the profile's rounds), the
    ``references`` (``reference``: the IRP ticket, lottery = the target's own LTH run) and the
    ``learned`` variants (``learned``: reading :func:`beyond_ticket`; ``ticket_autos`` also the
    profile's scorer). An entry may carry variant parts, e.g. ``ticket_synflow__T1``."""
    ex = config["experiments"]["beyond"]
    out = [("baseline", m, variant_for(config, m)) for m in ex.get("methods", [])]
    out += [("reference", m, variant_for(config, m)) for m in ex.get("references", [])]
    for m in ex.get("learned", []):
        v = wp.Variant.parse(m)
        scorer = v.scorer or (scorer_for(config) if v.method in TICKET_SCORED else None)
        out.append(("learned", m, dataclasses.replace(
            v, irp=v.irp or beyond_ticket(config), scorer=scorer).slug))
    return out


def beyond_seeds(config: Mapping) -> list[int]:
    """Seeds of the beyond experiment (``beyond.seeds``, default the profile's)."""
    return list(config["experiments"]["beyond"].get("seeds") or config["seeds"])


def beyond_inputs(config: Mapping) -> Planned:
    """Metrics of every (row, sparsity, seed) of the beyond table and the dense run per seed,
    labelled with ``role`` and ``entry`` (the configured name)."""
    ex = config["experiments"]["beyond"]
    tgt, note = target_for(config, config["target"])
    out: Planned = []
    for seed in beyond_seeds(config):
        for role, entry, variant in beyond_variants(config):
            for s in ex["sparsities"]:
                out.append((wp.metrics_path(tgt, variant, s, seed),
                            {"role": role, "entry": entry, "dataset_note": note}))
        out.append((wp.metrics_path(tgt, "dense", None, seed),
                    {"role": "dense", "entry": "dense", "dataset_note": note}))
    return _dedup(out)


def merge_kind(runs: list[Mapping]) -> str:
    """The kind of Table 6 merge a list of IRP runs is, as the paper names it: several criteria
    -> ``lth+snip``; one criterion, several seeds -> ``3x20``; several N -> ``20+40+100``."""
    if len({r["criterion"] for r in runs}) > 1:
        return "lth+snip"
    if len({r["seed"] for r in runs}) > 1:
        return "3x20"
    return "20+40+100"


def sources_of(config: Mapping, metrics: str) -> list[str]:
    """IRP stores the scorer of an AutoS metrics file learned from (for the learning check)."""
    if "/dense/" in metrics:
        return []
    scorer = wp.parse_metrics_path(metrics)["scorer"]
    return survival_inputs(config, wp.parse_scorer(scorer)["survival"]) if scorer else []


def table_sources(config: Mapping, name: str) -> list[str]:
    """Every IRP store named in a table's ``sources`` labels (inputs of its table job)."""
    return sorted({s for _, lab in table_inputs(config, name) if lab.get("sources")
                   for s in lab["sources"].split(";")} - {p for p, _ in table_inputs(config, name)})


# -- figures ----------------------------------------------------------------------------------

def figure_inputs(config: Mapping, name: str) -> Planned:
    """Artifacts (metrics JSON, mask stores, IRP stores, scorers) a figure is drawn from."""
    ex = config["experiments"].get(name, {})
    tgt, tnote = target_for(config, config["target"])
    out: Planned = []
    if name == "fig1":
        return [(wp.irp_path(irp_for(config, ex["net"])), {})]
    if name in ("fig4", "fig5"):
        sc = config["scorer"]
        names = ([scorer_for(config)] if name == "fig4" else
                 [scorer_for(config, inputs=i) for i in ("param", "grad")])
        return [(wp.scorer_path(n), {}) for n in names] + [
            (wp.survival_path(wp.parse_scorer(names[0])["survival"]), {"source": str(sc["source"])})]
    if name == "fig3":
        for net in ex["nets"]:
            t, note = target_for(config, net)
            used = wp.parse_target(t)["dataset"]  # the panel names a stand-in it trained on
            label = f"{net['model']}/{net['dataset']}" + (
                f" (stand-in: {used})" if used != net["dataset"] else "")
            for m in ex["methods"]:
                out += _grid(config, t, variant_for(config, m), ex["sparsities"],
                             {"net": label, "dataset_note": note})
    elif name == "fig6":
        for label, v in ex["variants"].items():
            sc = scorer_for(config, source=v["source"], arch=v["arch"])
            out += _grid(config, tgt, wp.Variant(SCORER_METHOD, scorer=sc).slug,
                         ex["sparsities"], {"variant_label": label, "dataset_note": tnote})
        for label, b in ex["baselines"].items():
            v = wp.Variant(b["method"], rounds=b.get("rounds"), own=b.get("criterion"))
            out += _grid(config, tgt, v.slug, ex["sparsities"],
                         {"variant_label": label, "dataset_note": tnote})
    elif name == "ablations":
        for m in ex["methods"]:
            base = wp.Variant.parse(variant_for(config, m))
            for kind in (None, *ex["kinds"]):
                v = dataclasses.replace(base, ablation=kind)
                out += _grid(config, tgt, v.slug, ex["sparsities"],
                             {"ablation": kind or "original", "dataset_note": tnote})
    elif name == "beyond":
        return beyond_inputs(config)
    elif name in ("layerwise", "neuron_collapse"):
        sps = [ex["sparsity"]] if name == "layerwise" else ex["sparsities"]
        for seed in config["seeds"]:
            for m in ex["methods"]:
                for s in sps:
                    out.append((wp.mask_path(tgt, variant_for(config, m), s, seed), {}))
    else:
        raise KeyError(f"unknown figure {name!r}; valid: {', '.join(FIGURES)}")
    return _dedup(out)


def all_targets(config: Mapping) -> list[str]:
    """Every table (CSV + Markdown) and figure (PNG, PDF, SVG) configured under ``experiments``."""
    ex = config["experiments"]
    out = []
    for t in TABLES:
        if t in ex:
            out += [f"{wp.RESULTS}/{t}.csv", f"{wp.RESULTS}/{t}.md"]
    for f in FIGURES:
        if f in ex or f in ("fig4", "fig5"):
            out += [f"{wp.RESULTS}/figures/{f}{ext}" for ext in FIGURE_FORMATS]
    return out + [f"{wp.RESULTS}/claims.csv", f"{wp.RESULTS}/claims.md"]


def table6_baseline_sparsities(ex: Mapping) -> list[float]:
    """Sparsities at which the ledger compares Table 6's merges with the default AutoS (the
    paper's 95 and 99 % where configured)."""
    return [s for s in ex["sparsities"] if s in (0.95, 0.99)] or list(ex["sparsities"])


def claims_inputs(config: Mapping) -> list[str]:
    """Every file the claims ledger (:mod:`autosparse.claims`) reads."""
    ex = config["experiments"]
    paths = [p for f in ("fig3", "ablations") if f in ex for p, _ in figure_inputs(config, f)]
    paths += [p for t in ("table2", "table3", "table4", "table5", "table6", "px_table2")
              if t in ex for p, _ in table_inputs(config, t)]
    if "table6" in ex:
        tgt, _ = target_for(config, config["target"])
        paths += [p for p, _ in _grid(config, tgt, variant_for(config, SCORER_METHOD),
                                      table6_baseline_sparsities(ex["table6"]), {}, dense=False)]
    if "table9" in ex:
        paths.append(f"{wp.RESULTS}/table9.csv")
    return sorted(set(paths))


# -- command-line arguments of each stage (the rules' `params.args`) -------------------------

def flags(**kw) -> str:
    """``flags(epochs=1, train_per_class=None, set=["a=1"])`` -> ``"--epochs 1 --set a=1"``:
    underscores become dashes, None and empty lists are left out, values are shell-quoted."""
    import shlex

    out = []
    for k, v in kw.items():
        if v is None or v == [] or v is False:
            continue
        flag = "--" + k.rstrip("_").replace("_", "-")
        if v is True:
            out.append(flag)
        elif isinstance(v, (list, tuple)):
            out.append(flag + " " + " ".join(shlex.quote(str(x)) for x in v))
        else:
            out.append(f"{flag} {shlex.quote(str(v))}")
    return " ".join(out)


def _overrides(c: Mapping, model: str) -> list[str]:
    """A stage's ``set`` then its ``set_per_model[<model>]`` (later ones win)."""
    return [*c.get("set", []), *(c.get("set_per_model") or {}).get(model, [])]


def _capped(c: Mapping, dataset: str) -> tuple[int | None, int | None]:
    """``train_per_class`` and ``test_per_class`` of a stage's config block, at most its
    ``per_class_cap[<dataset>]`` (a data copy with fewer examples per class, or a costly
    dataset); null ones (the full split) are not capped."""
    cap = (c.get("per_class_cap") or {}).get(dataset)
    return tuple(c.get(k) if cap is None or c.get(k) is None else min(c[k], cap)
                 for k in ("train_per_class", "test_per_class"))


def irp_args(config: Mapping, irp: str) -> str:
    run, c = wp.parse_irp(irp), config["irp"]
    train, test = _capped(c, run["dataset"])
    return flags(model=run["model"], dataset=run["dataset"], criterion=run["criterion"],
                 iterations=run["iterations"], seed=run["seed"], train_seed=run["train_seed"],
                 width=config.get("widths", {}).get(run["model"], 1.0),
                 final_density=c["final_density"], epochs=c.get("epochs"),
                 train_per_class=train, test_per_class=test,
                 grad_batches=c.get("grad_batches"), score_per_class=c.get("score_per_class"),
                 set_=_overrides(c, run["model"]))


def scorer_args(config: Mapping, scorer: str) -> str:
    s, c = wp.parse_scorer(scorer), config["scorer"]

    def per_arch(value, default=None):
        """A scorer setting given once or per arch (``{resnet18: ..., vgg19: ...}``)."""
        return value.get(s["arch"], default) if isinstance(value, Mapping) else value

    return flags(arch=s["arch"], inputs=s["inputs"], normalize=c.get("normalize"),
                 train_percent=c.get("train_percent"),
                 width=per_arch(c["width"], 1.0), image_size=per_arch(c.get("image_size")),
                 epochs=c["epochs"], batch_size=s["batch_size"], lr=s["lr"], seed=c["seed"],
                 device=c.get("device"), threads=config["train"].get("threads"))


def _scored(config: Mapping, variant: str) -> str | None:
    """The variant whose score store a pruning job thresholds: that of a ``prune.score_once``
    method without its ablation (None: the job scores for itself)."""
    v = wp.Variant.parse(variant)
    if v.method in config["prune"].get("score_once", []) and v.rounds is None:
        return dataclasses.replace(v, ablation=None).slug
    return None


def score_args(config: Mapping, target: str, variant: str, seed: str) -> str:
    """Flags shared by ``autosparse score`` and ``autosparse prune``."""
    t, v, c = wp.parse_target(target), wp.Variant.parse(variant), config["prune"]
    own = [f"{k}={p}" for k, p in own_inputs(config, target, variant, seed).items()]
    return flags(model=t["model"], dataset=t["dataset"], width=wp.fmt_num(t["width"]), seed=seed,
                 method=v.method, n_per_class=c["n_per_class"],
                 set_=[*c.get("set", []),
                       *([f"scorer={wp.scorer_path(v.scorer)}"] if v.scorer else []),
                       *([f"store={wp.irp_path(v.irp)}"] if v.irp else []), *own])


def prune_args(config: Mapping, target: str, variant: str, sparsity: str, seed: str) -> str:
    v, scored = wp.Variant.parse(variant), _scored(config, variant)
    return score_args(config, target, variant, seed) + " " + flags(
        sparsity=sparsity, scope=config["prune"]["scope"], rounds=v.rounds, ablation=v.ablation,
        scores=wp.scores_path(target, scored, seed) if scored else None)


def train_args(config: Mapping, target: str, seed: str) -> str:
    """Retraining flags; ``train_per_class`` and ``test_per_class`` at most
    ``train.per_class_cap[<dataset>]`` (a data copy with fewer examples per class, or a costly
    dataset: quick TinyImageNet); ``train.set`` then ``train.set_per_model[<model>]``."""
    t, c = wp.parse_target(target), config["train"]
    train, test = _capped(c, t["dataset"])
    return flags(model=t["model"], dataset=t["dataset"], width=wp.fmt_num(t["width"]), seed=seed,
                 epochs=c.get("epochs"), train_per_class=train, test_per_class=test,
                 set_=_overrides(c, t["model"]))


def score_inputs(variant: str, config: Mapping | None = None, target: str = "",
                 seed: int | str = 0) -> list[str]:
    """The scorer checkpoint of AutoS variants, the IRP store of lottery variants, the target's
    own run of the job's seed for ``__own-`` variants (:func:`own_inputs`)."""
    v = wp.Variant.parse(variant)
    own = list(own_inputs(config, target, variant, seed).values()) if v.own else []
    return ([wp.scorer_path(v.scorer)] if v.scorer else []) + (
        [wp.irp_path(v.irp)] if v.irp else []) + own


def prune_inputs(config: Mapping, target: str, variant: str, seed: str) -> list[str]:
    """:func:`score_inputs`, or the score store of a ``prune.score_once`` method."""
    scored = _scored(config, variant)
    return ([wp.scores_path(target, scored, seed)] if scored
            else score_inputs(variant, config, target, seed))


def labels_json(items: Planned) -> str:
    """``{path: labels}`` of planned inputs as compact JSON (for ``--labels``)."""
    import json

    return json.dumps({p: lab for p, lab in items}, separators=(",", ":"))
