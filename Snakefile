# AutoSparse: one DAG for every table and figure of the AutoS paper (DESIGN.md).
#   snakemake --cores 8 results/table4.csv             quick profile (config/config.yaml)
#   snakemake --cores 8 --configfile config/paper.yaml all
#   snakemake --profile slurm all                       SLURM (slurm/config.yaml)
# Logic lives in the package: autosparse/workflow_paths.py (names, paths) and
# autosparse/workflow_config.py (config checks, what each target needs).
import importlib.util
import sys

from snakemake.utils import min_version, validate

min_version("9.0")
sys.path.insert(0, workflow.basedir)


def _load(name):
    """Load autosparse/<name>.py by path: planning the DAG must not import torch (a no-op run
    stays ~1 s); the package is imported only when the registry-name cache is stale."""
    spec = importlib.util.spec_from_file_location(
        f"autosparse_{name}", f"{workflow.basedir}/autosparse/{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


wp = _load("workflow_paths")
wc = _load("workflow_config")


configfile: f"{workflow.basedir}/config/config.yaml"


validate(config, f"{workflow.basedir}/config/schema.yaml")
wc.check_config(config, workflow.basedir, cache=".snakemake/autosparse-registries.json")

resource_scopes:
    gpu="local",


wildcard_constraints:
    **wp.WILDCARDS,


DATA = wc.data_root(config, workflow.basedir)
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


report: "workflow/report/workflow.rst"


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
