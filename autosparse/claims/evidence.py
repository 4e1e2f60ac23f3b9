"""How one claim is tested: :class:`Claim` (a ledger row: its comparisons paired by seed and
their verdicts), :class:`Runs` (the per-seed accuracies of the planned runs that exist) and the
thresholds of the tests (non-inferiority margin, collapse).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .. import workflow_config as wc
from .. import workflow_paths as wp
from ..stats import INCONCLUSIVE, combine, decide, paired_difference

if TYPE_CHECKING:
    import pandas as pd

MARGIN = 0.5     # accuracy points: "A >= B" holds when A - B > -MARGIN (non-inferiority)
COLLAPSE = 10.0  # accuracy points: a drop of more than this is a collapse


@dataclass
class Claim:
    """One row of the ledger."""

    id: str
    statement: str
    source: str
    experiment: str
    test: str = ""
    numbers: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    note: str = ""

    def compare(self, label: str, a: Mapping[int, float], b: Mapping[int, float],
                threshold: float, digits: int = 2) -> None:
        """Test ``a - b > threshold`` paired by seed; record the numbers and the verdict."""
        if not a or not b:
            self.numbers.append(f"{label}: not run")
            self.verdicts.append(INCONCLUSIVE)
            return
        p = paired_difference(a, b)
        d = p.diff
        if d.n == 0:
            self.numbers.append(f"{label}: no seed run on both sides")
            self.verdicts.append(INCONCLUSIVE)
            return
        ci = "" if d.n < 2 else f" [{d.low:+.{digits}f}, {d.high:+.{digits}f}]"
        self.numbers.append(f"{label}: {p.a_mean:.{digits}f} vs {p.b_mean:.{digits}f}, "
                            f"diff {d.mean:+.{digits}f}{ci} (n={d.n})")
        self.verdicts.append(decide(d, threshold))

    def row(self, setting: str) -> dict:
        return {"id": self.id, "statement": self.statement, "source": self.source,
                "experiment": self.experiment, "setting": setting, "test": self.test,
                "our_numbers": "; ".join(self.numbers), "verdict": combine(self.verdicts),
                "note": self.note}


class Runs:
    """Per-seed accuracies of the planned metrics files that exist."""

    def __init__(self, items: Iterable[tuple[str, dict]]):
        from ..tables import gather

        items = [(p, lab) for p, lab in items if Path(p).is_file()]
        self.df: pd.DataFrame = gather([p for p, _ in items], dict(items))

    def acc(self, value: str = "accuracy", **where) -> dict[int, float]:
        """``{seed: value}`` of the runs whose columns equal ``where``."""
        import pandas as pd

        df = self.df
        if df.empty or value not in df:
            return {}
        for k, v in where.items():
            if k not in df:
                return {}
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                num = pd.to_numeric(df[k], errors="coerce")
                df = df[(num - float(v)).abs() < 1e-9]
            else:
                df = df[df[k].astype(str) == str(v)]
        return {int(s): float(x) for s, x in zip(df["seed"], df[value]) if x == x}


def source_note(config: Mapping, **scorer: object) -> str:
    """A note naming the IRP sources of a scorer (default: the profile's AutoS) whose network did
    not learn (:func:`autosparse.irp.learning_check`): its survival scores are noise."""
    from ..irp import learning_check

    name = wc.scorer_for(config, **scorer)
    bad = []
    for store in wc.survival_inputs(config, wp.parse_scorer(name)["survival"]):
        if Path(store).exists() and not (chk := learning_check(store))["learned"]:
            bad.append(f"IRP source {Path(store).stem} did not learn ({chk['message']})")
    return "; ".join(bad)


def pct(s: float) -> str:
    """``0.95`` -> ``95 %``."""
    return f"{100 * s:g} %"


def high(sparsities: Iterable[float], at_least: float = 0.0) -> list[float]:
    """The sparsities at or above ``at_least``, ascending."""
    return [s for s in sorted(sparsities) if s >= at_least - 1e-12]
