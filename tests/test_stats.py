"""Intervals and paired comparisons of the tables and the claims ledger, against hand computations."""

import math

import pytest

from autosparse import stats


def test_t_interval_matches_hand_computation():
    # mean 92, sample std 2, t_{0.975, 2} = 4.302653 (tables), half width 4.302653 * 2 / sqrt(3)
    iv = stats.t_interval([90.0, 92.0, 94.0])
    assert iv.mean == pytest.approx(92.0) and iv.std == pytest.approx(2.0) and iv.n == 3
    assert iv.half_width == pytest.approx(4.302653 * 2 / math.sqrt(3), rel=1e-6)
    assert (iv.low, iv.high) == pytest.approx((87.031736, 96.968264), rel=1e-6)


def test_t_interval_needs_two_values():
    iv = stats.t_interval([91.5])
    assert iv.mean == 91.5 and iv.n == 1 and math.isnan(iv.low) and math.isnan(iv.std)
    assert stats.decide(iv, 0.0) == stats.INCONCLUSIVE


def test_paired_difference_pairs_by_seed():
    a = {0: 90.0, 1: 92.0, 2: 95.0, 7: 50.0}   # seed 7 has no partner: left out
    b = {0: 89.0, 1: 90.0, 2: 91.0}
    p = stats.paired_difference(a, b)
    assert p.seeds == (0, 1, 2)
    # differences 1, 2, 4: mean 7/3, std sqrt(7/3), half width t_{0.975,2} * std / sqrt(3)
    assert p.diff.mean == pytest.approx(7 / 3)
    assert p.diff.std == pytest.approx(math.sqrt(7 / 3))
    assert p.diff.low == pytest.approx(7 / 3 - 4.302653 * math.sqrt(7 / 3) / math.sqrt(3), rel=1e-6)
    # pairing: the unpaired interval of the means is much wider than the paired one
    unpaired = stats.t_interval([90.0, 92.0, 95.0]).half_width + stats.t_interval(
        [89.0, 90.0, 91.0]).half_width
    assert p.diff.half_width < unpaired


def test_binomial_noise_floor():
    # the figure: 20 % on 500 test images -> 1.8 points
    assert stats.binomial_se(0.2, 500) == pytest.approx(1.78885, rel=1e-5)
    assert stats.binomial_se(20.0, 500) == pytest.approx(1.78885, rel=1e-5)


@pytest.mark.parametrize("diffs, threshold, verdict", [
    ([1.0, 1.2, 0.9], 0.0, stats.HOLDS),
    ([-1.0, -1.2, -0.9], 0.0, stats.FAILS),
    ([1.0, -1.0, 0.5], 0.0, stats.INCONCLUSIVE),
    ([-0.2, -0.3, -0.1], -0.5, stats.HOLDS),     # non-inferiority with a 0.5-point margin
])
def test_decide(diffs, threshold, verdict):
    assert stats.decide(stats.t_interval(diffs), threshold) == verdict


def test_combine():
    assert stats.combine([stats.HOLDS, stats.HOLDS]) == stats.HOLDS
    assert stats.combine([stats.HOLDS, stats.INCONCLUSIVE]) == stats.INCONCLUSIVE
    assert stats.combine([stats.INCONCLUSIVE, stats.FAILS]) == stats.FAILS
    assert stats.combine([]) == stats.INCONCLUSIVE
