"""The SLURM profile against a real cluster (../shared/slurm): `pytest -m slurm tests/test_slurm.py`.

Runs the smoke DAG (every target once all stages are merged; before that, the dense-training jobs
that exist) once locally and once through `snakemake --profile slurm` (sbatch, squeue polling,
`--gpus=1` for training rules), and checks the SLURM run's results equal the local run's.
"""

from __future__ import annotations

import json
import shutil
import time

import pandas as pd
import pytest

import autosparse
from autosparse import workflow_paths as wp
from autosparse.cli import build_parser
from tests.test_workflow import PROFILE_METHODS, REPO, WIRED, snakemake

pytestmark = pytest.mark.slurm

STAGES = {"prune", "irp", "survival", "scorer-train"}


def _full_dag_available() -> bool:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return STAGES <= set(sub.choices) and PROFILE_METHODS <= set(autosparse.list_methods())


def _targets() -> list[str]:
    if _full_dag_available():
        return ["all"]
    return [wp.metrics_path(t, "dense", None, 0)
            for t in ("lenet_300_100-mnist-w0.25", "resnet18-cifar10-w0.0625")]


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("sbatch") is None or shutil.which("squeue") is None:
        pytest.skip("no SLURM client: run `bash ../shared/slurm/start-slurm.sh` (root)")
    import subprocess

    if subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        pytest.skip("SLURM not running: bash ../shared/slurm/start-slurm.sh")


def test_slurm_run_equals_local_run(cluster, tmp_path):
    overlays = ("config/smoke.yaml", WIRED) if not _full_dag_available() else ("config/smoke.yaml",)
    targets = _targets()
    local, remote = tmp_path / "local", tmp_path / "slurm"
    local.mkdir()
    remote.mkdir()
    t0 = time.time()
    snakemake(local, *targets, "--cores", "2", overlays=overlays)
    t_local = time.time() - t0
    t0 = time.time()
    out = snakemake(remote, *targets, "--profile", str(REPO / "slurm"),
                    overlays=(*overlays, {"gpus_per_job": 1}))
    t_slurm = time.time() - t0
    log = out.stdout + out.stderr
    assert "slurm" in log.lower() and "Job" in log
    assert "gpu=1" in log  # training jobs requested a GPU (submitted as --gpus=1)
    print(f"local {t_local:.1f} s, SLURM {t_slurm:.1f} s, targets {targets}")
    if targets == ["all"]:
        for csv in sorted((local / "results").glob("*.csv")):
            pd.testing.assert_frame_equal(pd.read_csv(csv), pd.read_csv(remote / "results" / csv.name))
    else:
        for t in targets:
            a, b = (json.loads((d / t).read_text()) for d in (local, remote))
            assert a["test_accuracy"] == b["test_accuracy"]
            untimed = [[{k: v for k, v in e.items() if not k.endswith("time")} for e in h]
                       for h in (a["history"], b["history"])]
            assert untimed[0] == untimed[1]
            assert b["host"] and a["config"] == b["config"]
