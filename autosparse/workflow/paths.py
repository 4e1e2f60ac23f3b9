"""Artifact names and paths of the Snakemake DAG: the ONE place that builds and parses them.

Every path carries the experiment's identity; the Snakefile, the table and the figure code all go
through these functions, so a path is never assembled by string concatenation elsewhere.

    results/irp/<irp>.zarr                      irp = <model>-<dataset>-<criterion>-n<N>-s<seed>[-t<train seed>]
    results/survival/<survival>/                survival = an irp name, or a configured merge name
    results/scorers/<scorer>.pt                 scorer = <survival>.<arch>.<inputs>.b<batch>.lr<lr>
    results/masks/<target>/<variant>/s<sparsity>/seed<k>.zarr
    results/metrics/<target>/<variant>/s<sparsity>/seed<k>.json  (dense: .../dense/seed<k>.json)

``target`` = ``<model>-<dataset>-w<width>``; ``variant`` = a method plus optional parts joined by
``__``: ``autos__sc-<scorer>`` (AutoS with that scorer), ``snip__abl-shuffle`` (Frankle et al.
ablation), ``snip__T100`` (PX rounds), ``lottery__irp-<irp>`` (LTH / SNIP-iter masks read from an IRP
store of the target), ``lottery__own-<criterion>`` (the ticket of the target's own IRP run with the
job's seed: a ticket belongs to its own theta_0) and ``magnitude_after_training__own-dense`` (the
target's dense retraining of the job's seed: ``results/weights/<target>/dense/seed<k>.pt``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

RESULTS = "results"
SEP = "__"

# Wildcard constraints used by the rules (also checked by the parsers below).
WILDCARDS = {
    "model": r"[a-z][a-z0-9_]*[a-z0-9]",
    "dataset": r"[a-z][a-z0-9]*",
    "criterion": r"[a-z][a-z0-9_]*",
    "iterations": r"\d+",
    "seed": r"\d+",
    "sparsity": r"0\.\d+",
    "target": r"[a-z][a-z0-9_]*-[a-z0-9]+-w[0-9.]+",
    "variant": r"[a-z][a-z0-9_]*(__[A-Za-z0-9_.+-]+)*",
    "irp": r"[a-z][a-z0-9_]*-[a-z0-9]+-[a-z0-9_]+-n\d+-s\d+(-t\d+)?",
    "survival": r"[A-Za-z0-9][A-Za-z0-9_+-]*",
    "scorer": r"[A-Za-z0-9][A-Za-z0-9_+-]*\.[a-z0-9]+\.[a-z+]+\.b\d+\.lr[0-9.e-]+(\.rank)?(\.ctx)?",
    "table": r"table\d+|px_table2|beyond",
    "figure": r"[a-z0-9_]+",
}


def fmt_num(x: float) -> str:
    """Shortest exact decimal of a float for paths: 0.9 -> '0.9', 1.0 -> '1', 1e-3 -> '0.001'."""
    s = repr(float(x))
    if "e" in s:
        s = f"{float(x):.12f}".rstrip("0")
    return s[:-2] if s.endswith(".0") else s


# -- identities -------------------------------------------------------------------------------

def _fields(pattern: str, name: str, what: str) -> dict:
    """The named groups of ``pattern`` matching all of ``name``; else ValueError ``what``."""
    m = re.fullmatch(pattern, name)
    if not m:
        raise ValueError(what.format(name=name))
    return m.groupdict()


def irp_name(model: str, dataset: str, criterion: str, iterations: int, seed: int,
             train_seed: int | None = None) -> str:
    """IRP run name; ``train_seed`` (data order) only when it differs from the init ``seed``."""
    ts = "" if train_seed is None or int(train_seed) == int(seed) else f"-t{int(train_seed)}"
    return f"{model}-{dataset}-{criterion}-n{int(iterations)}-s{int(seed)}{ts}"


def parse_irp(name: str) -> dict:
    d = _fields(r"(?P<model>[a-z0-9_]+)-(?P<dataset>[a-z0-9]+)-(?P<criterion>[a-z0-9_]+)"
                r"-n(?P<iterations>\d+)-s(?P<seed>\d+)(-t(?P<train_seed>\d+))?", name,
                "not an IRP run name: {name!r} (expected model-dataset-criterion-nN-sK)")
    return {**d, "iterations": int(d["iterations"]), "seed": int(d["seed"]),
            "train_seed": int(d["train_seed"]) if d["train_seed"] else None}


def scorer_name(survival: str, arch: str, inputs: str, batch_size: int, lr: float,
                loss: str = "mse", context: bool = False) -> str:
    """``survival.arch.inputs.bB.lrLR``, then ``.rank`` for the ranking loss and ``.ctx`` for
    layer-context features (beyond the paper; the paper's scorers have neither)."""
    if loss not in ("mse", "rank"):
        raise ValueError(f"scorer loss must be mse or rank, got {loss!r}")
    return (f"{survival}.{arch}.{inputs}.b{int(batch_size)}.lr{fmt_num(lr)}"
            + (".rank" if loss == "rank" else "") + (".ctx" if context else ""))


def parse_scorer(name: str) -> dict:
    d = _fields(r"(?P<survival>[^.]+)\.(?P<arch>[a-z0-9]+)\.(?P<inputs>[a-z+]+)"
                r"\.b(?P<batch_size>\d+)\.lr(?P<lr>[0-9.e-]+?)(?P<rank>\.rank)?(?P<ctx>\.ctx)?",
                name, "not a scorer name: {name!r}")
    return {**{k: v for k, v in d.items() if k not in ("rank", "ctx")},
            "batch_size": int(d["batch_size"]), "lr": float(d["lr"]),
            "loss": "rank" if d["rank"] else "mse", "context": bool(d["ctx"])}


def target_name(model: str, dataset: str, width: float) -> str:
    return f"{model}-{dataset}-w{fmt_num(width)}"


def parse_target(name: str) -> dict:
    d = _fields(r"(?P<model>[a-z0-9_]+)-(?P<dataset>[a-z0-9]+)-w(?P<width>[0-9.]+)", name,
                "not a target name: {name!r} (expected model-dataset-wWIDTH)")
    return {**d, "width": float(d["width"])}


@dataclass(frozen=True)
class Variant:
    """A pruning method as run by the DAG: method, optional AutoS scorer, ablation, PX rounds."""

    method: str
    scorer: str | None = None
    ablation: str | None = None
    rounds: int | None = None
    irp: str | None = None
    own: str | None = None

    @property
    def slug(self) -> str:
        parts = [self.method]
        if self.scorer:
            if SEP in self.scorer:
                raise ValueError(f"scorer name may not contain {SEP!r}: {self.scorer!r}")
            parts.append(f"sc-{self.scorer}")
        if self.ablation:
            parts.append(f"abl-{self.ablation}")
        if self.rounds is not None:
            parts.append(f"T{int(self.rounds)}")
        if self.irp:
            parts.append(f"irp-{self.irp}")
        if self.own:
            parts.append(f"own-{self.own}")
        return SEP.join(parts)

    @classmethod
    def parse(cls, slug: str) -> Variant:
        method, *rest = slug.split(SEP)
        kw: dict = {}
        for part in rest:
            if part.startswith("sc-"):
                kw["scorer"] = part[3:]
            elif part.startswith("abl-"):
                kw["ablation"] = part[4:]
            elif part.startswith("irp-"):
                kw["irp"] = part[4:]
            elif part.startswith("own-"):
                kw["own"] = part[4:]
            elif re.fullmatch(r"T\d+", part):
                kw["rounds"] = int(part[1:])
            else:
                raise ValueError(f"unknown part {part!r} in method variant {slug!r}")
        return cls(method, **kw)


# -- paths ------------------------------------------------------------------------------------

def irp_path(name: str) -> str:
    return f"{RESULTS}/irp/{name}.zarr"


def survival_path(name: str) -> str:
    return f"{RESULTS}/survival/{name}"


def scorer_path(name: str) -> str:
    return f"{RESULTS}/scorers/{name}.pt"


def scores_path(target: str, variant: str, seed: int | str) -> str:
    """Score store of a single-shot method variant (ablations share their method's scores)."""
    return f"{RESULTS}/scores/{target}/{variant}/seed{int(seed)}.zarr"


def mask_path(target: str, variant: str, sparsity: float | str, seed: int) -> str:
    s = sparsity if isinstance(sparsity, str) else fmt_num(sparsity)
    return f"{RESULTS}/masks/{target}/{variant}/s{s}/seed{int(seed)}.zarr"


def weights_path(target: str, seed: int | str) -> str:
    """Trained prunable weights of the target's dense retraining (``magnitude_after_training``)."""
    return f"{RESULTS}/weights/{target}/dense/seed{int(seed)}.pt"


def metrics_path(target: str, variant: str, sparsity: float | str | None, seed: int) -> str:
    """Metrics JSON of one training job; ``variant="dense"`` (sparsity ignored) is the dense run."""
    if variant == "dense":
        return f"{RESULTS}/metrics/{target}/dense/seed{int(seed)}.json"
    return mask_path(target, variant, sparsity, seed).replace("/masks/", "/metrics/", 1)[:-5] + ".json"


def parse_metrics_path(path: str) -> dict:
    """Inverse of :func:`metrics_path`: target fields, variant fields, sparsity, seed."""
    parts = PurePosixPath(str(path).replace("\\", "/")).parts
    i = len(parts) - 1 - parts[::-1].index("metrics")
    rest = parts[i + 1:]
    seed = int(re.fullmatch(r"seed(\d+)\.json", rest[-1])[1])
    out = {"target": rest[0], **parse_target(rest[0]), "seed": seed}
    if rest[1] == "dense":
        v = Variant("dense")
        out["sparsity"] = 0.0
    else:
        v = Variant.parse(rest[1])
        out["sparsity"] = float(rest[2][1:])
    out.update(variant=v.slug, method=v.method, scorer=v.scorer, ablation=v.ablation,
               rounds=v.rounds, irp=v.irp, own=v.own)
    return out


def log_path(rule: str, wildcards: str) -> str:
    return f"{RESULTS}/logs/{rule}/{wildcards}.log"


def benchmark_path(rule: str, wildcards: str) -> str:
    return f"{RESULTS}/benchmarks/{rule}/{wildcards}.tsv"
