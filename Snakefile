# AutoSparse: one DAG for every table and figure of the AutoS paper (DESIGN.md).
#   snakemake --cores 8 results/table4.csv             quick profile (config/config.yaml)
#   snakemake --cores 8 --configfile config/paper.yaml all
#   snakemake --profile slurm all                       SLURM (slurm/config.yaml)
# Logic lives in the package: autosparse/workflow_paths.py (names, paths) and
# autosparse/workflow_config.py (config checks, what each target needs).
import json
import sys

from snakemake.utils import min_version, validate

min_version("9.0")
sys.path.insert(0, workflow.basedir)

from autosparse import workflow_config as wc  # noqa: E402
from autosparse import workflow_paths as wp  # noqa: E402


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")
wc.check_config(config, workflow.basedir)

resource_scopes:
    gpu="local",


wildcard_constraints:
    **wp.WILDCARDS,


DATA = config["data_root"]
GPU = config.get("gpus_per_job", 0)
# Prefix of training commands: one local device per job (see autosparse/devices.py).
RUN = ("python -m autosparse.devices --gpus " + ",".join(map(str, config["local_gpus"])) + " -- "
       if config.get("local_gpus") else "")


def sets(items):
    """`--set k=v ...` of a config list (empty when none)."""
    return "--set " + " ".join(items) if items else ""


def opt(flag, value):
    """`--flag value`, or nothing when value is None."""
    return "" if value is None else f"{flag} {value}"


include: "workflow/rules/irp.smk"
include: "workflow/rules/survival.smk"
include: "workflow/rules/scorer.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/retrain.smk"
include: "workflow/rules/report.smk"


localrules: all


rule all:
    input:
        wc.all_targets(config),
    default_target: True
