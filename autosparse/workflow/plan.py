"""Cost plan of a DAG run, before it starts: ``python -m autosparse plan --configfile ... --target``.

For a profile (config/config.yaml and the ``--configfile`` overlays, merged as Snakemake merges
them: :func:`autosparse.workflow.config.load_config`) and a target, the plan lists:

- the jobs per rule: the DAG planned exactly as the rules plan it (:mod:`.jobs`; the job counts
  equal Snakemake's dry run, tests/test_plan.py);
- the compute per job: FLOPs of the conv / linear layers counted from the layer shapes
  (:mod:`.shapes`, no torch: it equals a forward-hook count on the registry models, tested),
  forward + backward = 3 x forward per training image, and a device throughput
  (:data:`.rates.DEVICES`, calibrated on benchmarks/RESULTS.md), or per-rule factors fitted on the
  Snakemake benchmark records of an earlier run (``results/benchmarks/<rule>/**.tsv``);
- the wall time on N devices: jobs are independent within a DAG level, so at least
  ``max(total / N, critical path)`` (the longest chain: IRP -> survival -> scorer -> score ->
  prune -> retrain -> table -> claims);
- the disk the artifacts take, from their real storage formats (:mod:`.rates`; compression
  measured, benchmarks/RESULTS.md);
- each job's SLURM request: :func:`.costs.job_resources`, which the rules' ``runtime`` and
  ``mem_mb`` resources call (the same model times a safety factor, capped by the profile's
  ``<stage>.runtime`` / ``<stage>.mem_mb``).

Torch-free, like the whole :mod:`autosparse.workflow` package.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path

from .config import load_config
from .costs import MEM_SAFETY, RUNTIME_SAFETY, calibrate, estimate, job_resources
from .jobs import RULES, check_target, critical_path, plan_jobs, skip_done
from .rates import DEVICES, plan_device


def make_plan(config: Mapping, target: str = "all", device: str | None = None, gpus: int = 1,
              records: str | Path | None = None, records_config: Mapping | None = None,
              done_root: str | Path | None = None) -> dict:
    """The cost plan as a dict (what ``plan --json`` prints)."""
    device = plan_device(config, device)
    if gpus < 1:
        raise ValueError(f"--gpus must be >= 1, got {gpus!r}")
    jobs = plan_jobs(config, target)
    if done_root is not None:
        jobs = skip_done(jobs, done_root)
    factors = {}
    if records is not None and Path(records).is_dir():
        factors = calibrate(records, records_config or config, device)
    per_job, secs = [], {}
    rules: dict[str, dict] = {}
    for k, j in jobs.items():
        e = estimate(config, j.rule, j.wildcards, device)
        fac = factors.get(j.rule, {}).get("factor", 1.0)
        s = e.overhead + fac * (e.seconds - e.overhead)
        secs[k] = s
        res = (job_resources(config, j.rule, j.wildcards, device=device)
               if j.rule != "all" else {"runtime": 0, "mem_mb": 0})
        per_job.append({"rule": j.rule, "wildcards": j.wildcards, "seconds": s, "flops": e.flops,
                        "kind": e.kind, "threads": e.threads, "mem_mb_estimate": e.mem_mb,
                        "disk_bytes": e.disk, **res})
        a = rules.setdefault(j.rule, {"jobs": 0, "kind": e.kind, "seconds": 0.0,
                                      "device_seconds": 0.0, "flops": 0.0, "disk_bytes": 0,
                                      "job_seconds": [], "runtime": [], "mem_mb": [],
                                      "over_cap": 0})
        a["jobs"] += 1
        a["seconds"] += s
        a["device_seconds"] += s * e.threads
        a["flops"] += e.flops
        a["disk_bytes"] += e.disk
        a["job_seconds"].append(s)
        a["runtime"].append(res["runtime"])
        a["mem_mb"].append(res["mem_mb"])
        stage = RULES[j.rule].stage if j.rule in RULES else None
        if stage and s * float((config.get("plan") or {}).get("runtime_safety", RUNTIME_SAFETY)) \
                > 60 * int(config[stage].get("runtime") or 1e9) and not (
                    j.rule in ("irp", "train_dense", "retrain")
                    and config[stage].get("max_runtime")):
            a["over_cap"] += 1
    out_rules = {}
    for name, a in rules.items():
        src = (f"records x{factors[name]['factor']:.3g} ({factors[name]['records']})"
               if name in factors else f"table {device}")
        out_rules[name] = {
            "jobs": a["jobs"], "kind": a["kind"], "hours": a["device_seconds"] / 3600,
            "flops": a["flops"], "disk_bytes": a["disk_bytes"], "source": src,
            "job_seconds": [min(a["job_seconds"]), max(a["job_seconds"])],
            "runtime": [min(a["runtime"]), max(a["runtime"])],
            "mem_mb": [min(a["mem_mb"]), max(a["mem_mb"])], "over_runtime_cap": a["over_cap"]}
    kind = DEVICES[device]["kind"]
    dev_s = sum(a["device_seconds"] for a in rules.values() if a["kind"] == kind)
    cpu_s = sum(a["device_seconds"] for a in rules.values() if a["kind"] == "cpu")
    cp, chain = critical_path(jobs, secs)
    wall = max(dev_s / gpus, cp)
    warnings = [f"{n}: {a['over_runtime_cap']} job(s) estimated over the runtime cap "
                f"({RULES[n].stage}.runtime = {config[RULES[n].stage]['runtime']} min) "
                + ("with no max_runtime budget: SLURM would stop them; set "
                   f"{RULES[n].stage}.max_runtime and retries, or a larger runtime"
                   if n in ("irp", "train_dense", "retrain") else
                   "and no budget to resume from: raise the cap")
                for n, a in out_rules.items() if a["over_runtime_cap"]]
    return {
        "profile": config.get("profile"), "target": target, "device": device,
        "device_what": DEVICES[device]["what"], "device_kind": kind, "gpus": gpus,
        "jobs": len(jobs), "rules": out_rules,
        "total": {"hours": dev_s / 3600, "cpu_hours": cpu_s / 3600 if kind != "cpu" else 0.0,
                  "flops": sum(a["flops"] for a in rules.values()),
                  "disk_bytes": sum(a["disk_bytes"] for a in rules.values())},
        "wall": {"hours": wall / 3600, "total_over_n_hours": dev_s / gpus / 3600,
                 "critical_path_hours": cp / 3600,
                 "critical_path": [f"{jobs[k].rule} {jobs[k].label()} ({_dur(secs[k])})"
                                   for k in chain if jobs[k].rule != "all"]},
        "requests": {"runtime_safety": float((config.get("plan") or {}).get(
            "runtime_safety", RUNTIME_SAFETY)), "mem_safety": float((config.get("plan") or {}).get(
                "mem_safety", MEM_SAFETY)), "device": plan_device(config)},
        "records": {"dir": str(records) if records else None,
                    "rules": sorted(factors)},
        "warnings": warnings, "per_job": per_job,
    }


# -- output -----------------------------------------------------------------------------------

RULE_ORDER = ["irp", "survival", "scorer", "score", "prune", "train_dense", "retrain", "table",
              "figure", "claims", "all"]


def _dur(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"


def _bytes(b: float) -> str:
    for unit, f in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= f:
            return f"{b / f:.1f} {unit}"
    return f"{b:.0f} B"


def _span(lo, hi, fmt=str) -> str:
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)}-{fmt(hi)}"


def format_plan(p: Mapping, per_job: bool = False) -> str:
    unit = "GPU" if p["device_kind"] == "gpu" else "CPU"
    rec = p["records"]
    lines = [
        f"Cost plan: profile {p['profile']}, target {p['target']}, {p['jobs']} jobs, "
        f"device {p['device']} ({p['device_what']}), {p['gpus']} at once",
        "Throughput: " + (f"benchmark records in {rec['dir']} for {', '.join(rec['rules'])}; "
                          if rec["rules"] else "") + f"device table {p['device']} "
        "(autosparse/workflow/rates.py DEVICES, from benchmarks/RESULTS.md)",
        f"Requests: SLURM runtime = {p['requests']['runtime_safety']:g} x estimate, mem_mb = "
        f"{p['requests']['mem_safety']:g} x estimate on device {p['requests']['device']}, "
        "capped by <stage>.runtime / mem_mb",
        "",
        f"{'rule':<12} {'jobs':>5} {'on':>3} {unit + '-h' if unit else 'h':>9} {'per job':>17} "
        f"{'runtime (min)':>14} {'mem_mb':>12} {'disk':>9}",
    ]
    order = [r for r in RULE_ORDER if r in p["rules"]] + sorted(set(p["rules"]) - set(RULE_ORDER))
    for name in order:
        a = p["rules"][name]
        on = "GPU" if a["kind"] == "gpu" else "CPU"
        lines.append(
            f"{name:<12} {a['jobs']:>5} {on:>3} {a['hours']:>9.2f} "
            f"{_span(*a['job_seconds'], _dur):>17} {_span(*a['runtime']) if name != 'all' else '-':>14} "
            f"{_span(*a['mem_mb']) if name != 'all' else '-':>12} {_bytes(a['disk_bytes']):>9}")
    t, wall = p["total"], p["wall"]
    extra = f" + CPU {t['cpu_hours']:.2f} h" if p["device_kind"] == "gpu" else ""
    lines += [
        f"{'total':<12} {p['jobs']:>5} {unit:>3} {t['hours']:>9.2f}{extra}, "
        f"{t['flops']:.3g} FLOP, disk {_bytes(t['disk_bytes'])}",
        "",
        f"Wall time on {p['gpus']} {unit}{'s' if p['gpus'] > 1 else ''}: >= {_dur(wall['hours'] * 3600)}"
        f" = max({unit}-hours / {p['gpus']} = {_dur(wall['total_over_n_hours'] * 3600)}, "
        f"critical path {_dur(wall['critical_path_hours'] * 3600)})",
        "Critical path:" + "".join(f"\n  {'-> ' if i else ''}{step}"
                                   for i, step in enumerate(wall["critical_path"])),
    ]
    if p["warnings"]:
        lines += ["", "Warnings:", *(f"  {w}" for w in p["warnings"])]
    if per_job:
        lines += ["", f"{'rule':<12} {'estimate':>10} {'runtime':>8} {'mem_mb':>7}  wildcards"]
        for j in sorted(p["per_job"], key=lambda j: (RULE_ORDER.index(j["rule"])
                                                      if j["rule"] in RULE_ORDER else 99,
                                                      sorted(j["wildcards"].items()))):
            wcs = " ".join(f"{k}={v}" for k, v in j["wildcards"].items())
            lines.append(f"{j['rule']:<12} {_dur(j['seconds']):>10} {j['runtime']:>8} "
                         f"{j['mem_mb']:>7}  {wcs}")
    return "\n".join(lines)


# -- CLI --------------------------------------------------------------------------------------

def _cmd_plan(args: argparse.Namespace) -> int:
    config = load_config(args.configfile or [])
    check_target(config, args.target)  # before any work
    device = plan_device(config, args.device)
    records = None if args.benchmarks == "none" else args.benchmarks
    records_config = (load_config(args.benchmarks_configfile, check=False)
                      if args.benchmarks_configfile else None)
    p = make_plan(config, args.target, device, args.gpus, records, records_config,
                  "." if args.skip_done else None)
    if not args.per_job:
        p = {k: v for k, v in p.items() if k != "per_job"}
    print(json.dumps(p, indent=1) if args.json else format_plan(p, args.per_job))
    return 0


def register_cli(sub) -> None:
    p = sub.add_parser(
        "plan", help="cost plan before a run: jobs, GPU-hours, wall time, disk, SLURM requests",
        description="Print the cost plan of a Snakemake target for a profile: jobs per rule, "
                    "estimated compute (from FLOPs and a calibrated device throughput), wall time "
                    "on N devices, the disk the artifacts take, and each job's SLURM runtime and "
                    "mem_mb request (the rules' own). Nothing is run.")
    overlays = dict(nargs="+", action="extend", metavar="FILE")
    p.add_argument("--configfile", **overlays,
                   help="profile overlays on config/config.yaml, as snakemake --configfile "
                        "(e.g. config/paper.yaml); none: the quick profile")
    p.add_argument("--target", default="all",
                   help="what to plan: all, claims, or an output path such as "
                        "results/table4.csv or results/figures/fig3.png (default: %(default)s)")
    p.add_argument("--gpus", type=int, default=1, metavar="N",
                   help="devices running jobs at once, for the wall time (GPUs; with --device "
                        "cpu: cores) (default: %(default)s)")
    p.add_argument("--device", choices=sorted(DEVICES), default=None,
                   help="device whose calibrated throughput the plan uses: "
                        + ", ".join(f"{k} ({v['what']})" for k, v in sorted(DEVICES.items()))
                        + " (default: the profile's plan.device, else h100 when gpus_per_job "
                          "is 1, else cpu)")
    p.add_argument("--benchmarks", default="results/benchmarks", metavar="DIR",
                   help="Snakemake benchmark records of an earlier run: rules with records get "
                        "their compute time scaled by the measured / modelled ratio; none: the "
                        "device table only (default: %(default)s, when it exists)")
    p.add_argument("--benchmarks-configfile", **overlays,
                   help="overlays of the run that wrote the records (default: the planned ones)")
    p.add_argument("--skip-done", action="store_true",
                   help="leave out jobs whose outputs exist in results/ (and whose inputs are "
                        "not rebuilt); default: plan from empty")
    p.add_argument("--per-job", action="store_true",
                   help="also list every job: estimate, runtime and mem_mb request, wildcards")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=_cmd_plan)
