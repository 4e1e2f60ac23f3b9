"""Snakemake's own CPU on a long DAG: its default job-rate limit against the workflow profile's.

    python benchmarks/bench_scheduler.py [--jobs 400] [--sleep 0.3]

Why: with a job-rate limit (Snakemake 9's default ``--max-jobs-per-timespan 100/1s``) every pass
of the scheduling loop starts a ``threading.Timer`` of one timespan that wakes the loop again,
which starts the next timer. Each finished job adds such a chain and none ends, so the loop wakes
(number of finished jobs / timespan) times a second: on the cpu profile's 584-job DAG the
Snakemake process had 210 timer threads, 286 000 threads started and 22 % of a core after 50 min,
growing. ``workflow/profiles/default/config.yaml`` sets ``max-jobs-per-timespan: 500/5s``: five
times fewer wake-ups, no limit a local run or a SLURM queue reaches, and at most 5 s for the last
timer at exit.

The DAG: ``--jobs`` independent ``sleep`` jobs (no CPU of their own), ``--cores 2``, run once with
Snakemake's default and once with the profile's value, in the same process. Figures: wall, and
the CPU (user + system) of Snakemake and its children, and the most threads Snakemake had at
once (about one per live timer chain).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROFILE = Path(__file__).resolve().parents[1] / "workflow" / "profiles" / "default" / "config.yaml"

SNAKEFILE = """
N = {jobs}
rule all:
    input: expand("out/{{i}}.txt", i=range(N))
rule one:
    output: "out/{{i}}.txt"
    shell: "sleep {sleep}; touch {{output}}"
"""


def run(workdir: Path, extra: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s of Snakemake and its children, most threads Snakemake had at once) of one
    run from empty; the threads are polled every 0.2 s from /proc."""
    subprocess.run(["rm", "-rf", str(workdir / "out"), str(workdir / ".snakemake")], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--quiet", "all",
                             "--workflow-profile", "none", *extra], cwd=workdir,
                            stdout=subprocess.DEVNULL)
    threads = 0
    while proc.poll() is None:
        try:
            threads = max(threads, len(os.listdir(f"/proc/{proc.pid}/task")))
        except OSError:
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"snakemake failed (exit {proc.returncode})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=400)
    ap.add_argument("--sleep", type=float, default=0.3)
    a = ap.parse_args()
    ours = yaml.safe_load(PROFILE.read_text())["max-jobs-per-timespan"]
    with tempfile.TemporaryDirectory() as tmp:
        wd = Path(tmp)
        (wd / "Snakefile").write_text(SNAKEFILE.format(jobs=a.jobs, sleep=a.sleep))
        ideal = a.jobs * a.sleep / 2
        print(f"{a.jobs} jobs of sleep {a.sleep} s on --cores 2 (ideal wall {ideal:.0f} s), "
              f"{os.cpu_count()} CPUs")
        ref = run(wd, ["--max-jobs-per-timespan", "100/1s"])
        new = run(wd, ["--max-jobs-per-timespan", ours])
        print(f"{'limit':>12} {'wall s':>8} {'CPU s':>8} {'threads':>8}")
        for name, (wall, cpu, threads) in (("100/1s", ref), (ours, new)):
            print(f"{name:>12} {wall:8.1f} {cpu:8.1f} {threads:8d}")
        print(f"ratio (profile / default): wall {new[0] / ref[0]:.2f}x, CPU {new[1] / ref[1]:.2f}x")


if __name__ == "__main__":
    main()
