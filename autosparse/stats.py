"""Statistics of the tables and the claims ledger: intervals over seeds and paired comparisons.

A cell of a table is a set of runs that differ only by their seed (initialisation, data order,
pruning draws). Its interval is Student's t-interval of the mean over seeds; a comparison of two
methods pairs runs by seed (same seed = same theta_0 and data order) and reports the mean paired
difference with its t-interval. Accuracies are in percentage points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

LEVEL = 0.95


def t_quantile(level: float, dof: int) -> float:
    """Two-sided Student-t critical value ``t_{(1+level)/2, dof}``."""
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, dof))


@dataclass(frozen=True)
class Interval:
    """Mean, sample std (ddof 1), number of values and the two-sided t-interval of the mean:
    ``mean +- t_{(1+level)/2, n-1} * std / sqrt(n)`` (NaN bounds for fewer than 2 values)."""

    mean: float
    std: float
    n: int
    low: float
    high: float
    level: float = LEVEL

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Student's t-interval of the mean of ``values`` (NaNs dropped)."""
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        nan = float("nan")
        return Interval(nan, nan, 0, nan, nan, level)
    mean = math.fsum(xs) / n
    if n == 1:
        return Interval(mean, float("nan"), 1, float("nan"), float("nan"), level)
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    h = t_quantile(level, n - 1) * std / math.sqrt(n)
    return Interval(mean, std, n, mean - h, mean + h, level)


@dataclass(frozen=True)
class Paired:
    """Paired difference ``a - b`` over the seeds both have."""

    diff: Interval
    seeds: tuple[int, ...]
    a_mean: float
    b_mean: float


def paired_difference(a: Mapping[int, float], b: Mapping[int, float],
                      level: float = LEVEL) -> Paired:
    """``a[seed] - b[seed]`` for every seed present in both, with its t-interval (pairing
    removes the seed-to-seed variation both share: same theta_0, same data order)."""
    seeds = tuple(sorted(set(a) & set(b)))
    d = [float(a[s]) - float(b[s]) for s in seeds]
    am = t_interval([a[s] for s in seeds]).mean
    bm = t_interval([b[s] for s in seeds]).mean
    return Paired(t_interval(d, level), seeds, am, bm)


def binomial_se(p: float, n: int) -> float:
    """Standard error (in points) of an accuracy ``p`` (fraction or %) measured on ``n`` test
    examples: ``100 * sqrt(p (1 - p) / n)``, the noise floor of a single run."""
    q = p / 100 if p > 1 else p
    return 100 * math.sqrt(max(q * (1 - q), 0.0) / n) if n > 0 else float("nan")


HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"


def decide(interval: Interval, threshold: float) -> str:
    """Verdict of the claim ``difference > threshold``: *holds* when the whole interval lies
    above the threshold, *fails* when it lies below, *inconclusive* when it straddles it (or
    when fewer than 2 seeds give no interval)."""
    if interval.n < 2 or math.isnan(interval.low):
        return INCONCLUSIVE
    if interval.low > threshold:
        return HOLDS
    if interval.high < threshold:
        return FAILS
    return INCONCLUSIVE


def combine(verdicts: Sequence[str]) -> str:
    """A claim over several comparisons ("every method ..."): fails if one fails, holds if all
    hold, else inconclusive."""
    if not verdicts:
        return INCONCLUSIVE
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE
