"""The compact job log (plugins/snakemake-logger-plugin-autosparse), selected by the workflow
profile: one line per finished job with progress and an ETA, errors in Snakemake's own form, and
the full job blocks back with ``--workflow-profile none``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROFILE = str(ROOT / "workflow" / "profiles" / "default")  # the workflow profile
SNAKEFILE = """
rule all:
    input: expand("out/{i}.txt", i=range(3))

rule make:
    output: "out/{i}.txt"
    shell: "sleep 0.2; echo {wildcards.i} > {output}"

rule broken:
    output: "bad.txt"
    shell: "echo failing on purpose >&2; exit 3"
"""
LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] +(\d+)/(\d+) \(\d+%\) (\S+)(?: (.*?))?  (\d+s|\d+m\d\ds) \| "
                  r"(eta ~\S+|done)$")


def snakemake(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    exe = Path(sys.executable).with_name("snakemake")
    env = {**os.environ, "PATH": f"{exe.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([str(exe), "--cores", "1", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def plugin():
    from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry

    if "autosparse" not in LoggerPluginRegistry().plugins:
        pytest.fail("logger plugin 'autosparse' not installed: run `make setup` "
                    "(pip install ./plugins/snakemake-logger-plugin-autosparse)")


def test_one_line_per_finished_job_with_progress_and_eta(tmp_path, plugin):
    out = snakemake(tmp_path, "--workflow-profile", PROFILE)
    assert out.returncode == 0, out.stderr
    lines = [m for m in map(LINE.match, out.stderr.splitlines()) if m]
    assert [(int(m[1]), int(m[2])) for m in lines] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert sorted(m[4] for m in lines[:3]) == ["i=0", "i=1", "i=2"]
    assert [m[3] for m in lines] == ["make"] * 3 + ["all"]
    assert lines[0][6].startswith("eta ~") and lines[-1][6] == "done"
    assert "rule make:" not in out.stderr and "jobid:" not in out.stderr  # no job blocks
    assert "Select jobs to execute" not in out.stderr


def test_a_failed_job_is_reported_in_full(tmp_path, plugin):
    out = snakemake(tmp_path, "--workflow-profile", PROFILE, "bad.txt")
    assert out.returncode != 0
    assert "Error in rule broken" in out.stderr and "exit 3" in out.stderr


def test_full_job_blocks_one_flag_away(tmp_path):
    out = snakemake(tmp_path, "--workflow-profile", "none")
    assert out.returncode == 0, out.stderr
    assert "rule make:" in out.stderr and not any(map(LINE.match, out.stderr.splitlines()))
