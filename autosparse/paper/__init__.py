"""The papers' published tables: their values (``values.csv``), their layout, and the key that
puts one of our table cells beside the paper's.

``values.csv`` holds AutoS Tables 1-6, 8, 9 and PX Table 2, one value per line with the table, our
row and column keys, the paper's own labels and the unit. :data:`LAYOUT` says, per table, the
paper's caption, the network it prunes and its epochs (App. C), and the header of its row labels;
:func:`row_key` maps a tidy row of ours onto the paper's row key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .. import workflow_paths as wp

if TYPE_CHECKING:
    import pandas as pd

VALUES = Path(__file__).with_name("values.csv")


@dataclass(frozen=True)
class Layout:
    """How the paper lays a table out and what it measured it on."""

    source: str            # "AutoS Table 4"
    caption: str
    model: str             # the pruned network and its data in the paper
    dataset: str
    epochs: int            # the paper's retraining epochs of that network (App. C)
    row_header: str


LAYOUT: dict[str, Layout] = {
    "table1": Layout("AutoS Table 1", "Accuracy of different PaI methods on ResNet-18 (TinyImageNet)",
                     "resnet18", "tinyimagenet", 300, "Method"),
    "table2": Layout("AutoS Table 2", "Different inputs of AutoS to prune ResNet-18 (CIFAR-10)",
                     "resnet18", "cifar10", 160, "Input"),
    "table3": Layout("AutoS Table 3", "LTH and SNIP-iter (dataset) to train AutoS to prune "
                     "ResNet-18 (CIFAR-10)", "resnet18", "cifar10", 160, "IRP criterion"),
    "table4": Layout("AutoS Table 4", "Different datasets to train AutoS and different models to "
                     "implement AutoS to prune ResNet-18 (CIFAR-10)", "resnet18", "cifar10", 160,
                     "AutoS dataset (IRP source) / AutoS model"),
    "table5": Layout("AutoS Table 5", "Different iteration to train AutoS to prune ResNet-18 "
                     "(CIFAR-10)", "resnet18", "cifar10", 160, "Iterative times"),
    "table6": Layout("AutoS Table 6", "Merged AutoS datasets to train AutoS to prune ResNet-18 "
                     "(CIFAR-10)", "resnet18", "cifar10", 160, "Merge"),
    "table8": Layout("AutoS Table 8", "Learning rate and batch size of the AutoS scorer "
                     "(prune ResNet-18, CIFAR-10)", "resnet18", "cifar10", 160, "Batch / LR"),
    "table9": Layout("AutoS Table 9", "Concordance correlation coefficient (CCC, Eq. 5) of the "
                     "survival scores of IRP runs", "lenet_300_100", "mnist", 100, "Methods"),
    "px_table2": Layout("PX Table 2", "Accuracy and execution time (s) vs pruning rounds T, "
                        "ResNet-20 (CIFAR-10) at 98.20 % sparsity", "resnet20", "cifar10", 160,
                        "Method"),
}

# Display names (registry name -> the papers' spelling): the one place figures, tables and the
# claims ledger take human-facing names from. Tidy CSV columns keep the registry names.
METHOD_NAMES = {
    "random": "Random", "magnitude": "Magnitude", "snip": "SNIP", "grasp": "GraSP",
    "synflow": "SynFlow", "iter_snip": "IterSNIP", "px": "PX", "ntk_sap": "NTK-SAP", "npb": "NPB",
    "autos": "AutoS", "lottery": "LTH (lottery ticket)",
    "magnitude_after_training": "Magnitude after training", "dense": "Dense",
    "ticket_random": "Ticket densities + Random", "ticket_synflow": "Ticket densities + SynFlow",
    "ticket_px": "Ticket densities + PX", "ticket_autos": "Ticket densities + AutoS",
    "law_random": "Density law + Random", "law_synflow": "Density law + SynFlow",
    "law_px": "Density law + PX",
}
# Models (autosparse.models.MODELS), AutoS scorer backbones (scorer.ARCHS) and datasets
# (autosparse.data.DATASETS). Our CIFAR-10 is the offline lossy JPEG copy (README, Data).
NETWORK_NAMES = {
    "lenet_300_100": "LeNet-300-100", "resnet18": "ResNet-18", "resnet20": "ResNet-20",
    "vgg16_bn": "VGG-16 (BN)", "vgg19_bn": "VGG-19 (BN)", "vgg19": "VGG-19", "mlp": "MLP",
    "mnist": "MNIST", "cifar10": "CIFAR-10 (JPEG copy)", "cifar100": "CIFAR-100",
    "tinyimagenet": "TinyImageNet", "tinyimagenet10": "TinyImageNet-10 (first 10 classes)",
}
DISPLAY = {**METHOD_NAMES, **NETWORK_NAMES}
# the papers' own data where our copy differs (their CIFAR-10 is the original, not a JPEG copy)
PAPER_NAMES = {"cifar10": "CIFAR-10"}
# Frankle et al.'s mask ablations (Sec. 5), as the figures' legends name them
ABLATION_NAMES = {"original": "original mask", "shuffle": "shuffled per layer",
                  "reinit": "reinitialised weights", "invert": "inverted scores"}


def display(name: str, paper: bool = False) -> str:
    """The display name of a method, model, scorer backbone or dataset (else ``name``); with
    ``paper``, of the papers' own setting (:data:`PAPER_NAMES`)."""
    return (PAPER_NAMES.get(name) if paper else None) or DISPLAY.get(name, name)


def fmt(v: float | None, digits: int = 2, sign: bool = False) -> str:
    """A table number: ``—`` when missing (None / NaN), else ``digits`` decimals (signed)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def display_target(model: str, dataset: str, width: float | None = None) -> str:
    """``"ResNet-18 / CIFAR-10 (JPEG copy)"``, with the width multiplier when not 1."""
    w = "" if width in (None, 1, 1.0) else f" (width {float(width):g})"
    return f"{display(model)}{w} / {display(dataset)}"


def display_net(label: str) -> str:
    """A DAG network label ``model/dataset`` or ``model/dataset (stand-in: other)`` (the fig3
    panels, :func:`autosparse.workflow_config.figure_inputs`) in display names."""
    import re

    m = re.fullmatch(r"([\w.-]+)/([\w.-]+)(?: \(stand-in: ([\w.-]+)\))?", str(label))
    if not m:
        return display(str(label))
    out = display_target(m[1], m[2])
    return out + (f" (stand-in: {display(m[3])})" if m[3] else "")


@lru_cache(maxsize=1)
def load_values() -> pd.DataFrame:
    """``values.csv`` as a DataFrame; ``row`` and ``column`` stay strings."""
    import pandas as pd

    return pd.read_csv(VALUES, comment="#", dtype={"row": str, "column": str})


def paper_cells(table: str) -> dict[tuple[str, str], dict]:
    """``{(row, column): value row}`` of one published table."""
    df = load_values()
    return {(r["row"], r["column"]): r for r in df[df["table"] == table].to_dict("records")}


def _num(v) -> str:
    return "" if v in ("", None) else wp.fmt_num(float(v))


def row_key(table: str, r: Mapping) -> str:
    """The paper's row key of a tidy row of ours (``values.csv``'s ``row``). Reference rows
    (dense, SNIP, random beside Table 4's AutoS rows) are keyed by their method."""
    method = r.get("method", "")
    if r.get("paper_row"):
        return str(r["paper_row"])
    field = {"table2": "inputs", "table3": "criterion", "table5": "iterations",
             "table6": "merge"}.get(table)
    if field and r.get(field) not in ("", None):
        return str(int(float(r[field]))) if field == "iterations" else str(r[field])
    if table == "table4" and r.get("irp_source"):
        return f"{r['irp_source']}|{r['backbone']}"
    if table == "table8" and r.get("batch_size") not in ("", None):
        return f"b{int(float(r['batch_size']))}-lr{_num(r['lr'])}"
    if table == "px_table2" and method != "dense":
        rounds = r.get("rounds")
        if rounds in ("", None) or rounds != rounds:
            rounds = wp.Variant.parse(str(r.get("variant") or method)).rounds or 1
        return f"{method}|T{int(float(rounds))}"
    return str(method)


def column_key(r: Mapping) -> str:
    """The paper's column key of a tidy row: its sparsity as a fraction."""
    return _num(r.get("sparsity", 0.0))
