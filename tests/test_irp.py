"""IRP (AutoS Alg. 2): nested masks, exact densities, g_0, survival counts, resume == uninterrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from torch.nn import functional as F

import autosparse
from autosparse import irp
from autosparse.masks import keep_count

REPO = Path(__file__).resolve().parents[1]


def tiny(criterion: str = "snip", **kw) -> irp.IRPConfig:
    base = dict(model="lenet_300_100", dataset="mnist", criterion=criterion, iterations=3,
                width=0.1, train_overrides={"epochs": 1}, train_per_class=20, test_per_class=10)
    return irp.IRPConfig(**{**base, **kw})


def snapshot(path: Path) -> tuple[dict, dict]:
    """All arrays and the attrs (timing and provenance dropped) of a store."""
    root = zarr.open_group(str(path), mode="r")
    arrays = {f"{g}/{k}": np.asarray(root[g][k][...]) for g in ("theta0", "grad0", "masks")
              for k in root[g].array_keys()}
    attrs = {k: v for k, v in root.attrs.items() if k not in ("timing", "git_revision")}
    return arrays, attrs


def assert_same_store(a: Path, b: Path) -> None:
    (xa, aa), (xb, ab) = snapshot(a), snapshot(b)
    assert aa == ab
    assert xa.keys() == xb.keys()
    for k in xa:
        assert xa[k].dtype == xb[k].dtype and np.array_equal(xa[k], xb[k]), k


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_root):
    out = {}
    d = tmp_path_factory.mktemp("irp")
    for crit in ("snip", "magnitude", "random"):
        irp.run_irp(tiny(crit), d / f"{crit}.zarr", data_root, log=lambda m: None)
        out[crit] = d / f"{crit}.zarr"
    return out


@pytest.mark.parametrize("crit", ["snip", "magnitude", "random"])
def test_masks_nested_and_exact_density(runs, crit):
    root = irp.open_store(runs[crit])
    cfg = tiny(crit)
    assert irp.committed(root) == 3
    prev = None
    total = None
    for i, d in enumerate(cfg.densities()):
        m = irp.read_masks(root, i)
        total = sum(x.numel() for x in m.values())
        assert sum(int(x.sum()) for x in m.values()) == keep_count(total, d)
        assert root.attrs["density"][i] == keep_count(total, d) / total
        if prev is not None:
            assert all(bool((m[k] <= prev[k]).all()) for k in m)  # nested
            assert any(bool((m[k] != prev[k]).any()) for k in m)  # really pruned
        prev = m
    assert root["masks"][root.attrs["layers"][0]].chunks[0] == 1  # one iteration per chunk


def test_theta0_is_model_init_and_rewind(runs, mnist):
    root = irp.open_store(runs["snip"])
    model = irp.init_model(tiny(), 10, mnist[0].spec.input_shape)
    th = irp.read_layer(root, "theta0")
    for k, p in autosparse.prunable_parameters(model).items():
        assert torch.equal(th[k], p.detach())


def test_random_iterations_differ_from_magnitude(runs):
    """The criterion really drives the pruning: different criteria, different final masks."""
    a = irp.read_masks(irp.open_store(runs["random"]), 3)
    b = irp.read_masks(irp.open_store(runs["magnitude"]), 3)
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_survival_counts_equal_sum_of_masks(runs):
    root = irp.open_store(runs["snip"])
    counts = irp.survival_counts(root)
    for k in root.attrs["layers"]:
        manual = sum(irp.read_masks(root, i)[k].int() for i in range(1, 4))
        assert np.array_equal(counts[k], manual.numpy())


def test_initial_gradient_sum_of_batch_means(mnist):
    tr = autosparse.class_balanced_subset(mnist[0], 10, seed=1)
    model = autosparse.build_model("lenet_300_100", 10, 0.1, (1, 28, 28), seed=3)
    g = irp.initial_gradient(model, tr, batch_size=32, n_batches=3)
    gm = irp.initial_gradient(model, tr, batch_size=32, n_batches=3, reduction="mean")
    manual = {k: torch.zeros_like(p) for k, p in autosparse.prunable_parameters(model).items()}
    model.eval()
    for i in range(3):
        x = tr.normalize(tr.images[32 * i : 32 * (i + 1)])
        model.zero_grad()
        F.cross_entropy(model(x), tr.labels[32 * i : 32 * (i + 1)]).backward()
        for k, p in autosparse.prunable_parameters(model).items():
            manual[k] += p.grad
    for k in manual:
        torch.testing.assert_close(g[k], manual[k])
        torch.testing.assert_close(gm[k], manual[k] / 3)


def test_resume_after_uncommitted_garbage_equals_uninterrupted(runs, tmp_path, data_root):
    """Stop after iteration 1, scribble over iteration 2's preallocated chunk (an uncommitted
    write), rerun: the final store equals the uninterrupted one bit for bit."""
    out = tmp_path / "r.zarr"
    irp.run_irp(tiny(), out, data_root, log=lambda m: None, stop_after=1)
    root = irp.open_store(out, "r+")
    assert irp.committed(root) == 1
    for k in root.attrs["layers"]:
        root["masks"][k][2] = np.ones(root["masks"][k].shape[1:], bool)
    with pytest.raises(ValueError, match="not committed"):
        irp.read_masks(root, 2)
    irp.run_irp(tiny(), out, data_root, log=lambda m: None)
    assert_same_store(out, runs["snip"])


def test_resume_mid_iteration_from_training_checkpoint(tmp_path, data_root):
    """Iteration 2 died after its first of two epochs (its epoch checkpoint exists): the rerun
    resumes inside the iteration and ends bit-identical to an uninterrupted run."""
    cfg = tiny(train_overrides={"epochs": 2})
    clean, out = tmp_path / "c.zarr", tmp_path / "r.zarr"
    irp.run_irp(cfg, clean, data_root, log=lambda m: None)
    irp.run_irp(cfg, out, data_root, log=lambda m: None, stop_after=1)
    tr, te = irp.load_data(cfg, data_root)
    model = irp.init_model(cfg, 10, tr.spec.input_shape)
    ck = tmp_path / "r.zarr.ckpt" / "iter2.pt"

    class Killed(Exception):
        pass

    def kill_in_epoch_2(msg):  # epoch 2 is logged before its checkpoint is written
        if msg.startswith("epoch 2/"):
            raise Killed

    with pytest.raises(Killed):
        autosparse.train(model, tr, te, cfg.train_config(2),
                         masks=irp.read_masks(irp.open_store(out), 1), checkpoint=ck,
                         log=kill_in_epoch_2)
    assert ck.exists()
    msgs: list[str] = []
    irp.run_irp(cfg, out, data_root, log=msgs.append)
    assert any("resuming at iteration 2" in m for m in msgs)
    assert any("at epoch 1/2" in m for m in msgs)  # the epoch checkpoint was used
    assert_same_store(out, clean)


@pytest.mark.slow
def test_sigkill_mid_training_resumes_to_identical_store(tmp_path, data_root):
    """A real kill -9 inside iteration 2's training (after its first epoch checkpoint)."""
    args = ["irp", "--model", "lenet_300_100", "--dataset", "mnist", "--criterion", "snip",
            "--iterations", "3", "--width", "0.1", "--epochs", "4", "--train-per-class", "20",
            "--test-per-class", "10", "--data-root", str(data_root)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "import sys; from autosparse.cli import main; sys.exit(main(sys.argv[1:]))"
    killed = tmp_path / "k.zarr"
    proc = subprocess.Popen([sys.executable, "-c", code, *args, "--out", str(killed)], env=env,
                            cwd=REPO, stderr=subprocess.DEVNULL)
    ck = tmp_path / "k.zarr.ckpt" / "iter2.pt"
    deadline = time.time() + 60
    while not ck.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert ck.exists(), "run never reached iteration 2's training"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert irp.committed(irp.open_store(killed)) == 1
    subprocess.run([sys.executable, "-c", code, *args, "--out", str(killed)], env=env, cwd=REPO,
                   check=True, capture_output=True)
    clean = tmp_path / "c.zarr"
    subprocess.run([sys.executable, "-c", code, *args, "--out", str(clean)], env=env, cwd=REPO,
                   check=True, capture_output=True)
    assert_same_store(killed, clean)
    assert not (tmp_path / "k.zarr.ckpt").exists()


def test_rerun_with_other_config_refused(runs, data_root):
    with pytest.raises(ValueError, match="different run"):
        irp.run_irp(tiny(iterations=4), runs["snip"], data_root, log=lambda m: None)


def test_bad_input_named():
    with pytest.raises(KeyError, match="nope"):
        tiny("nope")
    with pytest.raises(ValueError, match="final_density"):
        tiny(final_density=1.5)
    with pytest.raises(ValueError, match="schedule"):
        tiny(schedule="cosine")


def test_inspect_output(runs):
    text = irp.inspect_store(runs["magnitude"])
    root = irp.open_store(runs["magnitude"])
    assert "criterion magnitude, N=3" in text
    assert "committed iterations: 3/3" in text
    for i in range(1, 4):
        acc = root.attrs["test_accuracy"][i - 1]
        assert f"{root.attrs['density'][i]:.4f}" in text and f"{acc:.2f}%" in text
    counts = irp.survival_counts(root)
    for k in root.attrs["layers"]:
        end = irp.read_masks(root, 3)[k].float().mean().item()
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(k))
        assert line.split()[1:] == [str(counts[k].size), f"{counts[k].mean():.3f}", f"{end:.4f}"]


def test_export_mask_round_trip(runs, tmp_path):
    irp.export_mask(runs["snip"], 3, tmp_path / "m.zarr")
    masks, attrs = autosparse.store.read_mask_store(tmp_path / "m.zarr")
    ref = irp.read_masks(irp.open_store(runs["snip"]), 3)
    assert all(torch.equal(masks[k], ref[k]) for k in ref)
    assert attrs["method"] == "irp-snip" and abs(attrs["achieved_sparsity"] - 0.99) < 1e-3


def test_random_criterion_scores_differ_between_inits(tmp_path, data_root):
    """Random IRP runs from different theta_0 seeds (same data seed) draw different random
    scores: a seed derived from the data seed alone would give identical masks."""
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    irp.run_irp(tiny("random", iterations=1, seed=0, train_seed=1), a, data_root, lambda m: None)
    irp.run_irp(tiny("random", iterations=1, seed=1, train_seed=1), b, data_root, lambda m: None)
    ma, mb = (irp.read_masks(irp.open_store(p), 1) for p in (a, b))
    overlap = sum(int((ma[k] & mb[k]).sum()) for k in ma) / sum(int(ma[k].sum()) for k in ma)
    assert overlap < 0.5  # independent draws at density 0.01^(1/1): ~1 % overlap expected
    cfg = tiny("random", iterations=3)
    assert len({cfg.score_seed(i) for i in range(1, 4)}) == 3


def test_cli_equals_library_and_inspect(runs, tmp_path, data_root, capsys):
    """The CLI maps its flags onto the same run: identical store (same config hash) as the
    library call; ``inspect`` and ``export-mask`` work on it."""
    from autosparse.cli import main

    out = tmp_path / "cli.zarr"
    assert main(["irp", "--model", "lenet_300_100", "--dataset", "mnist", "--criterion", "snip",
                 "--iterations", "3", "--width", "0.1", "--epochs", "1", "--train-per-class",
                 "20", "--test-per-class", "10", "--data-root", str(data_root),
                 "--out", str(out)]) == 0
    assert_same_store(out, runs["snip"])
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    assert "committed iterations: 3/3" in capsys.readouterr().out
    assert main(["export-mask", str(out), "--out", str(tmp_path / "m.zarr")]) == 0
    assert "(iteration 3)" in capsys.readouterr().out
    assert main(["irp", "--model", "lenet_300_100", "--dataset", "mnist", "--criterion", "nope",
                 "--out", str(tmp_path / "x.zarr")]) == 2


def test_max_runtime_stops_at_a_committed_iteration_and_the_rerun_continues(tmp_path, data_root,
                                                                            capsys):
    """``--max-runtime``: exit status 75 with iteration 1 committed in the work folder, nothing
    at ``--out``; the same command without the budget finishes it, equal to an uninterrupted
    run."""
    from autosparse.cli import main

    args = ["irp", "--model", "lenet_300_100", "--dataset", "mnist", "--criterion", "snip",
            "--iterations", "3", "--width", "0.1", "--epochs", "1", "--train-per-class", "20",
            "--test-per-class", "10", "--data-root", str(data_root), "--work",
            str(tmp_path / "work")]
    out, clean = tmp_path / "x.zarr", tmp_path / "c.zarr"
    assert main([*args, "--out", str(out), "--max-runtime", "0.001"]) == 75
    assert "iteration 1/3 committed" in capsys.readouterr().err
    (staged,) = (tmp_path / "work").glob("*.zarr")
    assert irp.committed(irp.open_store(staged)) == 1 and not out.exists()
    assert main([*args, "--out", str(out)]) == 0
    assert main([*args, "--out", str(clean)]) == 0
    assert_same_store(out, clean)
