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


envvars:
    "AUTOSPARSE_DATA",


GPU = config.get("gpus_per_job", 0)
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
