"""The DAG's jobs without Snakemake: each rule's outputs and input function as
workflow/rules/*.smk declare them (:data:`RULES`), the jobs a target needs from empty
``results/`` (:func:`plan_jobs`, equal to Snakemake's dry run: tests/test_plan.py), and the
longest chain of dependent jobs (:func:`critical_path`)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import experiments
from . import paths as wp
from .stages import prune_inputs, score_inputs, survival_inputs


@dataclass(frozen=True)
class Rule:
    name: str
    outputs: tuple[str, ...]       # patterns
    benchmark: str | None
    inputs: Callable[[Mapping, Mapping], list[str]]
    gpu: bool = False              # declares gpu=GPU (a GPU job under gpus_per_job: 1)
    stage: str | None = None       # config block holding its runtime / mem_mb caps


def _table_inputs(c: Mapping, w: Mapping) -> list[str]:
    return ([p for p, _ in experiments.table_inputs(c, w["table"])]
            + experiments.table_sources(c, w["table"]))


RULES: dict[str, Rule] = {r.name: r for r in (
    Rule("irp", ("results/irp/{irp}.zarr",), "results/benchmarks/irp/{irp}.tsv",
         lambda c, w: [], gpu=True, stage="irp"),
    Rule("survival", ("results/survival/{survival}",),
         "results/benchmarks/survival/{survival}.tsv",
         lambda c, w: survival_inputs(c, w["survival"]), stage="scorer"),
    Rule("scorer", ("results/scorers/{scorer}.pt",), "results/benchmarks/scorer/{scorer}.tsv",
         lambda c, w: [wp.survival_path(wp.parse_scorer(w["scorer"])["survival"])], gpu=True,
         stage="scorer"),
    Rule("score", ("results/scores/{target}/{variant}/seed{seed}.zarr",),
         "results/benchmarks/score/{target}/{variant}/seed{seed}.tsv",
         lambda c, w: score_inputs(w["variant"], c, w["target"], w["seed"]), gpu=True,
         stage="prune"),
    Rule("prune", ("results/masks/{target}/{variant}/s{sparsity}/seed{seed}.zarr",),
         "results/benchmarks/prune/{target}/{variant}/s{sparsity}/seed{seed}.tsv",
         lambda c, w: prune_inputs(c, w["target"], w["variant"], w["seed"]), gpu=True,
         stage="prune"),
    Rule("train_dense", ("results/metrics/{target}/dense/seed{seed}.json",
                         "results/weights/{target}/dense/seed{seed}.pt"),
         "results/benchmarks/train_dense/{target}/seed{seed}.tsv", lambda c, w: [], gpu=True,
         stage="train"),
    Rule("retrain", ("results/metrics/{target}/{variant}/s{sparsity}/seed{seed}.json",),
         "results/benchmarks/retrain/{target}/{variant}/s{sparsity}/seed{seed}.tsv",
         lambda c, w: [wp.mask_path(w["target"], w["variant"], w["sparsity"], int(w["seed"]))],
         gpu=True, stage="train"),
    Rule("table", ("results/{table}.csv", "results/{table}.md", "results/{table}.html"),
         "results/benchmarks/table/{table}.tsv", _table_inputs),
    Rule("figure", tuple(f"results/figures/{{figure}}.{ext}" for ext in ("png", "pdf", "svg")),
         "results/benchmarks/figure/{figure}.tsv",
         lambda c, w: [p for p, _ in experiments.figure_inputs(c, w["figure"])]),
    Rule("claims", ("results/claims.csv", "results/claims.md", "results/claims.html"),
         "results/benchmarks/claims/claims.tsv", lambda c, w: experiments.claims_inputs(c)),
)}


def _regex(pattern: str) -> re.Pattern:
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(f"(?P<{m[1]}>{wp.WILDCARDS[m[1]]})")
        pos = m.end()
    return re.compile("".join(out) + re.escape(pattern[pos:]))


_OUTPUT_RES = [(r, _regex(p)) for r in RULES.values() for p in r.outputs]
_BENCH_RES = [(r, _regex(r.benchmark)) for r in RULES.values() if r.benchmark]


def match_benchmark(path: str) -> tuple[Rule, dict] | None:
    """(rule, wildcards) of the job whose Snakemake benchmark record ``path`` is."""
    return next(((r, m.groupdict()) for r, rx in _BENCH_RES if (m := rx.fullmatch(path))), None)


def match_output(path: str) -> tuple[Rule, dict] | None:
    """(rule, wildcards) of the job producing ``path``; None when no rule does."""
    hits = [(r, m.groupdict()) for r, rx in _OUTPUT_RES if (m := rx.fullmatch(path))]
    if len(hits) > 1 and len({r.name for r, _ in hits}) > 1:
        raise ValueError(f"{path}: produced by several rules ({', '.join(r.name for r, _ in hits)})")
    return hits[0] if hits else None


@dataclass
class Job:
    rule: str
    wildcards: dict
    outputs: list[str]
    inputs: list[str] = field(default_factory=list)
    deps: list[tuple] = field(default_factory=list)

    @property
    def key(self) -> tuple:
        return (self.rule, tuple(sorted(self.wildcards.items())))

    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.wildcards.items()) or self.rule


def _job(rule: Rule, wildcards: dict) -> Job:
    outs = [p.format(**wildcards) for p in rule.outputs]
    return Job(rule.name, dict(wildcards), outs)


def check_target(config: Mapping, target: str) -> None:
    """Raise ValueError naming ``target`` when the profile cannot build it."""
    valid = ["all", *experiments.all_targets(config)]
    if target in ("all", "claims"):
        return
    hit = match_output(target)
    why = None
    if hit is None:
        why = "no rule produces it"
    elif hit[0].name in ("table", "figure") and not experiments.is_target(
            config, hit[0].name, hit[1][hit[0].name]):
        why = f"{hit[0].name} {hit[1][hit[0].name]} is not configured under experiments"
    if why:
        raise ValueError(f"unknown target {target!r} ({why}); valid: {', '.join(valid)}, "
                         "or any output path of a rule")


def plan_jobs(config: Mapping, target: str = "all") -> dict[tuple, Job]:
    """Every job of ``target`` (``all``, ``claims`` or an output path) from empty ``results/``,
    keyed by (rule, wildcards), with its inputs and the jobs making them."""
    check_target(config, target)
    jobs: dict[tuple, Job] = {}
    by_path: dict[str, tuple] = {}

    def job_of(path: str) -> tuple:
        if path in by_path:
            return by_path[path]
        hit = match_output(path)
        if hit is None:
            raise ValueError(f"planned input {path!r} is produced by no rule")
        j = _job(*hit)
        if j.key not in jobs:
            jobs[j.key] = j
            stack.append(j)
        for p in jobs[j.key].outputs:
            by_path[p] = j.key
        return j.key

    stack: list[Job] = []
    if target == "all":
        root = Job("all", {}, [], list(experiments.all_targets(config)))
        jobs[root.key] = root
        stack.append(root)
    elif target == "claims":
        job_of("results/claims.csv")
    else:
        job_of(target)
    while stack:
        j = stack.pop()
        if j.rule != "all":
            j.inputs = list(dict.fromkeys(RULES[j.rule].inputs(config, j.wildcards)))
        j.deps = list(dict.fromkeys(job_of(p) for p in j.inputs))
    return jobs


def skip_done(jobs: dict[tuple, Job], root: str | Path = ".") -> dict[tuple, Job]:
    """The jobs left when those whose outputs all exist (and whose inputs' jobs are left out
    too) are done: Snakemake's 'missing output' rule, without its mtime and params checks."""
    needed: dict[tuple, bool] = {}

    def need(k: tuple) -> bool:
        if k not in needed:
            j = jobs[k]
            needed[k] = (j.rule == "all" or any(need(d) for d in j.deps)
                         or not all((Path(root) / o).exists() for o in j.outputs))
        return needed[k]

    return {k: j for k, j in jobs.items() if need(k)}




def critical_path(jobs: Mapping[tuple, Job], secs: Mapping[tuple, float]) -> tuple[float, list]:
    """Length and jobs of the longest chain of dependent jobs."""
    best: dict[tuple, tuple[float, tuple | None]] = {}

    def length(k: tuple) -> float:
        if k not in best:
            deps = [(length(d), d) for d in jobs[k].deps if d in jobs]
            top = max(deps, default=(0.0, None))
            best[k] = (top[0] + secs[k], top[1])
        return best[k][0]

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    if not jobs:
        return 0.0, []
    end = max(jobs, key=length)
    chain, k = [], end
    while k is not None:
        chain.append(k)
        k = best[k][1]
    return best[end][0], chain[::-1]

