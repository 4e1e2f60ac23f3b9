"""The run's seed (``prune``/``score --seed``) reaches every random choice of pruning: random
scores, NTK-SAP noise, NPB tie-breaks, the shuffle/reinit draws and the scoring examples.
Seed 0 keeps the methods' default ``seed=0``, so seed-0 masks are those of before."""

from __future__ import annotations

import argparse

import pytest
import torch
from torch import nn

import autosparse
import autosparse.ablations as ablations
from autosparse.cli import main
from autosparse.models import MODELS
from autosparse.pruning import REINIT_SEED_OFFSET, scoring_batches
from autosparse.store import read_mask_store, read_score_store

LENET = ("lenet_300_100", 10, 0.25, (1, 28, 28))


def _head(data_root, seed: int, method: str, model: str) -> list[str]:
    return ["--model", model, "--dataset", "mnist", "--width", "0.25", "--seed", str(seed),
            "--method", method, "--data-root", str(data_root), "--device", "cpu"]


def _prune(data_root, out, seed: int, method: str, *extra: str, model: str = "lenet_300_100",
           sparsity: str = "0.9") -> tuple[dict, dict]:
    """(masks, attrs) of ``autosparse prune`` with these arguments."""
    assert main(["prune", *_head(data_root, seed, method, model), "--sparsity", sparsity,
                 "--out", str(out), *extra]) == 0
    return read_mask_store(out)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _by_seed(data_root, tmp_path, method: str, *extra: str, seeds=(0, 1, 1), **kw) -> list:
    """Masks of one prune job per seed (default: seeds 0, 1 and 1 again)."""
    return [_prune(data_root, tmp_path / f"{method}{i}.zarr", s, method, *extra, **kw)[0]
            for i, s in enumerate(seeds)]


@pytest.fixture
def tinyconv():
    """A real tiny conv net (BatchNorm, two convolutions, a linear head) that NPB solves fast."""

    class TinyConv(nn.Sequential):
        def __init__(self, num_classes, width=1.0, input_shape=(1, 28, 28)):
            super().__init__(nn.Conv2d(input_shape[0], 4, 3, padding=1), nn.BatchNorm2d(4),
                             nn.ReLU(), nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(8, num_classes))

    MODELS.register("_tinyconv")(TinyConv)
    yield "_tinyconv"
    MODELS._items.pop("_tinyconv")


def test_cli_random_seed_changes_the_mask(data_root, tmp_path):
    """The defect: every DAG seed got the same random mask (the method's seed stayed 0)."""
    m0, m1, again = _by_seed(data_root, tmp_path, "random")
    assert not _same(m0, m1)
    assert _same(m1, again)


def test_random_scores_follow_the_run_seed(data_root, tmp_path):
    m0, m1, again = _by_seed(data_root, tmp_path, "random", "--scope", "local", "--rounds", "2")
    assert not _same(m0, m1) and _same(m1, again)
    # seed 0 is the method's default seed 0: the library's masks, as before
    model = autosparse.build_model(*LENET, seed=0)
    ref = autosparse.prune(model, "random", 0.9, scope="local", rounds=2)
    assert _same(m0, ref)
    # an explicit --set seed= wins over --seed (random scores do not depend on theta_0)
    e0, _ = _prune(data_root, tmp_path / "e0.zarr", 0, "random", "--set", "seed=7")
    e3, attrs = _prune(data_root, tmp_path / "e3.zarr", 3, "random", "--set", "seed=7")
    assert _same(e0, e3) and _same(e0, autosparse.prune(model, "random", 0.9, seed=7))
    assert attrs["options"] == {"seed": 7}
    # the score stage: its own seed's scores, thresholded to the masks of a fresh prune
    scores = []
    for i, s in enumerate((0, 1, 1)):
        store = tmp_path / f"s{i}.zarr"
        assert main(["score", *_head(data_root, s, "random", "lenet_300_100"),
                     "--out", str(store)]) == 0
        scores.append(read_score_store(store)[0])
    assert not _same(scores[0], scores[1]) and _same(scores[1], scores[2])
    fresh, _ = _prune(data_root, tmp_path / "f.zarr", 1, "random")
    reused, _ = _prune(data_root, tmp_path / "r.zarr", 1, "random", "--scores",
                       str(tmp_path / "s1.zarr"))
    assert _same(fresh, reused)


def test_ntk_sap_noise_follows_the_run_seed(data_root, tmp_path):
    # NTK-SAP re-initialises the weights and draws noise inputs from its own generator: only
    # its seed option can tell two runs apart
    extra = ("--rounds", "2", "--set", "reinits=1")
    m0, m1, again = _by_seed(data_root, tmp_path, "ntk_sap", *extra)
    assert not _same(m0, m1) and _same(m1, again)
    model = autosparse.build_model(*LENET, seed=0)
    ref = autosparse.prune(model, "ntk_sap", 0.9, input_shape=(1, 28, 28), rounds=2, reinits=1)
    assert _same(m0, ref)


def test_npb_tie_break_follows_the_run_seed(data_root, tmp_path, tinyconv):
    # NPB never reads the weights: the seeded permutations and kernel positions are all
    m0, m1, again = _by_seed(data_root, tmp_path, "npb", model=tinyconv)
    assert not _same(m0, m1) and _same(m1, again)
    model = autosparse.build_model(tinyconv, 10, 0.25, (1, 28, 28), seed=0)
    assert _same(m0, autosparse.prune(model, "npb", 0.9, input_shape=(1, 28, 28)))


def test_shuffle_draw_follows_the_run_seed(data_root, tmp_path):
    base, _ = _prune(data_root, tmp_path / "b.zarr", 1, "snip")
    shuffled, attrs = _prune(data_root, tmp_path / "s.zarr", 1, "snip", "--ablation", "shuffle")
    again, _ = _prune(data_root, tmp_path / "a.zarr", 1, "snip", "--ablation", "shuffle")
    assert attrs["ablation_seed"] == 1 and _same(shuffled, again)
    assert _same(shuffled, autosparse.shuffle_masks(base, seed=1))
    assert not _same(shuffled, autosparse.shuffle_masks(base, seed=0))
    # --ablation-seed still sets the draw on its own
    other, attrs = _prune(data_root, tmp_path / "o.zarr", 1, "snip", "--ablation", "shuffle",
                          "--ablation-seed", "5")
    assert attrs["ablation_seed"] == 5 and _same(other, autosparse.shuffle_masks(base, seed=5))


def test_reinit_draw_follows_the_run_seed(data_root, tmp_path, monkeypatch):
    """The prune job draws the reinit weights under the init seed it records (seed + 1000),
    the one the retraining stage builds theta_0 from."""
    drawn = []
    real = ablations.reinit_model

    def recording(model, seed):
        fresh = real(model, seed)
        drawn.append((seed, {k: v.clone() for k, v in fresh.state_dict().items()}))
        return fresh

    monkeypatch.setattr(ablations, "reinit_model", recording)
    attrs = [_prune(data_root, tmp_path / f"r{i}.zarr", s, "snip", "--ablation", "reinit")[1]
             for i, s in enumerate((0, 1, 1))]
    assert [a["init_seed"] for a in attrs] == [REINIT_SEED_OFFSET + s for s in (0, 1, 1)]
    assert [seed for seed, _ in drawn] == [a["init_seed"] for a in attrs]
    (_, w0), (_, w1), (_, again) = drawn
    assert not _same(w0, w1) and _same(w1, again)


def test_scoring_batches_follow_the_run_seed(data_root, mnist):
    def batches(seed: int) -> list:
        args = argparse.Namespace(dataset="mnist", data_root=str(data_root), n_per_class=10,
                                  seed=seed, batch_size=30)
        return scoring_batches(args)

    b0, b1, again = batches(0), batches(1), batches(1)
    x0, x1, xa = (torch.cat([x for x, _ in b]) for b in (b0, b1, again))
    assert torch.equal(x1, xa) and [len(y) for _, y in b1] == [30, 30, 30, 10]
    assert not torch.equal(x0, x1)
    # the seeded choice in its seeded order: class_balanced_subset(train, n, seed)
    sub = autosparse.class_balanced_subset(mnist[0], 10, seed=1)
    assert torch.equal(x1, next(sub.batches(len(sub)))[0])
    labels = torch.cat([y for _, y in b1])
    assert torch.equal(labels, torch.arange(10).repeat(10))  # class-interleaved
    picked0 = {tuple(r.flatten().tolist()) for r in x0[labels == 3]}
    picked1 = {tuple(r.flatten().tolist()) for r in x1[labels == 3]}
    assert picked0 != picked1


def test_prune_ablated_seed_reaches_the_method(mnist_batch):
    model = autosparse.build_model(*LENET, seed=0)
    for method, kw in (("random", {}), ("ntk_sap", {"rounds": 1, "reinits": 1})):
        runs = [autosparse.prune_ablated(model, method, 0.9, data=[mnist_batch], seed=s, **kw)[0]
                for s in (0, 1, 1)]
        assert not _same(runs[0], runs[1]) and _same(runs[1], runs[2]), method
        assert _same(runs[0], autosparse.prune(model, method, 0.9, data=[mnist_batch], **kw))
        assert _same(runs[1], autosparse.prune(model, method, 0.9, data=[mnist_batch], seed=1,
                                               **kw))
    # the shuffle draw: ``seed`` unless ``ablation_seed`` is given
    plain = autosparse.prune(model, "random", 0.9, seed=2)
    masks, _, _ = autosparse.prune_ablated(model, "random", 0.9, "shuffle", seed=2)
    assert _same(masks, autosparse.shuffle_masks(plain, seed=2))
    masks, _, _ = autosparse.prune_ablated(model, "random", 0.9, "shuffle", seed=2,
                                           ablation_seed=4)
    assert _same(masks, autosparse.shuffle_masks(plain, seed=4))
