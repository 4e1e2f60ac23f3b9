"""Every command in the README's ``bash`` blocks, and every complete ``snakemake`` / ``make``
command quoted inline in its text, runs as written: Snakemake commands as dry runs (``-n`` added,
nothing else changed, so a wrong argument order or a broken override fails here; ``--report``
builds the report of an empty scratch directory),
``make`` targets as ``make -n``, pytest marker runs as ``--collect-only``, and the cost plan
(``python -m autosparse plan ...``: it runs nothing) as it is."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)
# Commands a dry run cannot show, with the reason (they are covered elsewhere).
NOT_DRY = {"--profile slurm": "submits to SLURM (tests/test_slurm.py, marker slurm)"}


def readme_commands(text: str) -> list[str]:
    """The shell commands of the README's ``bash`` blocks (continuation lines joined, trailing
    comments dropped), then the complete ``snakemake`` / ``make`` commands of its inline code
    (not elisions such as ``...`` or ``<cmd>``; of a pipe, its first command); ``a && b`` is two
    commands. Each once, in order."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        lines += [ln.split(" #", 1)[0].strip() for ln in joined.splitlines()]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`\n]+)`", prose):
        first = span.split(" | ", 1)[0].strip()
        if re.match(r"(snakemake|make) ", first) and not re.search(r"\.\.\.|[<>]", first):
            lines.append(first)
    cmds = [c.strip() for ln in lines if ln and not ln.startswith("#") for c in ln.split(" && ")]
    return list(dict.fromkeys(cmds))


COMMANDS = readme_commands((REPO / "README.md").read_text())


def test_readme_has_the_commands_users_type():
    assert "make run" in COMMANDS and "make test" in COMMANDS
    assert any("config/cpu.yaml" in c for c in COMMANDS)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_readme_command_runs_as_written(cmd, tmp_path):
    argv = shlex.split(cmd)
    skip = next((why for flag, why in NOT_DRY.items() if flag in cmd), None)
    if skip:
        pytest.skip(skip)
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    report = "--report" in argv
    if argv[0] == "snakemake":
        # as written, plus -n (and a scratch working directory for Snakemake's own metadata);
        # --report builds the report of that empty directory (it is written there)
        dry = [] if report else ["-n", "--quiet", "rules"]
        run = [sys.executable, "-m", "snakemake", *dry, "-d", str(tmp_path), *argv[1:]]
        # --configfile paths are relative to the repository, where users type them
        run = [str(REPO / a) if a.startswith("config/") else a for a in run]
    elif argv[0] == "make":
        run = ["make", "-n", *argv[1:]]
    elif argv[:4] == ["python", "-m", "autosparse", "plan"]:
        run = [sys.executable, *argv[1:]]
    elif argv[0].endswith("pytest"):
        run = [sys.executable, "-m", "pytest", "--collect-only", "-q", *argv[1:]]
    else:
        pytest.fail(f"README command of an unknown kind: {cmd!r}")
    out = subprocess.run(run, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    if report:
        assert (tmp_path / argv[argv.index("--report") + 1]).is_file(), cmd
