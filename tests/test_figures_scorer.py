"""Figures 4 and 5: held-out sample, PNG output, wrong scorer kinds rejected."""

from __future__ import annotations

import numpy as np
import pytest
from survival_data import survival_fixture

from autosparse import scorer as S
from autosparse.figures.scorer import figure4, figure5, sample_rows


@pytest.fixture(scope="module")
def surv(tmp_path_factory, mnist):
    return survival_fixture(tmp_path_factory, mnist, "surv_fig")


def _trained(surv, inputs):
    cfg = S.TrainScorerConfig(arch="mlp", inputs=inputs, normalize="layer_standardize",
                              epochs=1, val_percent=50, shuffle_buffer=16384, read_batch=8192)
    return S.train_scorer(surv, cfg, log=None)


def test_sample_rows_are_held_out_and_deterministic(surv):
    rows, stats = sample_rows(surv, 500, "val", 10)
    assert len(rows["hash"]) == 500
    assert S.is_validation(rows["hash"], 10).all()
    again, _ = sample_rows(surv, 500, "val", 10)
    np.testing.assert_array_equal(rows["hash"], again["hash"])
    # the 500 smallest hashes of all validation rows
    every = np.concatenate([b["hash"] for b in S.stream_split(S.open_survival(surv), "val", 10,
                                                               65536)])
    np.testing.assert_array_equal(np.sort(rows["hash"]), np.sort(every)[:500])


def test_figures_written(surv, tmp_path):
    both, param, grad = (_trained(surv, i) for i in ("param+grad", "param", "grad"))
    p4 = figure4(both, surv, tmp_path / "fig4.png", n_points=2000)
    p5 = figure5(param, grad, surv, tmp_path / "fig5.png", n_points=2000)
    for p in (p4, p5):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 20_000
    with pytest.raises(ValueError, match="inputs='param'"):
        figure5(both, grad, surv, tmp_path / "bad.png")
