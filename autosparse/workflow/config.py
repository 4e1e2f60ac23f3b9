"""The workflow's config: loading a profile, its named collections, typed ``--config`` values and
the checks the schema cannot make.

A profile is ``config/config.yaml`` with the ``--configfile`` overlays merged key by key
(Snakemake's ``update_config``: mappings merge, every other value is replaced whole). The named
collections (:data:`NAMED_COLLECTIONS`: Table 6 merges, Figure 6 variants and baselines) are lists
of ``{name: ..., ...}`` entries in the config files, so that a profile's list replaces the
default's; :func:`index_collections` then turns each into the mapping ``name -> entry`` the
planning code and the schema read. Model, dataset and method names are checked against the names
the cost model knows (:func:`registry_names`), which tests keep equal to the package's registries.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..train_config import make_config, parse_overrides
from . import paths as wp
from .rates import METHOD_COSTS
from .shapes import DATASETS, MODELS

REPO_ROOT = Path(__file__).resolve().parents[2]

# (experiment, key, value key): a collection of named entries. In the config files each is a list
# of {name, ...} (an overlay's list replaces the default's whole, as Snakemake merges lists) or,
# as before, a mapping name -> entry; ``value key`` names the entry's one field when the mapping's
# value is that field alone (a Table 6 merge: name -> its IRP runs).
NAMED_COLLECTIONS = (("table6", "merges", "runs"), ("fig6", "variants", None),
                     ("fig6", "baselines", None))


class WorkflowConfigError(ValueError):
    """A config value the DAG cannot run with; the message names the key."""


# -- loading ----------------------------------------------------------------------------------

def index_collections(config: dict) -> None:
    """Turn each named collection given as a list of ``{name, ...}`` into the mapping ``name ->
    entry`` (a Table 6 merge: ``name -> runs``), in place and in order; mappings stay as they
    are. An experiment a profile sets to null is left out (cpu.yaml: ``beyond: null``;
    config/cpu-beyond.yaml adds it back). Raises :class:`WorkflowConfigError` naming the key of
    an entry without a unique name."""
    ex = config.get("experiments") or {}
    for name in [n for n, v in ex.items() if v is None]:
        del ex[name]
    for exp, key, field in NAMED_COLLECTIONS:
        items = (ex.get(exp) or {}).get(key)
        if not isinstance(items, list):
            continue
        out: dict = {}
        for i, item in enumerate(items):
            where = f"config key experiments.{exp}.{key}[{i}]"
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                raise WorkflowConfigError(f"{where}: each entry needs a name, got {item!r}")
            if item["name"] in out:
                raise WorkflowConfigError(f"{where}: name {item['name']!r} is given twice")
            rest = {k: v for k, v in item.items() if k != "name"}
            if field is not None:
                if set(rest) != {field}:
                    raise WorkflowConfigError(f"{where}: expected {{name, {field}}}, got "
                                              f"{sorted(item)}")
                rest = rest[field]
            out[item["name"]] = copy.deepcopy(rest)
        ex[exp][key] = out


def merge_overlays(config: dict, overlays: Iterable[Mapping]) -> dict:
    """``config`` with each overlay merged in as Snakemake merges ``--configfile`` files (in
    place), then its named collections indexed (:func:`index_collections`)."""
    from snakemake.utils import update_config

    for overlay in overlays:
        update_config(config, overlay or {})
    index_collections(config)
    return config


def load_config(configfiles: Iterable[str | Path] = (), repo_root: str | Path = REPO_ROOT,
                check: bool = True) -> dict:
    """The config Snakemake runs with: config/config.yaml, the overlays merged key by key
    (:func:`merge_overlays`), the schema's defaults, and (``check``) :func:`check_config`."""
    import yaml
    from snakemake.utils import validate

    root = Path(repo_root)
    cfg = yaml.safe_load((root / "config" / "config.yaml").read_text())
    overlays = []
    for f in configfiles:
        if not Path(f).is_file():
            raise FileNotFoundError(f"--configfile {str(f)!r}: no such file")
        overlays.append(yaml.safe_load(Path(f).read_text()) or {})
    merge_overlays(cfg, overlays)
    validate(cfg, str(root / "config" / "schema.yaml"))
    if check:
        check_config(cfg, root)
    return cfg


def typed_overrides(config: dict, overrides: Mapping) -> None:
    """Re-read ``--config`` values with ``yaml.safe_load``: Snakemake parses lists and mappings
    given on the command line with YAML's BaseLoader, so ``--config seeds='[0,1,2]'`` would
    arrive as strings and fail the schema."""
    import yaml

    def typed(v):
        if isinstance(v, str):
            try:
                return yaml.safe_load(v)
            except yaml.YAMLError:
                return v
        if isinstance(v, list):
            return [typed(x) for x in v]
        if isinstance(v, Mapping):
            return {k: typed(x) for k, x in v.items()}
        return v

    for k, v in overrides.items():
        if isinstance(v, Mapping) and isinstance(config.get(k), dict):
            typed_overrides(config[k], v)
        else:
            config[k] = typed(v)


def data_root(config: Mapping, repo_root: str | Path = ".") -> Path:
    """The data folder as an absolute path: ``$AUTOSPARSE_DATA`` when set (it wins, as for the
    library), else ``data_root`` (relative values are relative to the repository)."""
    root = Path(os.environ.get("AUTOSPARSE_DATA") or config["data_root"]).expanduser()
    return (root if root.is_absolute() else Path(repo_root) / root).resolve()


# -- checks -----------------------------------------------------------------------------------

def registry_names() -> dict[str, list[str]]:
    """Names of the models, datasets and methods the DAG can plan: those with a layer plan, a
    dataset size and a method cost (:mod:`.shapes`, :mod:`.rates`). Torch-free; the tests keep
    them equal to ``autosparse.list_models()``, ``list_datasets()`` and ``list_methods()``."""
    return {"models": sorted(MODELS), "datasets": sorted(DATASETS),
            "methods": sorted(METHOD_COSTS)}


def _walk(obj, key: str = "") -> Iterable[tuple[str, object]]:
    yield key, obj
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from _walk(v, f"{key}.{k}" if key else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{key}[{i}]")


def _check_names(config: Mapping, models: set, datasets: set, methods: set) -> None:
    """Every sparsity in (0, 1) and every model, dataset, method and criterion name known,
    wherever its key stands in the config (datasets of ``per_class_cap``: :func:`check_config`)."""
    def valid(names: set) -> str:
        return ", ".join(sorted(names))

    for key, v in _walk(config):
        leaf = key.rsplit(".", 1)[-1].split("[")[0]
        bad = None
        if leaf in ("sparsities", "sparsity") and not isinstance(v, list):
            if not (isinstance(v, (int, float)) and 0 < v < 1):
                bad = f"sparsity must lie in (0, 1), got {v!r}"
        elif leaf == "model" and v not in models:
            bad = f"unknown model {v!r}; valid: {valid(models)}"
        elif leaf == "dataset" and v not in datasets:
            bad = f"unknown dataset {v!r}; valid: {valid(datasets)}"
        elif (leaf in ("methods", "criteria", "criterion", "references", "learned", "transfer")
              and not isinstance(v, list)):
            name = str(v).split(wp.SEP)[0]
            if name not in methods:
                bad = f"unknown method {name!r}; valid: {valid(methods)}"
        elif leaf == "method" and v not in methods:
            bad = f"unknown method {v!r}; valid: {valid(methods)}"
        if bad:
            raise WorkflowConfigError(f"config key {key}: {bad}")
    prune = config.get("prune", {})
    for key, names in (("score_once", prune.get("score_once", [])),
                       ("rounds", list(prune.get("rounds", {})))):
        for name in names:
            if name not in methods:
                raise WorkflowConfigError(f"config key prune.{key}: unknown method {name!r}; "
                                          f"valid: {valid(methods)}")
    for key, names in (("widths", config.get("widths", {})),
                       *((f"{stage}.set_per_model", config.get(stage, {}).get("set_per_model", {}))
                         for stage in ("train", "irp"))):
        for name in names:
            if name not in models:
                raise WorkflowConfigError(f"config key {key}.{name}: unknown model {name!r}")


def check_config(config: Mapping, repo_root: str | Path = ".") -> None:
    """Reject values the schema cannot see: sparsities outside (0, 1), unknown models, datasets,
    methods and criteria (:func:`registry_names`), training overrides the jobs would refuse, a
    missing or empty data root. Raises :class:`WorkflowConfigError` naming the key."""
    reg = registry_names()
    models, datasets, methods = set(reg["models"]), set(reg["datasets"]), set(reg["methods"])
    root = data_root(config, repo_root)
    src = "$AUTOSPARSE_DATA" if os.environ.get("AUTOSPARSE_DATA") else "data_root"
    if not root.is_dir():
        raise WorkflowConfigError(f"{src}: folder {str(root)!r} does not exist")
    if not any(root.iterdir()):
        raise WorkflowConfigError(f"{src}: folder {str(root)!r} is empty (it should hold the "
                                  "datasets, e.g. mnist.npz: see README, 'Data')")
    _check_names(config, models, datasets, methods)
    for stage in ("train", "irp"):  # training overrides, validated as the jobs will (a device too)
        c = config.get(stage, {})
        for key, items in (("set", c.get("set", [])),
                           *((f"set_per_model.{m}", v) for m, v in
                             (c.get("set_per_model") or {}).items())):
            try:
                make_config(parse_overrides(items))
            except (ValueError, TypeError) as e:
                raise WorkflowConfigError(f"config key {stage}.{key}: {e}") from None
        for name in c.get("per_class_cap", {}):
            if name not in datasets:
                raise WorkflowConfigError(
                    f"config key {stage}.per_class_cap.{name}: unknown dataset {name!r}; "
                    f"valid: {', '.join(sorted(datasets))}")
