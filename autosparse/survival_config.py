"""The parameters of the survival stage (AutoS seed Eq. 4, Alg. 2 output D_A):
:class:`SurvivalConfig` (``autosparse survival``) and :class:`SurvivalMergeConfig`
(``autosparse survival-merge``), from which their flags are generated; re-exported by
:mod:`autosparse.survival`. The stage has no config block (the DAG's rule passes only its input
stores and output). Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .params import check_choices, param

MERGE_RULES = ("concat", "mean")
_RULES = "concat stacks the rows, mean averages each weight's score (same weights in every input)"


@dataclass(frozen=True)
class SurvivalConfig:
    """A survival dataset's parameters (``autosparse survival``): the IRP stores it is built of
    and how their rows merge. No config block: the DAG's rule passes only its input stores."""

    irp: tuple[Path, ...] = param(help="IRP store(s) (.zarr)")
    rule: str = param("concat", f"how to merge several stores: {_RULES}", choices=MERGE_RULES)

    def __post_init__(self) -> None:
        check_choices(self)
        if not self.irp:
            raise ValueError("irp: at least one IRP store, got none")


@dataclass(frozen=True)
class SurvivalMergeConfig:
    """A merge of survival datasets (``autosparse survival-merge``): its inputs and rule."""

    inputs: tuple[Path, ...] = param(help="survival dataset directories")
    rule: str = param("concat", f"how to merge them: {_RULES}", choices=MERGE_RULES)

    def __post_init__(self) -> None:
        check_choices(self)
        if not self.inputs:
            raise ValueError("inputs: at least one survival dataset, got none")
