"""The Snakemake DAG: config checks, planning, tables/figures from real metrics, caching."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import autosparse
from autosparse import workflow_config as wc
from autosparse import workflow_paths as wp
from autosparse.cli import main as cli
from autosparse.figures.accuracy import collapsed_share, layer_densities
from autosparse.store import write_mask_store
from autosparse.tables import build_table, to_markdown
from autosparse.workflow import config as wconfig

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
BIN = str(Path(sys.executable).parent)
# Overlay limiting method lists to methods registered in every branch (random, magnitude, snip),
# so that the DAG can be planned and run before the other stages' methods are merged.
WIRED = {"experiments": {
    "table1": {"methods": ["snip"]}, "px_table2": {"methods": ["snip"]},
    "fig3": {"methods": ["random", "magnitude", "snip"]},
    "fig6": {"baselines": {"LTH": {"method": "magnitude"}, "SNIP-iter": {"method": "snip"}}},
    "ablations": {"methods": ["random", "magnitude", "snip"]},
    "layerwise": {"methods": ["random", "magnitude", "snip"]},
    "neuron_collapse": {"methods": ["random", "magnitude", "snip"]},
    "table9": {"criteria": ["random", "magnitude", "snip"]},
}}
PROFILE_METHODS = {"grasp", "synflow", "px", "iter_snip", "lottery", "autos", "npb"}


def load_config(*overlays: dict | str) -> dict:
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    overlays = [o if isinstance(o, dict) else yaml.safe_load((REPO / o).read_text())
                for o in overlays]
    return wconfig.merge_overlays(cfg, overlays)


def snakemake(workdir: Path, *args: str, overlays: tuple = (), check: bool = True):
    files = []
    for i, o in enumerate(overlays):
        if isinstance(o, dict):
            p = workdir / f"overlay{i}.yaml"
            p.write_text(yaml.safe_dump(o))
            o = p
        files.append(str(REPO / o) if isinstance(o, str) else str(o))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(workdir),
           "--cores", "1", *args]
    if files:
        cmd += ["--configfile", *files]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": BIN + os.pathsep + os.environ["PATH"]}
    out = subprocess.run(cmd + ["--"] if files and not any(a.startswith("results/") or a == "all"
                                                             for a in args) else cmd,
                         capture_output=True, text=True, env=env, cwd=workdir)
    if check and out.returncode != 0:
        raise AssertionError(out.stdout + out.stderr)
    return out


def job_counts(text: str) -> dict[str, int]:
    counts, on = {}, False
    for line in text.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            on = True
        elif on and len(parts) == 2 and parts[1].isdigit():
            if parts[0] == "total":
                break
            counts[parts[0]] = int(parts[1])
    return counts


# -- config checks ----------------------------------------------------------------------------

@pytest.mark.parametrize("overlay, key", [
    ({"experiments": {"table4": {"sparsities": [0.9, 1.5]}}}, "experiments.table4.sparsities[1]"),
    ({"experiments": {"layerwise": {"sparsity": 0.0}}}, "experiments.layerwise.sparsity"),
    ({"experiments": {"fig3": {"methods": ["snip", "nosuch"]}}}, "experiments.fig3.methods[1]"),
    ({"target": {"model": "resnet99", "dataset": "cifar10"}}, "target.model"),
    ({"scorer": {"source": {"model": "resnet18", "dataset": "imagenet22k"}}},
     "scorer.source.dataset"),
    ({"irp": {"criterion": "nosuch"}}, "irp.criterion"),
    ({"data_root": "/nonexistent/autosparse-data"}, "data_root"),
    ({"train": {"per_class_cap": {"imagenet22k": 10}}}, "train.per_class_cap.imagenet22k"),
    # training overrides: validated at DAG construction as the jobs would (were accepted, then
    # failed every job)
    ({"train": {"set": ["device=tpu"]}}, "train.set: device must be"),
    ({"train": {"set": ["lrr=0.1"]}}, "train.set: unknown training option"),
    ({"irp": {"set": ["lr=-1"]}}, "irp.set: lr must be > 0"),
    ({"irp": {"set_per_model": {"resnet18": ["epochs=0"]}}},
     "irp.set_per_model.resnet18: epochs must be"),
    ({"train": {"set": ["lr"]}}, "train.set: override must be key=value"),
])
def test_check_config_names_the_bad_key(overlay, key, monkeypatch):
    monkeypatch.delenv("AUTOSPARSE_DATA", raising=False)
    cfg = load_config(WIRED, overlay)
    with pytest.raises(wc.WorkflowConfigError) as e:
        wc.check_config(cfg, REPO)
    msg = str(e.value)
    # key, or "key: the start of the reason" where the reason matters
    assert (key in msg) if ": " in key else (f"{key}:" in msg or msg.startswith(key)), msg


def test_check_config_refuses_an_empty_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOSPARSE_DATA", str(tmp_path))
    with pytest.raises(wc.WorkflowConfigError, match=r"\$AUTOSPARSE_DATA: folder .* is empty"):
        wc.check_config(load_config(WIRED), REPO)


def test_check_config_accepts_profiles():
    for prof in ("config/smoke.yaml", "config/paper.yaml"):
        wc.check_config(load_config(prof, WIRED), REPO)


def test_profiles_name_their_own_merges_and_variants(tmp_path):
    """A profile's Table 6 merges and Figure 6 variants / baselines replace the quick profile's
    (Snakemake alone merges them key by key): smoke and paper plan exactly their own, and the
    DAG Snakemake builds agrees."""
    smoke, paper = load_config("config/smoke.yaml"), load_config("config/paper.yaml")
    assert list(smoke["experiments"]["table6"]["merges"]) == ["lth+snip"]
    assert list(paper["experiments"]["table6"]["merges"]) == ["n20+n40+n100", "3xn20", "lth+snip"]
    assert list(smoke["experiments"]["fig6"]["variants"]) == ["AutoS"]
    assert list(smoke["experiments"]["fig6"]["baselines"]) == ["LTH"]
    assert smoke["experiments"]["table6"]["sparsities"] == [0.9]  # other keys still merge
    out = snakemake(tmp_path, "results/table6.csv", "-n", overlays=("config/smoke.yaml",))
    text = out.stdout + out.stderr
    assert "results/survival/lth+snip" in text
    assert "3xn3" not in text and "n3+n6+n10" not in text


RUNS = [{"criterion": "snip", "iterations": 2, "seed": 0},
        {"criterion": "snip", "iterations": 2, "seed": 1}]


def test_named_collections_are_lists_an_overlay_replaces_whole():
    """config/config.yaml gives Table 6's merges and Figure 6's variants / baselines as lists of
    {name, ...}: an overlay's list replaces the default's (Snakemake merges mappings key by key,
    lists whole), and so does an overlay in the old mapping form; the planning reads them by
    name, in order."""
    quick = load_config()
    assert list(quick["experiments"]["table6"]["merges"]) == ["n3+n6+n10", "3xn3", "lth+snip"]
    assert quick["experiments"]["fig6"]["baselines"]["LTH"] == {"method": "lottery",
                                                                "criterion": "magnitude"}
    net = {"model": "lenet_300_100", "dataset": "mnist"}
    listed = load_config({"experiments": {
        "table6": {"merges": [{"name": "3x2", "runs": RUNS}]},
        "fig6": {"variants": [{"name": "B", "source": net, "arch": "vgg19"},
                              {"name": "A", "source": net, "arch": "resnet18"}]}}})
    assert listed["experiments"]["table6"]["merges"] == {"3x2": RUNS}
    assert listed["experiments"]["fig6"]["variants"] == {
        "B": {"source": net, "arch": "vgg19"}, "A": {"source": net, "arch": "resnet18"}}
    assert list(listed["experiments"]["fig6"]["baselines"]) == ["LTH", "SNIP-iter"]
    mapped = load_config({"experiments": {"table6": {"merges": {"3x2": RUNS}}}})
    assert mapped["experiments"]["table6"]["merges"] == {"3x2": RUNS}
    for bad, word in (([{"runs": RUNS}], "needs a name"),
                      ([{"name": "a", "runs": RUNS}, {"name": "a", "runs": RUNS}], "twice"),
                      ([{"name": "a", "runs": RUNS, "seed": 1}], "expected {name, runs}")):
        with pytest.raises(wc.WorkflowConfigError, match=word) as e:
            load_config({"experiments": {"table6": {"merges": bad}}})
        assert "experiments.table6.merges[" in str(e.value)


def test_registry_names_are_the_registries():
    """check_config reads the names the cost model knows (torch-free): they are the registries'."""
    assert wc.registry_names() == {"models": autosparse.list_models(),
                                   "datasets": autosparse.list_datasets(),
                                   "methods": autosparse.list_methods()}


def test_every_target_declared_once():
    """Each table, figure and the ledger registers once (autosparse.workflow.experiments); the
    name lists, the targets of `all`, the schema's experiments and the build side agree."""
    from autosparse.figures import FIGURES as DRAWN
    from autosparse.tables import TABLE_KIND
    from autosparse.workflow import experiments as ex

    assert ex.TABLES == wc.TABLES == [n for k, n in ex.EXPERIMENTS if k == "table"]
    assert ex.FIGURES == wc.FIGURES == [n for k, n in ex.EXPERIMENTS if k == "figure"]
    assert set(ex.TABLES) == set(TABLE_KIND) and set(ex.FIGURES) == set(DRAWN)
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    always = {n for (k, n), e in ex.EXPERIMENTS.items() if e.always and k != "ledger"}
    assert set(schema["properties"]["experiments"]["properties"]) == \
        set(ex.TABLES) | set(ex.FIGURES) - always
    targets = wc.all_targets(load_config())
    assert len(targets) == len(set(targets)) == 2 * len(ex.TABLES) + 3 * len(ex.FIGURES) + 2
    assert targets[-2:] == ["results/claims.csv", "results/claims.md"]
    with pytest.raises(ValueError, match="registered twice"):
        ex.experiment("table", "table1")(lambda config, entry: [])
    with pytest.raises(KeyError, match="unknown figure 'fig2'; valid: fig1, fig3"):
        wc.figure_inputs(load_config(), "fig2")


def test_schema_ablation_kinds_are_the_library_s():
    """The ablation kinds have one home, autosparse.ablations.ABLATIONS; the schema checks them."""
    from autosparse.ablations import ABLATIONS

    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    kinds = schema["properties"]["experiments"]["properties"]["ablations"]["properties"]["kinds"]
    assert tuple(kinds["items"]["enum"]) == ABLATIONS


def test_workflow_package_imports_without_torch():
    """The Snakefile imports autosparse.workflow normally: the package and its old homes load
    without torch (a no-op `snakemake` stays ~1 s of CPU)."""
    code = ("import sys; import autosparse.workflow; from autosparse.workflow import args, "
            "config, costs, experiments, jobs, paths, plan, rates, shapes, stages; "
            "import autosparse.workflow_config, autosparse.workflow_paths, autosparse.plan; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


OLD = "ee3cb5b"  # the profiles before issue 14 (the named collections as mappings, restated)


def _old_config(files: list[str]) -> dict:
    """A profile merged from the config files of OLD as its Snakefile merged them: key by key,
    then each named collection an overlay sets replaced whole."""
    import copy

    from snakemake.utils import update_config

    def show(f):
        out = subprocess.run(["git", "show", f"{OLD}:{f}"], cwd=REPO, capture_output=True,
                             text=True)
        if out.returncode:
            pytest.skip(f"commit {OLD} not in this clone")
        return yaml.safe_load(out.stdout) or {}

    cfg, overlays = show("config/config.yaml"), [show(f) for f in files]
    for o in overlays:
        update_config(cfg, o)
    for o in overlays:
        for name, key in (("table6", "merges"), ("fig6", "variants"), ("fig6", "baselines")):
            entry = (o.get("experiments") or {}).get(name) or {}
            if key in entry:
                cfg["experiments"][name][key] = copy.deepcopy(entry[key])
    return cfg


@pytest.mark.parametrize("files", [[], ["config/smoke.yaml"], ["config/cpu.yaml"],
                                   ["config/paper.yaml"],
                                   ["config/paper.yaml", "config/paper_smoke.yaml"]])
def test_profiles_merge_to_the_configs_before_issue_14(files):
    """Profiles now overlay only what they change and name their collections in lists: each
    merged profile is the one it was (before the schema's defaults), but for the changes made
    since: c9b51a0 left ``beyond`` out of the cpu profile (config/cpu-beyond.yaml); the smoke
    profile's beyond table gained the density law (issue 16)."""
    old = _old_config(files)
    if "config/cpu.yaml" in files:
        del old["experiments"]["beyond"]
    if "config/smoke.yaml" in files:
        old["experiments"]["beyond"]["learned"].append("law_random")
    assert load_config(*files) == old


def flag_value(args: str, flag: str) -> str | None:
    """The value after ``flag`` in a rule's argument string (None when absent)."""
    args_ = args.split()
    return args_[args_.index(flag) + 1] if flag in args_ else None


def test_scorer_width_per_arch():
    """``scorer.width`` is one value or one per arch (smoke: VGG-19 scorers at half ResNet-18's
    width); the paper profile's single 1.0 replaces the quick profile's mapping."""
    def width(cfg, arch):
        return float(flag_value(wc.scorer_args(
            cfg, f"resnet18-cifar10-magnitude-n2-s0.{arch}.param+grad.b1024.lr0.01"), "--width"))

    quick, smoke, paper = (load_config(*p) for p in
                           ((), ("config/smoke.yaml",), ("config/paper.yaml",)))
    assert width(quick, "resnet18") == width(quick, "vgg19") == 0.0625
    assert (width(smoke, "resnet18"), width(smoke, "vgg19")) == (0.0625, 0.03125)
    assert width(paper, "resnet18") == width(paper, "vgg19") == 1.0


def test_profiles_fit_their_data():
    """Quick retraining asks 200/class, its TinyImageNet stand-in (10 classes) capped at the
    offline copy's 100; smoke keeps its 5; paper trains on full splits and drops the stand-ins."""
    def per_class(cfg, target, flag="--train-per-class"):
        return flag_value(wc.train_args(cfg, target, "0"), flag)

    quick, smoke, paper = (load_config(*p) for p in
                           ((), ("config/smoke.yaml",), ("config/paper.yaml",)))
    assert wc.dataset_for(quick, "tinyimagenet")[0] == "tinyimagenet10"
    assert per_class(quick, "resnet18-tinyimagenet10-w0.125") == "100"
    assert per_class(quick, "resnet18-tinyimagenet10-w0.125", "--test-per-class") == "50"
    assert per_class(quick, "resnet18-cifar10-w0.125", "--test-per-class") == "50"
    assert per_class(quick, "resnet18-cifar10-w0.125") == "200"
    assert per_class(smoke, "resnet18-tinyimagenet10-w0.0625") == "5"
    assert per_class(paper, "resnet18-tinyimagenet-w1") is None
    assert wc.dataset_for(quick, "cifar100")[0] == "cifar10"
    assert wc.dataset_for(paper, "cifar100") == ("cifar100", "")
    assert wc.dataset_for(paper, "tinyimagenet") == ("tinyimagenet", "")


def test_set_per_model_overrides_reach_only_that_models_jobs():
    """cpu: the conv IRP sources train with Adam on batches of 32, the LeNet source keeps its
    preset; ``set`` comes first, so a per-model value wins."""
    cpu = load_config("config/cpu.yaml")

    def overrides(irp):
        args = wc.irp_args(cpu, irp).split()
        return args[args.index("--set") + 1:] if "--set" in args else []

    assert overrides("vgg19_bn-cifar10-snip-n20-s0") == ["optimizer=adam", "lr=0.001",
                                                           "batch_size=32"]
    assert overrides("lenet_300_100-mnist-snip-n20-s0") == []
    cfg = load_config()
    cfg["irp"] = {**cfg["irp"], "set": ["lr=0.5"], "set_per_model": {"resnet18": ["lr=0.1"]}}
    assert flag_value(wc.irp_args(cfg, "resnet18-cifar10-snip-n3-s0"), "--set") == "lr=0.5"
    assert wc.irp_args(cfg, "resnet18-cifar10-snip-n3-s0").split()[-1] == "lr=0.1"
    cfg["irp"]["set_per_model"] = {"resnet99": []}
    with pytest.raises(wc.WorkflowConfigError, match="irp.set_per_model.resnet99"):
        wc.check_config(cfg, REPO)


@pytest.mark.parametrize("overlay, word", [
    ({"scorer": {"inputs": "weights"}}, "weights"),
    ({"seeds": []}, "seeds"),
    ({"train": {"epochs": 0}}, "epochs"),
    ({"nosuchkey": 1}, "nosuchkey"),
    # a typo under an experiment would leave its default in force
    ({"experiments": {"table4": {"sparsitys": [0.9]}}}, "sparsitys"),
    ({"experiments": {"fig6": {"variants": {"A": {"source": {"model": "lenet_300_100",
                                                            "dataset": "mnist"},
                                                 "arch": "resnet18", "widht": 1}}}}}, "widht"),
    ({"experiments": {"table6": {"merges": {"a__b": [
        {"criterion": "snip", "iterations": 2, "seed": 0},
        {"criterion": "snip", "iterations": 2, "seed": 1}]}}}}, "a__b"),
    ({"experiments": {"table6": {"merges": {"3x2": [
        {"criterion": "snip", "iterations": 2, "seed": 0, "sed": 1},
        {"criterion": "snip", "iterations": 2, "seed": 1}]}}}}, "sed"),
    ({"experiments": {"layerwise": {"sparsity": 1.5}}}, "1.5"),
    # joined into every training job's shell command
    ({"local_gpus": ["0 -- true; touch x; #"]}, "touch x"),
    ({"scorer": {"device": "gpu0"}}, "gpu0"),
])
def test_schema_rejects(overlay, word):
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    with pytest.raises(WorkflowError) as e:
        validate(load_config(overlay), str(REPO / "config/schema.yaml"))
    assert word in str(e.value)


def test_schema_documents_every_key():
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    for key, sub in schema["properties"].items():
        assert "description" in sub or "$ref" in sub, key


def test_config_overrides_typed_as_the_readme_shows():
    """README: `--config seeds='[0,1,2]'`. Snakemake reads such values with YAML's BaseLoader
    (strings); the Snakefile re-reads them (wc.typed_overrides) before the schema sees them."""
    from snakemake.cli import parse_config
    from snakemake.utils import update_config, validate

    assert "--config seeds='[0,1,2]'" in (REPO / "README.md").read_text()
    assert "wc.typed_overrides(config, workflow.config_settings.config" in \
        SNAKEFILE.read_text()
    over = parse_config(["seeds=[0,1,2]", "train={epochs: 3, set: [lr=0.5]}"])  # as argv has it
    assert over["seeds"] == ["0", "1", "2"]  # what Snakemake hands over
    cfg = load_config(WIRED)
    update_config(cfg, over)
    wc.typed_overrides(cfg, over)
    validate(cfg, str(REPO / "config/schema.yaml"))
    assert cfg["seeds"] == [0, 1, 2] and cfg["train"]["epochs"] == 3
    assert cfg["train"]["set"] == ["lr=0.5"]


def test_bad_value_stops_snakemake_before_any_job(tmp_path):
    out = snakemake(tmp_path, "-n", overlays=(WIRED, {"experiments": {"table2": {
        "sparsities": [1.0]}}}), check=False)
    assert out.returncode != 0
    assert "experiments.table2.sparsities[0]" in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


# -- planning ---------------------------------------------------------------------------------

def test_paths_round_trip():
    v = wp.Variant("autos", scorer=wc.scorer_for(load_config(), arch="vgg19"))
    assert wp.Variant.parse(v.slug) == v
    assert wp.parse_irp(wp.irp_name("vgg19_bn", "cifar10", "snip", 20, 0, 1))["train_seed"] == 1
    assert wp.irp_name("lenet_300_100", "mnist", "snip", 20, 2, 2).endswith("-s2")
    for var in (wp.Variant("snip", ablation="shuffle"), wp.Variant("px", rounds=100),
                wp.Variant("lottery", irp="resnet18-cifar10-snip-n20-s0")):
        assert wp.Variant.parse(var.slug) == var
    path = wp.metrics_path("resnet18-cifar10-w0.125", v.slug, 0.95, 2)
    ident = wp.parse_metrics_path(path)
    assert (ident["model"], ident["dataset"], ident["width"], ident["sparsity"], ident["seed"],
            ident["method"], ident["scorer"]) == ("resnet18", "cifar10", 0.125, 0.95, 2,
                                                  "autos", v.scorer)
    assert wp.parse_metrics_path(wp.metrics_path("lenet_300_100-mnist-w1", "dense", None, 0))[
        "method"] == "dense"
    assert [wp.fmt_num(x) for x in (0.9, 1.0, 0.001, 0.982)] == ["0.9", "1", "0.001", "0.982"]


def test_table4_plan_counts_and_stand_in_note():
    cfg = load_config(WIRED)
    items = wc.table_inputs(cfg, "table4")
    ex = cfg["experiments"]["table4"]
    cells = len(ex["sources"]) * len(ex["backbones"]) * len(ex["sparsities"]) * len(cfg["seeds"])
    refs = len(wc.REFERENCES) * len(ex["sparsities"]) * len(cfg["seeds"])  # SNIP, random
    assert len(items) == cells + refs + len(cfg["seeds"])  # + the dense baseline
    refs_planned = {wp.parse_metrics_path(p)["method"] for p, lab in items
                    if not lab.get("irp_source")}
    assert refs_planned == {"dense", *wc.REFERENCES}
    scorers = {wp.parse_metrics_path(p)["scorer"] for p, _ in items} - {None}
    assert len(scorers) == len(ex["sources"]) * len(ex["backbones"])
    notes = {lab["irp_source"]: lab["dataset_note"] for _, lab in items if lab.get("irp_source")}
    assert "CIFAR-10 stand-in" in notes["cifar100-vgg19"]
    assert "first 10 classes" in notes["tinyimagenet-resnet18"]
    assert "stand-in" not in notes["mnist-lenet"]
    # the stand-in really trains on CIFAR-10 with VGG-19
    survivals = {wp.parse_scorer(s)["survival"] for s in scorers}
    assert f"vgg19_bn-cifar10-{cfg['irp']['criterion']}-n3-s0" in survivals


def test_dry_run_smoke_all_job_counts(tmp_path):
    cfg = load_config("config/smoke.yaml", WIRED)
    out = snakemake(tmp_path, "all", "-n", "--quiet", "rules", overlays=("config/smoke.yaml", WIRED))
    counts = job_counts(out.stdout)
    tables = [t for t in wc.TABLES if t in cfg["experiments"]]
    assert counts["table"] == len(tables)
    assert counts["figure"] == len(wc.FIGURES)
    # every retrain job has its prune job; every scorer its survival dataset
    plan = [p for t in tables if t != "table9" for p, _ in wc.table_inputs(cfg, t)]
    plan += [p for f in ("fig3", "fig6", "ablations") for p, _ in wc.figure_inputs(cfg, f)]
    plan += [p for p in wc.claims_inputs(cfg) if "/metrics/" in p]   # the ledger's baselines
    pruned = {p for p in plan if "/dense/" not in p}
    assert counts["retrain"] == len(pruned)
    assert counts["train_dense"] == len({p for p in plan if "/dense/" in p})


def test_dry_run_figure_pdf_and_svg_come_from_the_figure_rule(tmp_path):
    """The PDF and SVG beside a figure's PNG are outputs of its one figure job."""
    for ext in ("pdf", "svg"):
        out = snakemake(tmp_path, f"results/figures/fig3.{ext}", "-n", "--quiet", "rules",
                        overlays=(WIRED,))
        assert job_counts(out.stdout).get("figure") == 1, out.stdout


def test_dry_run_quick_table4(tmp_path):
    out = snakemake(tmp_path, "results/table4.csv", "-n", "--quiet", "rules", overlays=(WIRED,))
    # 4 sources x 2 backbones x 3 sparsities of AutoS, and SNIP and random beside them
    assert job_counts(out.stdout) == {"irp": 4, "survival": 4, "scorer": 8, "score": 8,
                                      "prune": 30, "retrain": 30, "train_dense": 1, "table": 1}


def test_score_once_methods_prune_from_one_score_store_per_target_and_seed():
    cfg = load_config(WIRED)
    tgt = "resnet18-cifar10-w0.125"
    autos = wc.variant_for(cfg, "autos")
    store = wp.scores_path(tgt, autos, 0)
    for variant in (autos, autos + "__abl-invert", autos + "__abl-reinit"):
        assert wc.prune_inputs(cfg, tgt, variant, "0") == [store]
        assert f"--scores {store}" in wc.prune_args(cfg, tgt, variant, "0.9", "0")
    # the score job gets the scorer; the pruning job's other flags are the score job's
    assert wc.score_inputs(autos) == [wp.scorer_path(wp.Variant.parse(autos).scorer)]
    assert wc.prune_args(cfg, tgt, autos, "0.9", "0").startswith(
        wc.score_args(cfg, tgt, autos, "0"))
    # other methods score in their own job; the profile's rounds name the variant
    assert wc.prune_inputs(cfg, tgt, "snip", "0") == []
    assert "--scores" not in wc.prune_args(cfg, tgt, "snip", "0.9", "0")
    assert wc.variant_for(cfg, "px") == "px__T10" and wc.variant_for(cfg, "synflow") == "synflow"
    with pytest.raises(wc.WorkflowConfigError, match="prune.score_once: unknown method 'nosuch'"):
        wc.check_config(load_config(WIRED, {"prune": {"score_once": ["nosuch"]}}), REPO)


@pytest.mark.skipif(not PROFILE_METHODS <= set(autosparse.list_methods()),
                    reason="methods of other stages not registered in this branch yet: "
                    + ", ".join(sorted(PROFILE_METHODS - set(autosparse.list_methods()))))
@pytest.mark.parametrize("profile", ["config/config.yaml", "config/smoke.yaml", "config/paper.yaml"])
def test_dry_run_all_profiles_unmodified(tmp_path, profile):
    out = snakemake(tmp_path, "all", "-n", "--quiet", "rules", overlays=(profile,))
    assert job_counts(out.stdout)["table"] == 10  # 9 of the papers, beyond


@pytest.mark.parametrize("target", [  # CI dry-runs the ledger (all tables' inputs) and Table 4
    *(f"results/{t}.csv" if t == "table4" else pytest.param(f"results/{t}.csv",
                                                            marks=pytest.mark.slow)
      for t in wc.TABLES), "results/claims.md"])
def test_cpu_profile_builds_every_table_alone(tmp_path, target):
    """Each table (and the ledger) of the cpu profile is a target of its own: a dry run of it
    alone plans its jobs and ends in its table rule."""
    out = snakemake(tmp_path, target, "-n", "--quiet", "rules", overlays=("config/cpu.yaml",))
    counts = job_counts(out.stdout)
    assert counts.get("claims" if target.endswith("claims.md") else "table") == 1, out.stdout
    assert counts.get("retrain", 0) + counts.get("irp", 0) >= 1  # it reaches the real work


# -- tables and figures from the real train CLI -----------------------------------------------

TARGET = "lenet_300_100-mnist-w0.25"
TRAIN = ["--model", "lenet_300_100", "--dataset", "mnist", "--width", "0.25", "--epochs", "1",
         "--train-per-class", "5", "--test-per-class", "5"]


@pytest.fixture(scope="module")
def real_metrics(tmp_path_factory, data_root):
    """Dense and 90 %-magnitude-pruned LeNet runs for seeds 0 and 1, via the train CLI."""
    root = tmp_path_factory.mktemp("wf")
    paths = {}
    for seed in (0, 1):
        dense = root / wp.metrics_path(TARGET, "dense", None, seed)
        assert cli(["train", *TRAIN, "--seed", str(seed), "--data-root", str(data_root),
                    "--out", str(dense)]) == 0
        model = autosparse.build_model("lenet_300_100", 10, 0.25, seed=seed)
        masks = autosparse.prune(model, "magnitude", 0.9)
        store = root / wp.mask_path(TARGET, "magnitude", 0.9, seed)
        write_mask_store(store, masks, attrs={"method": "magnitude", "requested_sparsity": 0.9})
        pruned = root / wp.metrics_path(TARGET, "magnitude", 0.9, seed)
        assert cli(["train", *TRAIN, "--seed", str(seed), "--mask", str(store), "--data-root",
                    str(data_root), "--out", str(pruned)]) == 0
        paths[seed] = (dense, pruned, store)
    return root, paths


def test_table_mean_std_nseeds(real_metrics, tmp_path):
    _, paths = real_metrics
    files = [str(p) for seed in (0, 1) for p in paths[seed][:2]]
    labels = {f: {"dataset_note": "note"} for f in files}
    df = build_table("table1", files, labels)
    assert len(df) == 2
    for method, idx in (("dense", 0), ("magnitude", 1)):
        acc = [json.loads(Path(paths[s][idx]).read_text())["test_accuracy"] for s in (0, 1)]
        row = df[df["method"] == method].iloc[0]
        assert row["mean"] == pytest.approx(np.mean(acc))
        assert row["std"] == pytest.approx(np.std(acc, ddof=1))
        assert row["n_seeds"] == 2 and row["dataset_note"] == "note"
    assert df[df["method"] == "magnitude"]["achieved_sparsity_mean"].iloc[0] == pytest.approx(
        0.9, abs=1e-3)
    out = tmp_path / "t.csv"
    assert cli(["table", "--name", "table1", "--metrics", *files, "--labels", json.dumps(labels),
                "--out", str(out)]) == 0
    md = out.with_suffix(".md").read_text().splitlines()
    # the paper's layout: header, rule, its four methods, then our rows (magnitude, dense)
    rows = [ln for ln in md if ln.startswith("| ")]
    assert len(rows) == 2 + 4 + 2 and rows[-2].startswith("| Magnitude |")
    assert rows[-1].startswith("| Dense |") and "/" not in rows[-1].split("|")[2]
    assert to_markdown(df).count("\n") == 4


def test_table_and_accuracy_figure_jobs_do_not_import_torch(real_metrics, tmp_path):
    """``python -m autosparse table`` / ``figure --name fig3`` import only their own stage
    (cli.STAGE_COMMANDS, lazy package): no torch, 3-4 s of CPU less per DAG job."""
    _, paths = real_metrics
    files = [str(p) for seed in (0, 1) for p in paths[seed][:2]]
    for args in (["table", "--name", "table1", "--metrics", *files, "--out",
                  str(tmp_path / "t.csv")],
                 ["figure", "--name", "fig3", "--inputs", *files, "--out",
                  str(tmp_path / "f.png")]):
        code = (f"import sys; from autosparse.cli import main; rc = main({args!r}); "
                "print(rc, 'torch' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=REPO)
        assert out.stdout.split()[-2:] == ["0", "False"], out.stdout + out.stderr
    assert (tmp_path / "t.csv").exists() and (tmp_path / "f.png").exists()


def test_cli_stage_commands_list_every_subcommand():
    from autosparse import cli

    for mod, cmds in cli.STAGE_COMMANDS.items():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        __import__(mod, fromlist=["register_cli"]).register_cli(sub)
        assert tuple(sub.choices) == cmds, mod


def test_mask_figures_match_hand_counts(real_metrics, tmp_path):
    _, paths = real_metrics
    store = paths[0][2]
    df = layer_densities([str(store)])
    masks, _ = autosparse.store.read_mask_store(store)
    assert df["density"].tolist() == pytest.approx(
        list(autosparse.mask_stats(masks)["layer_density"].values()))
    m = {"a": torch.tensor([[1, 0], [0, 0], [0, 0]], dtype=torch.bool),
         "b": torch.zeros(2, 3, 3, 3, dtype=torch.bool)}
    m["b"][1, 0, 0, 0] = True
    assert collapsed_share(m) == pytest.approx(3 / 5)
    out = tmp_path / "nc.png"
    assert cli(["figure", "--name", "neuron_collapse", "--inputs", str(store), "--out",
                str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


# -- caching ----------------------------------------------------------------------------------

DENSE = wp.metrics_path("lenet_300_100-mnist-w0.25", "dense", None, 0)


@pytest.fixture(scope="module")
def ran_dense(tmp_path_factory):
    wd = tmp_path_factory.mktemp("dag")
    snakemake(wd, DENSE, overlays=("config/smoke.yaml", WIRED))
    assert (wd / DENSE).is_file()
    assert (wd / wp.benchmark_path("train_dense", "lenet_300_100-mnist-w0.25/seed0")).is_file()
    assert (wd / wp.log_path("train_dense", "lenet_300_100-mnist-w0.25/seed0")).is_file()
    return wd


def test_rerun_nothing_to_be_done(ran_dense):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = snakemake(ran_dense, DENSE, overlays=("config/smoke.yaml", WIRED))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert "Nothing to be done" in out.stdout + out.stderr
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert cpu < 5.0, f"no-op run used {cpu:.1f} s CPU (planning must not import torch)"


def test_param_change_reruns_only_that_job(ran_dense):
    unrelated = snakemake(ran_dense, DENSE, "-n", overlays=(
        "config/smoke.yaml", WIRED, {"irp": {"iterations": 7}, "scorer": {"lr": 0.5}}))
    assert "Nothing to be done" in unrelated.stdout + unrelated.stderr
    changed = snakemake(ran_dense, DENSE, "-n", "--quiet", "rules", overlays=(
        "config/smoke.yaml", WIRED, {"train": {"epochs": 2}}))
    assert job_counts(changed.stdout) == {"train_dense": 1}
    listed = snakemake(ran_dense, DENSE, "--list-changes", "params", overlays=(
        "config/smoke.yaml", WIRED, {"train": {"epochs": 2}}))
    assert DENSE in listed.stdout


def test_device_lock_gives_each_job_its_own_gpu(tmp_path):
    from autosparse.devices import acquire_device

    with acquire_device(["0", "1"], tmp_path) as a, acquire_device(["0", "1"], tmp_path) as b:
        assert {a, b} == {"0", "1"}
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    out = subprocess.run([sys.executable, "-m", "autosparse.devices", "--gpus", "3", "--lock-dir",
                          str(tmp_path), "--", sys.executable, "-c",
                          "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"],
                         capture_output=True, text=True, env={**env, "PYTHONPATH": str(REPO)})
    assert out.stdout.strip() == "3"


def test_fig3_panel_label_names_the_stand_in_dataset():
    labels = {lab["net"] for _, lab in wc.figure_inputs(load_config(WIRED), "fig3") if "net" in lab}
    assert "vgg19_bn/cifar100 (stand-in: cifar10)" in labels
    assert "resnet18/cifar10" in labels
    paper = {lab["net"] for _, lab in
             wc.figure_inputs(load_config(WIRED, "config/paper.yaml"), "fig3") if "net" in lab}
    assert "vgg19_bn/cifar100" in paper
