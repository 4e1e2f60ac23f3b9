"""The SLURM profile against a real cluster (../shared/slurm): `pytest -m slurm tests/test_slurm.py`.

Runs the whole smoke DAG (`all`) once locally and once exactly as a user would on a cluster:
`snakemake --profile slurm all` from the root of a copy of the repository, the profile found where
Snakemake looks for it (sbatch, squeue polling, `--gpus=1` for training rules). The SLURM run's
tables must equal the local run's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from tests.test_workflow import BIN, REPO, snakemake

pytestmark = pytest.mark.slurm

# what a checkout holds besides build and run outputs
IGNORE = shutil.ignore_patterns(".git", ".venv", ".snakemake", ".devdata", ".whl", "results",
                                "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache")


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("sbatch") is None or shutil.which("squeue") is None:
        pytest.skip("no SLURM client: run `bash ../shared/slurm/start-slurm.sh` (root)")
    if subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        pytest.skip("SLURM not running: bash ../shared/slurm/start-slurm.sh")


def test_slurm_run_equals_local_run(cluster, tmp_path):
    local, checkout = tmp_path / "local", tmp_path / "checkout"
    local.mkdir()
    t0 = time.time()
    snakemake(local, "all", "--cores", "2", overlays=("config/smoke.yaml",))
    t_local = time.time() - t0

    shutil.copytree(REPO, checkout, ignore=IGNORE)
    (checkout / "results").mkdir()
    (checkout / "gpus.yaml").write_text(yaml.safe_dump({"gpus_per_job": 1}))
    data_root = (REPO / yaml.safe_load((REPO / "config/config.yaml").read_text())["data_root"])
    env = {**os.environ, "PYTHONPATH": str(checkout), "PATH": BIN + os.pathsep + os.environ["PATH"],
           "AUTOSPARSE_DATA": os.environ.get("AUTOSPARSE_DATA", str(data_root.resolve()))}
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "slurm", "all",
         "--configfile", "config/smoke.yaml", "gpus.yaml"],
        cwd=checkout, env=env, capture_output=True, text=True)
    t_slurm = time.time() - t0
    log = out.stdout + out.stderr
    assert out.returncode == 0, log
    assert "slurm" in log.lower() and "Job" in log
    # the compact console logger prints no resources; Snakemake's own log file keeps every job block
    (run_log,) = (checkout / ".snakemake" / "log").glob("*.snakemake.log")
    assert "gpu=1" in run_log.read_text()  # training jobs requested a GPU (submitted as --gpus=1)
    print(f"local {t_local:.1f} s, SLURM {t_slurm:.1f} s")
    tables = sorted((local / "results").glob("*.csv"))
    assert len(tables) >= 9
    for csv in tables:  # wall-clock columns (scoring time) differ between any two runs
        a, b = (pd.read_csv(d / "results" / csv.name) for d in (local, checkout))
        untimed = [c for c in a.columns if "time" not in c]
        assert list(a.columns) == list(b.columns)
        pd.testing.assert_frame_equal(a[untimed], b[untimed])
