"""Where a DAG run's time went: per rule, the jobs, their summed wall time and CPU time, and the
slowest job, from the ``benchmark:`` files Snakemake wrote (``results/benchmarks/<rule>/...``).

    python benchmarks/dag_summary.py                      # results/benchmarks of this checkout
    python benchmarks/dag_summary.py /path/to/results/benchmarks --wall 7380

``--wall`` (the run's measured wall-clock seconds) adds the parallel efficiency: summed job time
over (wall x cores).
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path


def read(root: Path) -> dict[str, list[tuple[str, float, float]]]:
    """rule -> [(job, wall s, cpu s)] of every benchmark TSV under ``root``."""
    jobs: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for f in sorted(root.rglob("*.tsv")):
        with f.open() as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows:
            continue
        rule = f.relative_to(root).parts[0]
        cpu = rows[-1].get("cpu_time") or "0"
        jobs[rule].append((str(f.relative_to(root / rule).with_suffix("")),
                           float(rows[-1]["s"]), float(cpu if cpu != "NA" else 0)))
    return jobs


def fmt(s: float) -> str:
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min" if s >= 3600 else \
        f"{int(s // 60)} min {int(s % 60):02d} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", type=Path, default=Path("results/benchmarks"))
    ap.add_argument("--wall", type=float, default=None, help="the run's wall-clock seconds")
    ap.add_argument("--cores", type=int, default=2)
    a = ap.parse_args()
    jobs = read(a.root)
    if not jobs:
        raise SystemExit(f"no benchmark files under {a.root}")
    print("| rule | jobs | summed job wall | summed job CPU | mean job wall | slowest job |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    total = cpu = 0.0
    for rule, js in sorted(jobs.items(), key=lambda kv: -sum(j[1] for j in kv[1])):
        w, c = sum(j[1] for j in js), sum(j[2] for j in js)
        total, cpu = total + w, cpu + c
        slow = max(js, key=lambda j: j[1])
        print(f"| {rule} | {len(js)} | {fmt(w)} | {fmt(c)} | {w / len(js):.1f} s | "
              f"`{slow[0]}` {slow[1]:.0f} s |")
    n = sum(len(js) for js in jobs.values())
    print(f"| **total** | {n} | {fmt(total)} | {fmt(cpu)} | | |")
    if a.wall:
        print(f"\nwall {fmt(a.wall)}; summed job wall / ({a.cores} cores x wall) = "
              f"{total / (a.cores * a.wall):.2f}")


if __name__ == "__main__":
    main()
