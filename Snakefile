# AutoSparse: one DAG for every table and figure of the AutoS paper (DESIGN.md).
#   snakemake --cores 8 results/table4.csv             quick profile (config/config.yaml)
#   snakemake --cores 8 all --configfile config/paper.yaml
#   snakemake --profile slurm all                       SLURM (slurm/config.yaml)
# Logic lives in the package: autosparse/workflow_paths.py (names, paths) and
# autosparse/workflow_config.py (config checks, what each target needs).
import importlib.util
import json
import os
import shlex
import sys
from pathlib import Path

import yaml
from snakemake.utils import min_version, validate

min_version("9.0")
sys.path.insert(0, workflow.basedir)


# Load autosparse/workflow_{paths,config}.py and plan.py by path: planning the DAG must not import
# torch (a no-op run stays ~1 s CPU); the package is imported only when the registry-name cache
# is stale.
for _name in ("workflow_paths", "workflow_config", "plan"):
    _spec = importlib.util.spec_from_file_location(
        f"autosparse_{_name}", f"{workflow.basedir}/autosparse/{_name}.py")
    sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_spec.name])
wp = sys.modules["autosparse_workflow_paths"]
wc = sys.modules["autosparse_workflow_config"]
plan = sys.modules["autosparse_plan"]


configfile: f"{workflow.basedir}/config/config.yaml"


# Profiles replace the Table 6 merges / Figure 6 variants they name (see workflow_config.py).
wc.replace_named_collections(
    config, [yaml.safe_load(Path(f).read_text()) for f in workflow.overwrite_configfiles])


# `--config seeds='[0,1,2]'`: Snakemake hands lists over as strings; read them as YAML.
wc.typed_overrides(config, workflow.config_settings.config or {})
validate(config, f"{workflow.basedir}/config/schema.yaml")
wc.check_config(config, workflow.basedir, cache=f"{workflow.basedir}/.snakemake/autosparse-registries.json")

resource_scopes:
    gpu="local",


wildcard_constraints:
    **wp.WILDCARDS,


# The data root reaches every job through $AUTOSPARSE_DATA (read by autosparse.data), not as a
# rule parameter: moving the data must not make every artifact out of date.
os.environ["AUTOSPARSE_DATA"] = str(wc.data_root(config, workflow.basedir))
# ... and the jobs' CPU thread count through $AUTOSPARSE_THREADS (see THREADS below).
os.environ["AUTOSPARSE_THREADS"] = str(config["train"]["threads"])


envvars:
    "AUTOSPARSE_DATA",
    "AUTOSPARSE_THREADS",


GPU = config.get("gpus_per_job", 0)
# Threads. Every job computes with train.threads CPU threads (AUTOSPARSE_THREADS: the CLI sets
# OMP_NUM_THREADS from it before torch loads, where Snakemake exports the rule's `threads`), so a
# job's numerics never depend on --cores. A rule's `threads` is only its claim on --cores:
# train.threads, except when run locally with more --cores than the machine has CPUs
# (`snakemake --cores 8` on 2 cores ran 8 jobs on 2 CPUs, the smoke DAG 23 % slower:
# benchmarks/RESULTS.md); then each job claims cores / CPUs times as much, so that no more jobs
# than CPUs run at once and the same command is fast on 2 cores and on 64.
THREADS = config["train"]["threads"]


def _claim(threads: int) -> int:
    try:
        cores = workflow.cores if workflow.local_exec else None
    except Exception:  # no --cores given (a dry run, --report): nothing is scheduled
        cores = None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if not cores or not cpus or cores <= cpus:
        return threads
    return max(threads, threads * cores // cpus)


JOB_THREADS = _claim(THREADS)
# Prefix of training commands: one local device per job (see autosparse/devices.py).
_gpus = ",".join(map(str, config.get("local_gpus", [])))
RUN = f"python -m autosparse.devices --gpus {shlex.quote(_gpus)} -- " if _gpus else ""


# Each job's SLURM runtime (minutes) and mem_mb: the cost model of `python -m autosparse plan`
# (autosparse/plan.py job_resources: estimate x safety factor, x attempt on a retry, capped by
# the config's <stage>.runtime / <stage>.mem_mb).
def planned(rule, key):
    return lambda wildcards, attempt: plan.job_resources(config, rule, wildcards, attempt)[key]


report: "workflow/report/workflow.rst"


include: "workflow/rules/irp.smk"
include: "workflow/rules/survival.smk"
include: "workflow/rules/scorer.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/retrain.smk"
include: "workflow/rules/report.smk"


localrules: all


# `snakemake --report`: Snakemake refuses a report whose DAG holds a report-flagged file not made
# yet (after `make run`, every figure); the default target then covers the targets that exist.
REPORTING = any(a == "--report" or a.startswith("--report=") for a in sys.argv)


rule all:
    input:
        [t for t in wc.all_targets(config) if not REPORTING or Path(t).exists()],
    default_target: True
