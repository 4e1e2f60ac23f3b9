"""The parameters of the survival stage (AutoS seed Eq. 4, Alg. 2 output D_A):
:class:`SurvivalConfig` (``autosparse survival``) and :class:`SurvivalMergeConfig`
(``autosparse survival-merge``), from which their flags are generated; re-exported by
:mod:`autosparse.survival`. The stage has no config block (the DAG's rule passes only its input
stores and output). Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from .params import check_choices, param

MERGE_RULES = ("concat", "mean")
_RULES = "concat stacks the rows, mean averages each weight's score (same weights in every input)"


class _Inputs:
    """Checks of a merge's parameters: its rule, and at least one input (the first field)."""

    def __post_init__(self) -> None:
        check_choices(self)
        first = fields(self)[0].name
        if not getattr(self, first):
            raise ValueError(f"{first}: at least one input, got none")


@dataclass(frozen=True)
class SurvivalConfig(_Inputs):
    """A survival dataset's parameters (``autosparse survival``): the IRP stores it is built of
    and how their rows merge. No config block: the DAG's rule passes only its input stores."""

    irp: tuple[Path, ...] = param(help="IRP store(s) (.zarr)")
    rule: str = param("concat", f"how to merge several stores: {_RULES}", choices=MERGE_RULES)


@dataclass(frozen=True)
class SurvivalMergeConfig(_Inputs):
    """A merge of survival datasets (``autosparse survival-merge``): its inputs and rule."""

    inputs: tuple[Path, ...] = param(help="survival dataset directories")
    rule: str = param("concat", f"how to merge them: {_RULES}", choices=MERGE_RULES)
