"""The cost plan (autosparse/workflow/, `python -m autosparse plan`): its jobs are Snakemake's, its
FLOPs the registry models', its time linear in the work, its disk the real stores', and the rules
request what it says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from autosparse import plan
from autosparse.cli import main as cli
from autosparse.workflow import plan as workflow_plan
from tests.test_workflow import REPO, job_counts, snakemake


def _config(tmp_path: Path, *overlays: str | dict) -> dict:
    files = []
    for i, o in enumerate(overlays):
        if isinstance(o, dict):
            p = tmp_path / f"overlay{i}.yaml"
            p.write_text(yaml.safe_dump(o))
            o = str(p)
        files.append(str(REPO / o) if not Path(o).is_absolute() else o)
    return plan.load_config(files)


def _blocks(text: str) -> list[tuple[str, dict, dict]]:
    """(rule, wildcards, resources) of every job block of a Snakemake dry run."""
    out = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        m = re.match(r"(?:local)?rule (\w+):", block)
        if not m:
            continue
        w = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        r = re.search(r"^\s+resources: (.*)$", block, re.M)
        pairs = lambda s: dict(x.split("=", 1) for x in s.split(", ")) if s else {}  # noqa: E731
        out.append((m[1], pairs(w[1] if w else ""), pairs(r[1] if r else "")))
    return out


def test_jobs_and_requests_are_snakemakes(tmp_path):
    """Jobs per rule equal the dry run of the smoke profile's `all`, and every job's runtime /
    mem_mb in that dry run is plan.job_resources of its wildcards."""
    cfg = _config(tmp_path, "config/smoke.yaml")
    out = snakemake(tmp_path, "all", "-n", overlays=("config/smoke.yaml",))
    text = out.stdout + out.stderr
    counts = job_counts(text)
    jobs = plan.plan_jobs(cfg, "all")
    assert Counter(j.rule for j in jobs.values()) == counts
    blocks = _blocks(text)
    assert len(blocks) == sum(counts.values())
    planned = {k for k, r in plan.RULES.items() if k not in plan.REPORT_RESOURCES}
    checked = 0
    for rule, w, res in blocks:
        if rule in planned:
            assert {k: int(res[k]) for k in ("runtime", "mem_mb")} == \
                plan.job_resources(cfg, rule, w), (rule, w)
            checked += 1
    assert checked > 50
    p = plan.make_plan(cfg, "all", "cpu")
    assert {r: a["jobs"] for r, a in p["rules"].items()} == counts


def test_paper_table4_jobs_and_target_path():
    cfg = plan.load_config([str(REPO / "config/paper.yaml")])
    jobs = plan.plan_jobs(cfg, "results/table4.csv")
    c = Counter(j.rule for j in jobs.values())
    # 4 sources x 2 backbones; x 3 sparsities x 3 seeds, with SNIP and random beside AutoS
    assert c["irp"] == 4 and c["scorer"] == 8 and c["score"] == 8 * 3
    assert c["retrain"] == (8 + 2) * 3 * 3 and c["train_dense"] == 3 and c["table"] == 1


def test_lenet_forward_flops_hand_count():
    n = plan.net("lenet_300_100", 10)
    assert n.macs == 784 * 300 + 300 * 100 + 100 * 10
    assert n.weights == n.macs
    assert n.params == 266_610  # with biases, as METHODS.md's table


def _hook_count(model: torch.nn.Module, shape) -> tuple[int, list]:
    """Multiply-adds of conv/linear layers in one forward pass on one input, by forward hooks."""
    total, names = [0], []
    mods = {m: n for n, m in model.named_modules()}

    def hook(m, inp, out):
        if isinstance(m, torch.nn.Conv2d):
            total[0] += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        else:
            total[0] += out.numel() * m.in_features
        names.append(mods[m])

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    for h in hs:
        h.remove()
    return total[0], names


@pytest.mark.parametrize("model, classes, width, shape", [
    ("lenet_300_100", 10, 0.25, (1, 28, 28)), ("resnet18", 10, 1.0, (3, 32, 32)),
    ("resnet18", 200, 0.125, (3, 64, 64)), ("resnet20", 10, 1.0, (3, 32, 32)),
    ("vgg16_bn", 10, 0.25, (3, 32, 32)), ("vgg19_bn", 100, 1.0, (3, 32, 32)),
])
def test_layer_plan_equals_the_registry_model(model, classes, width, shape):
    import autosparse
    from autosparse.models import prunable_parameters

    m = autosparse.build_model(model, classes, width, shape, seed=0)
    n = plan.net(model, classes, width, shape)
    assert [(la.name, la.shape) for la in n.layers] == \
        [(k, tuple(p.shape)) for k, p in prunable_parameters(m).items()]
    assert n.params == sum(t.numel() for t in m.state_dict().values())
    assert n.macs == _hook_count(m, shape)[0]


@pytest.mark.parametrize("arch, width, size", [("resnet18", 1.0, None), ("vgg19", 0.0625, 32),
                                               ("mlp", 1.0, None)])
def test_scorer_plan_equals_the_scorer(arch, width, size):
    from autosparse.scorer import TrainScorerConfig, build_scorer, flops_per_weight

    cfg = TrainScorerConfig(arch=arch, inputs="param+grad", width=width, image_size=size)
    s = build_scorer(cfg)
    n = plan.scorer_net(arch, "param+grad", width, size)
    assert n.params == sum(t.numel() for t in s.state_dict().values())
    assert 2 * n.macs == flops_per_weight(s, 2)
    if arch == "resnet18" and width == 1.0:  # benchmarks/RESULTS.md: 1.11 GFLOP per weight
        assert round(2 * n.macs / 1e9, 2) == 1.11


def test_training_time_is_linear_in_epochs(tmp_path):
    """Doubling the retraining epochs in an overlay doubles the retraining compute (the fixed
    cost per job aside) and leaves the other rules alone."""
    a = plan.make_plan(_config(tmp_path, "config/paper.yaml", {"train": {"epochs": 10}}),
                       "results/table4.csv", "h100")
    b = plan.make_plan(_config(tmp_path, "config/paper.yaml", {"train": {"epochs": 20}}),
                       "results/table4.csv", "h100")
    over = plan.DEVICES["h100"]["job_overhead_s"] / 3600
    for rule in ("retrain", "train_dense"):
        ra, rb = a["rules"][rule], b["rules"][rule]
        assert rb["flops"] == pytest.approx(2 * ra["flops"])
        assert rb["hours"] - rb["jobs"] * over == pytest.approx(2 * (ra["hours"] - ra["jobs"] * over))
    assert a["rules"]["irp"] == b["rules"]["irp"]
    # and the SLURM request follows: twice the estimate
    w = {"target": "resnet18-cifar10-w1", "seed": "0"}
    ea = plan.estimate(_config(tmp_path, "config/paper.yaml", {"train": {"epochs": 10}}),
                       "train_dense", w, "h100")
    eb = plan.estimate(_config(tmp_path, "config/paper.yaml", {"train": {"epochs": 20}}),
                       "train_dense", w, "h100")
    assert eb.seconds - eb.overhead == pytest.approx(2 * (ea.seconds - ea.overhead))


def _file_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.mark.parametrize("model, width, density", [("lenet_300_100", 0.25, 0.1),
                                                   ("resnet20", 1.0, 0.05),
                                                   ("resnet20", 1.0, 0.5)])
def test_mask_store_disk_within_2x_of_a_real_one(tmp_path, model, width, density):
    import autosparse
    from autosparse.models import prunable_parameters
    from autosparse.store import write_mask_store, write_score_store

    m = autosparse.build_model(model, 10, width, seed=0)
    g = torch.Generator().manual_seed(0)
    params = prunable_parameters(m)
    masks = {k: torch.rand(p.shape, generator=g) < density for k, p in params.items()}
    write_mask_store(tmp_path / "m.zarr", masks, attrs={"method": "random",
                                                       "requested_sparsity": 1 - density})
    n = plan.net(model, 10, width)
    real, est = _file_bytes(tmp_path / "m.zarr"), plan.mask_store_bytes(n.layers, density)
    assert real / 2 <= est <= 2 * real, (real, est)
    write_score_store(tmp_path / "s.zarr", {k: p.detach().abs() for k, p in params.items()})
    real, est = _file_bytes(tmp_path / "s.zarr"), plan.score_store_bytes(n.layers)
    assert real / 2 <= est <= 2 * real, (real, est)


def test_bad_target_or_device_fails_before_any_work(monkeypatch, capsys):
    def no_work(*a, **k):
        raise AssertionError("planned jobs before checking the target")

    monkeypatch.setattr(workflow_plan, "plan_jobs", no_work)  # where the CLI looks it up
    assert cli(["plan", "--configfile", str(REPO / "config/smoke.yaml"),
                "--target", "results/nosuch.csv"]) == 2
    err = capsys.readouterr().err
    assert "'results/nosuch.csv'" in err and "results/table4.csv" in err
    assert cli(["plan", "--target", "results/table7.csv"]) == 2
    assert "table7 is not configured" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli(["plan", "--device", "tpu9"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "tpu9" in err and "h100" in err and "cpu" in err


def test_cli_json_totals_and_records(tmp_path, capsys, monkeypatch):
    """--json adds up; benchmark records of an earlier run scale their rule's compute time."""
    monkeypatch.chdir(tmp_path)
    args = ["plan", "--configfile", str(REPO / "config/paper.yaml"), "--target",
            "results/table4.csv", "--gpus", "4", "--device", "h100", "--json"]
    assert cli(args) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["jobs"] == sum(a["jobs"] for a in p["rules"].values())
    gpu_h = sum(a["hours"] for a in p["rules"].values() if a["kind"] == "gpu")
    assert p["total"]["hours"] == pytest.approx(gpu_h)
    assert p["wall"]["hours"] == pytest.approx(max(gpu_h / 4, p["wall"]["critical_path_hours"]))
    assert [s.split()[0] for s in p["wall"]["critical_path"]][:3] == ["irp", "survival", "scorer"]
    # records: every retraining of seed 0 took 3x its modelled compute time
    cfg = plan.load_config([str(REPO / "config/paper.yaml")])
    for j in plan.plan_jobs(cfg, "results/table4.csv").values():
        if j.rule == "retrain" and j.wildcards["seed"] == "0":
            e = plan.estimate(cfg, j.rule, j.wildcards, "h100")
            f = tmp_path / plan.RULES["retrain"].benchmark.format(**j.wildcards)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(f"s\th:m:s\tmax_rss\n{e.overhead + 3 * (e.seconds - e.overhead):.3f}"
                         "\t0:00:01\t100\n")
    assert cli(args) == 0  # --benchmarks: results/benchmarks of the working directory
    q = json.loads(capsys.readouterr().out)
    assert q["rules"]["retrain"]["source"].startswith("records x3 (")
    over = plan.DEVICES["h100"]["job_overhead_s"] * q["rules"]["retrain"]["jobs"] / 3600
    assert q["rules"]["retrain"]["hours"] - over == pytest.approx(
        3 * (p["rules"]["retrain"]["hours"] - over), rel=1e-3)
    assert q["rules"]["irp"] == p["rules"]["irp"]


def test_method_costs_cover_the_registry():
    import autosparse
    from autosparse.methods import get_method

    assert set(autosparse.list_methods()) == set(plan.METHOD_COSTS)
    for name in plan.METHOD_COSTS:
        assert plan.method_cost(name)["rounds"] == get_method(name).rounds, name


def test_layer_plans_cover_the_registry():
    import autosparse
    from autosparse.workflow.shapes import MODELS

    assert set(autosparse.list_models()) == set(MODELS)


def test_dataset_sizes_are_the_offline_files(data_root):
    import autosparse
    from autosparse.data import dataset_spec

    assert set(autosparse.list_datasets()) == set(plan.DATASETS)
    for name, (classes, shape, _, _) in plan.DATASETS.items():
        spec = dataset_spec(name)
        assert (spec.num_classes, tuple(spec.input_shape)) == (classes, shape)
    with np.load(data_root / "mnist.npz") as z:
        assert (len(z["y_train"]), len(z["y_test"])) == plan.DATASETS["mnist"][2:]
    for split, i in (("train", 2), ("test", 3)):
        with np.load(data_root / f"cifar10_jpegbytes_{split}.npz") as z:
            assert len(z["y"]) == plan.DATASETS["cifar10"][i]
    for name, i in (("train100", 2), ("val", 3)):
        with np.load(data_root / f"tinyimagenet_jpegbytes_{name}.npz") as z:
            y = z["y"]
        assert len(y) == plan.DATASETS["tinyimagenet"][i]
        assert int((y < 10).sum()) == plan.DATASETS["tinyimagenet10"][i]


def test_plan_module_imports_without_torch():
    out = subprocess.run([sys.executable, "-c", "import sys, autosparse.plan; "
                          "assert 'torch' not in sys.modules, 'torch imported'"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_irp_store_disk_within_2x_of_a_real_one(tmp_path):
    """An IRP store written by irp.create_store and committed per iteration (nested random
    masks on the exponential schedule), against plan.irp_store_bytes."""
    import autosparse
    from autosparse.irp import IRPConfig, _commit, create_store, open_store
    from autosparse.models import prunable_parameters

    cfg = IRPConfig(model="resnet20", dataset="cifar10", criterion="magnitude", iterations=4,
                    final_density=0.05)
    m = autosparse.build_model("resnet20", 10, 1.0, seed=0)
    theta0 = {k: p.detach() for k, p in prunable_parameters(m).items()}
    g = torch.Generator().manual_seed(0)
    grad0 = {k: 1e-3 * torch.randn(p.shape, generator=g) for k, p in theta0.items()}
    out = tmp_path / "run.zarr"
    create_store(out, cfg, theta0, grad0, {"train_size": 1, "test_size": 1})
    root = open_store(out, "r+")
    keys = {k: torch.rand(p.shape, generator=g) for k, p in theta0.items()}
    dens = cfg.densities()
    for i in range(1, cfg.iterations + 1):  # keep the top d_i of a fixed random key: nested
        masks = {k: v >= torch.quantile(v.flatten()[:100_000], 1 - dens[i]) for k, v in keys.items()}
        _commit(root, i, masks, None, {"density": dens[i], "train_density": dens[i - 1],
                                       "test_accuracy": 50.0, "test_loss": 1.0,
                                       "timing": {"train_s": 1.0, "total_s": 1.0}})
    real = _file_bytes(out)
    est = plan.irp_store_bytes(plan.net("resnet20", 10).layers, dens)
    assert real / 2 <= est <= 2 * real, (real, est)
    # and the plan's IRP job writes that many bytes
    e = plan.estimate(plan.load_config([str(REPO / "config/paper.yaml")]), "irp",
                      {"irp": "resnet20-cifar10-magnitude-n4-s0"}, "h100")
    assert e.disk == plan.irp_store_bytes(plan.net("resnet20", 10).layers,
                                          [1.0, *[0.01 ** (t / 4) for t in range(1, 5)]])


def test_schema_names_the_calibrated_devices():
    schema = yaml.safe_load((REPO / "config/schema.yaml").read_text())
    assert sorted(schema["properties"]["plan"]["properties"]["device"]["enum"]) == \
        sorted(plan.DEVICES)
