"""Threads under the DAG: a job computes with ``train.threads`` whatever ``--cores`` says, and a
local run with more ``--cores`` than the machine has CPUs runs no more jobs than CPUs at once
(the Snakefile's ``JOB_THREADS``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from test_workflow import snakemake

CPUS = len(os.sched_getaffinity(0))


def _claims(tmp_path, cores: int) -> set[int]:
    out = snakemake(tmp_path, "results/table4.csv", "-n", "--cores", str(cores),
                    "--workflow-profile", "none", overlays=("config/smoke.yaml",))
    return {int(n) for n in re.findall(r"^\s*threads: (\d+)", out.stdout, re.M)} or {1}


def test_more_cores_than_cpus_claims_cores_per_cpu(tmp_path):
    assert _claims(tmp_path, CPUS) == {1}  # train.threads = 1 in the smoke profile
    assert _claims(tmp_path, 4 * CPUS) == {4}  # 4 x CPUS cores: at most CPUS jobs at once


def test_a_job_computes_with_the_configs_threads_not_the_claim():
    """Snakemake exports the claim as OMP_NUM_THREADS; the CLI sets the config's count
    (AUTOSPARSE_THREADS) before torch loads."""
    code = ("from autosparse.cli import main\n"
            "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
            "import torch\nprint(torch.get_num_threads())")
    for env, threads in (({"OMP_NUM_THREADS": "2"}, "2"),
                         ({"OMP_NUM_THREADS": "2", "AUTOSPARSE_THREADS": "1"}, "1")):
        base = {k: v for k, v in os.environ.items() if k != "AUTOSPARSE_THREADS"}
        out = subprocess.run([sys.executable, "-c", code], env={**base, **env},
                             capture_output=True, text=True, check=True)
        assert out.stdout.split()[-1] == threads, out.stdout
