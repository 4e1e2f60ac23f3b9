"""Masked trainer: exact zeros under a mask, bit-reproducibility, resume == uninterrupted."""

import dataclasses
import json
import re

import pytest
import torch

import autosparse


def _small(mnist, n=600):
    train, test = mnist
    return train.subset(torch.arange(n)), test.subset(torch.arange(300))


def _cfg(**kw):
    return autosparse.preset("lenet_300_100", "mnist", **{"epochs": 2, "progress": False, **kw})


def _weights(model):
    return [t.detach().clone() for t in model.state_dict().values()]


def test_pruned_weights_stay_exactly_zero_and_sparsity_is_exact(mnist):
    train, test = _small(mnist)
    model = autosparse.build_model("lenet_300_100", 10, seed=0)
    masks = autosparse.prune(model, "random", 0.9)
    autosparse.train(model, train, test, _cfg(), masks=masks)
    params = autosparse.prunable_parameters(model)
    total = sum(p.numel() for p in params.values())
    nonzero = sum(int(torch.count_nonzero(p)) for p in params.values())
    assert nonzero == round(0.1 * total)
    for name, p in params.items():
        assert torch.all(p[~masks[name]] == 0)


def test_the_run_seed_reaches_the_data_order(mnist):
    """Same starting weights, another training seed: another batch order, other weights (the
    seed-to-seed spread of the tables includes data order, as the paired seeds assume)."""
    train, _ = _small(mnist, 300)
    finals = []
    for seed in (0, 1, 0):
        m = autosparse.build_model("lenet_300_100", 10, seed=0)
        autosparse.train(m, train, None, _cfg(seed=seed, epochs=1, augment=False))
        finals.append(_weights(m))
    assert all(torch.equal(a, b) for a, b in zip(finals[0], finals[2]))
    assert not all(torch.equal(a, b) for a, b in zip(finals[0], finals[1]))


def test_two_seeded_runs_are_bit_identical(mnist):
    train, test = _small(mnist)
    runs = []
    for _ in range(2):
        m = autosparse.build_model("lenet_300_100", 10, seed=0)
        r = autosparse.train(m, train, test, _cfg(seed=5))
        runs.append((_weights(m), r.history))
    assert all(torch.equal(a, b) for a, b in zip(runs[0][0], runs[1][0]))
    other = autosparse.build_model("lenet_300_100", 10, seed=0)
    autosparse.train(other, train, test, _cfg(seed=6))
    assert not all(torch.equal(a, b) for a, b in zip(runs[0][0], _weights(other)))


def test_killed_run_resumes_to_identical_weights(cifar10, tmp_path):
    """A run killed mid-training resumes from its last epoch checkpoint to the same result.

    Uses a ResNet with BatchNorm, SGD momentum and augmentation: every piece of state matters.
    """
    train = cifar10[0].subset(torch.arange(256))
    test = cifar10[1].subset(torch.arange(128))
    cfg = autosparse.preset("resnet20", "cifar10", epochs=3, batch_size=64, progress=False,
                            lr_drops=[2])
    masks = autosparse.prune(autosparse.build_model("resnet20", 10, width=0.25, seed=0),
                             "magnitude", 0.5)
    ref = autosparse.build_model("resnet20", 10, width=0.25, seed=0)
    r_ref = autosparse.train(ref, train, test, cfg, masks=masks)

    class Killed(Exception):
        pass

    def kill_at_epoch_2(msg):
        if msg.startswith("epoch 2/"):
            raise Killed  # dies after epoch 2 is trained, before its checkpoint is written

    ckpt = tmp_path / "run.ckpt"
    m = autosparse.build_model("resnet20", 10, width=0.25, seed=0)
    with pytest.raises(Killed):
        autosparse.train(m, train, test, cfg, masks=masks, checkpoint=ckpt, log=kill_at_epoch_2)
    m2 = autosparse.build_model("resnet20", 10, width=0.25, seed=0)
    r2 = autosparse.train(m2, train, test, cfg, masks=masks, checkpoint=ckpt)
    assert r2.resumed_from_epoch == 1
    assert all(torch.equal(a, b) for a, b in zip(_weights(ref), _weights(m2)))
    assert [h["train_loss"] for h in r_ref.history] == [h["train_loss"] for h in r2.history]
    state = torch.load(ckpt, weights_only=True)  # checkpoints load without pickle
    assert state["epoch"] == 3


def test_a_checkpoint_of_another_run_is_refused_not_resumed(mnist, tmp_path):
    """Another seed, lr, init or mask: ValueError naming what differs; the checkpoint's own run
    (on another device setting) resumes it."""
    train, test = mnist[0].subset(torch.arange(200)), mnist[1].subset(torch.arange(100))
    cfg = autosparse.preset("lenet_300_100", "mnist", epochs=2, progress=False)
    ckpt = tmp_path / "run.ckpt"

    def run(cfg=cfg, seed=0, masks=None):
        m = autosparse.build_model("lenet_300_100", 10, width=0.25, seed=seed)
        return autosparse.train(m, train, test, cfg, masks=masks, checkpoint=ckpt)

    run(dataclasses.replace(cfg, epochs=1))  # checkpoint after epoch 1 of a 1-epoch run
    with pytest.raises(ValueError, match=r"belongs to another run \(epochs 1 != 2\)"):
        run()
    one = dataclasses.replace(cfg, epochs=1)
    with pytest.raises(ValueError, match=r"lr 0.0012 != 0.5"):
        run(dataclasses.replace(one, lr=0.5))
    with pytest.raises(ValueError, match=r"seed 0 != 3"):
        run(dataclasses.replace(one, seed=3))
    with pytest.raises(ValueError, match=r"\(different weights\)"):
        run(one, seed=1)
    masks = autosparse.prune(autosparse.build_model("lenet_300_100", 10, width=0.25, seed=0),
                             "magnitude", 0.5)
    with pytest.raises(ValueError, match=r"different weights; different mask"):
        run(one, masks=masks)
    r = run(dataclasses.replace(one, device="cpu"))
    assert r.resumed_from_epoch == 1


def test_max_runtime_checkpoints_exits_75_and_the_rerun_continues(data_root, tmp_path, capsys):
    from autosparse.cli import main

    args = ["train", "--model", "lenet_300_100", "--dataset", "mnist", "--width", "0.25",
            "--epochs", "3", "--train-per-class", "20", "--test-per-class", "10",
            "--data-root", str(data_root)]
    ckpt, out, clean = tmp_path / "c.pt", tmp_path / "m.json", tmp_path / "clean.json"
    assert main([*args, "--checkpoint", str(ckpt), "--out", str(out),
                 "--max-runtime", "0.001"]) == 75
    assert "time budget reached after epoch 1/3" in capsys.readouterr().err
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1 and not out.exists()
    assert main([*args, "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    assert main([*args, "--out", str(clean)]) == 0
    a, b = (json.loads(p.read_text()) for p in (out, clean))
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    assert main([*args, "--max-runtime", "-1"]) == 2  # named, before any work
    assert "--max-runtime must be >= 0" in capsys.readouterr().err


def test_identity_named_checkpoints_one_per_run(data_root, tmp_path, capsys):
    """``{identity}`` in --checkpoint (the DAG's form): each run keeps its own checkpoint, named
    by its identity hash, so a changed config neither resumes nor is blocked by another's."""
    from autosparse.cli import main

    args = ["train", "--model", "lenet_300_100", "--dataset", "mnist", "--width", "0.25",
            "--epochs", "2", "--train-per-class", "20", "--test-per-class", "10",
            "--data-root", str(data_root), "--checkpoint", str(tmp_path / "c-{identity}.pt")]
    assert main([*args, "--max-runtime", "0.001", "--out", str(tmp_path / "a.json")]) == 75
    (first,) = tmp_path.glob("c-*.pt")
    assert re.fullmatch(r"c-[0-9a-f]{12}\.pt", first.name)
    # another seed: its own checkpoint, trained from epoch 1 (not refused, not resumed)
    assert main([*args, "--seed", "1", "--out", str(tmp_path / "b.json")]) == 0
    assert "resuming" not in capsys.readouterr().err
    assert len(list(tmp_path.glob("c-*.pt"))) == 2
    assert main([*args, "--out", str(tmp_path / "a.json")]) == 0  # the first run continues
    assert f"resuming from {first} at epoch 1/2" in capsys.readouterr().err


def test_lenet_learns_real_mnist(mnist):
    train, test = mnist
    model = autosparse.build_model("lenet_300_100", 10, seed=0)
    r = autosparse.train(model, train.subset(torch.arange(10_000)), test, _cfg(epochs=2))
    assert r.test_accuracy > 93.0
    assert r.history[1]["train_loss"] < r.history[0]["train_loss"]


def test_lr_schedule_and_bad_options():
    cfg = autosparse.TrainConfig(lr=0.1, lr_drops=[2, 4], lr_gamma=0.1)
    assert [round(cfg.lr_at(e), 6) for e in range(6)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    with pytest.raises(ValueError, match="optimizer"):
        autosparse.TrainConfig(optimizer="adagrad")
    with pytest.raises(ValueError, match="unknown training option"):
        autosparse.preset("lenet_300_100", "mnist", epochz=3)
    with pytest.raises(KeyError, match="no training preset"):
        autosparse.preset("lenet_300_100", "tinyimagenet")


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=False)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=5e-4, fused=True)),
    ("SGD", dict(lr=0.1, weight_decay=5e-4, fused=True)),
    ("Adam", dict(lr=0.01, weight_decay=1e-4)),
    ("Adam", dict(lr=0.003, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=1e-4, fused=True)),
])
def test_optimizer_is_torch_optim_bit_for_bit_and_shares_its_state_dict(mnist_batch, name, kw):
    from autosparse.train import SGD, Adam

    ours_cls = {"SGD": SGD, "Adam": Adam}[name]
    x, y = mnist_batch
    models = [autosparse.build_model("lenet_300_100", 10, 0.25, (1, 28, 28), seed=0)
              for _ in range(2)]
    ours = ours_cls(models[0].parameters(), **kw)
    ref = getattr(torch.optim, name)(models[1].parameters(), **kw)
    for step in range(4):
        for m, opt in zip(models, (ours, ref)):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(m(x[step::4]), y[step::4]).backward()
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(*(m.parameters() for m in models)))
    a, b = ours.state_dict(), ref.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for i in b["state"]:
        assert a["state"][i].keys() == b["state"][i].keys()
        assert all(torch.equal(a["state"][i][k], b["state"][i][k]) for k in b["state"][i])
    fresh = ours_cls(models[0].parameters(), lr=1.0, fused=kw.get("fused"))
    fresh.load_state_dict(b)  # a torch.optim checkpoint loads into ours
    assert fresh.param_groups[0]["lr"] == kw["lr"]
    assert all(torch.equal(fresh.state[p][k], v) for p, s in ours.state.items() for k, v in s.items())


def test_training_on_cpu_uses_the_fused_kernels():
    from autosparse.train import cpu_fused, make_optimizer

    model = autosparse.build_model("lenet_300_100", 10, 0.25, (1, 28, 28), seed=0)
    for name in ("adam", "momentum", "sgd"):
        opt = make_optimizer(model.parameters(), autosparse.TrainConfig(optimizer=name))
        assert opt.param_groups[0]["fused"] is True
    assert cpu_fused([torch.zeros(2, dtype=torch.float64)]) is None


# torch.optim's Optimizer class imports torch._dynamo on construction and on every step()
# (torch 2.14: ~2.5 s of CPU per training job, benchmarks/bench_startup.py); autosparse.optim runs
# the same kernels through torch's public functional API without it.
@pytest.mark.parametrize("model,dataset", [("resnet20", "cifar10"), ("lenet_300_100", "mnist")])
def test_a_training_process_does_not_import_torch_dynamo(data_root, tmp_path, model, dataset):
    """A training job never imports torch._dynamo (2.5-3.5 s of CPU in every DAG job): momentum
    SGD (ResNet-20) and Adam (the LeNet preset; the scorer uses the same class)."""
    import subprocess
    import sys

    code = ("import sys; from autosparse.cli import main; "
            f"main(['train', '--model', {model!r}, '--dataset', {dataset!r}, '--width', '0.25', "
            "'--epochs', '1', '--train-per-class', '3', '--test-per-class', '2', "
            f"'--data-root', {str(data_root)!r}, '--out', {str(tmp_path / 'm.json')!r}]); "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (tmp_path / "m.json").exists(), "the training job wrote no metrics"
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


def test_autosparse_train_is_the_function_and_the_old_module_path_still_imports():
    """``autosparse.train`` is the training function whichever module a process imports first,
    and ``from autosparse.train import ...`` (the trainer's old module path) still works;
    ``import autosparse`` and the settings' names stay torch-free."""
    import subprocess
    import sys

    code = """
import sys
import autosparse
from autosparse.train import TrainConfig, preset
assert "torch" not in sys.modules
import autosparse.train as via_import
import autosparse.irp  # imports the trainer: may not rebind autosparse.train
from autosparse.train import OutOfTime, make_optimizer, train
from autosparse import training
assert autosparse.train is train is via_import is training.train, autosparse.train
assert make_optimizer is training.make_optimizer and TrainConfig is autosparse.TrainConfig
assert sys.modules["autosparse.train"].__name__ == "autosparse.train"
try:
    from autosparse.train import _save_atomic
except ImportError:
    pass
else:
    raise AssertionError("private names are not re-exported")
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_a_long_cpu_run_says_how_long_before_it_goes_on(mnist, monkeypatch):
    import importlib

    train_mod = importlib.import_module("autosparse.training")  # the module, not the function
    cpu = torch.device("cpu")
    msg = train_mod.estimate_message(0.5, 391, 10, cpu)  # 1955 s
    assert "~32m35s on this CPU for 10 epoch(s)" in msg and "use a GPU" in msg
    assert "GPU" not in train_mod.estimate_message(0.5, 391, 1, cpu)  # 196 s: no advice
    assert train_mod.estimate_message(0.01, 100, 2, cpu) is None  # 2 s: silent
    assert train_mod.format_duration(7620) == "2h07m"
    # A real run measures its own steps: with the threshold at 0 it logs one estimate, after
    # step 4 of the first epoch, and the run is unchanged by it.
    monkeypatch.setattr(train_mod, "ESTIMATE_MIN_S", 0.0)
    lines: list[str] = []
    train, test = _small(mnist)
    model = autosparse.build_model("lenet_300_100", 10, seed=0)
    autosparse.train(model, train, test, _cfg(batch_size=60), log=lines.append)
    estimates = [m for m in lines if m.startswith("estimate:")]
    assert len(estimates) == 1 and "for 2 epoch(s)" in estimates[0] and "10 steps/epoch" in estimates[0]
    assert lines.index(estimates[0]) == 0  # before the first epoch's line


@pytest.mark.gpu
def test_the_captured_cuda_step_trains_like_the_eager_one(cifar10):
    """cuda_graph=True (the whole step as one CUDA graph, :class:`CapturedStep`) reaches the same
    weights as the eager step within bf16 tolerance, including the ragged last batch, a mask, an
    lr drop and augmentation; the graph really is captured and replayed."""
    train, _ = cifar10
    train = train.subset(torch.arange(1000))  # 7 full batches of 128 and a ragged one per epoch
    masks = None
    finals, logs = [], []
    for graph in (False, True):
        model = autosparse.build_model("resnet20", 10, width=0.5, seed=0)
        masks = masks or autosparse.prune(model, "random", 0.8, seed=0)
        cfg = autosparse.preset("resnet20", "cifar10", epochs=3, lr_drops=[2], batch_size=128,
                                device="cuda", progress=False, seed=0, cuda_graph=graph)
        lines = []
        res = autosparse.train(model, train, None, cfg, masks=masks, log=lines.append)
        finals.append({k: v.detach().float().cpu() for k, v in model.state_dict().items()})
        logs.append(lines)
        params = autosparse.prunable_parameters(model)
        assert all(torch.all(params[k][~masks[k].cuda()] == 0) for k in masks)
        assert all(h["train_loss"] == h["train_loss"] for h in res.history)  # no NaN
    assert any("captured the training step" in m for m in logs[1])
    assert not any("captured" in m for m in logs[0])
    for k, eager in finals[0].items():
        if eager.is_floating_point() and eager.numel() > 1:
            rel = (finals[1][k] - eager).norm() / eager.norm().clamp_min(1e-12)
            assert rel < 0.05, (k, float(rel))


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_the_captured_step_reads_its_lr_from_the_device_tensor_and_leaves_the_group_as_it_was(
        mnist_batch, optimizer):
    """What a CUDA graph of the step needs from torch.optim (checked on the CPU, no graph here):
    inside the warm-up and captured steps every group's lr is :attr:`CapturedStep.lr` (a tensor
    the fused kernels read, refilled each epoch) and Adam is capturable; outside them the group
    holds its float lr again (the ragged eager step and the checkpoint)."""
    from autosparse.training import CapturedStep, make_optimizer

    x, y = mnist_batch
    model = autosparse.build_model("lenet_300_100", 10, 0.25, (1, 28, 28), seed=0)
    opt = make_optimizer(model.parameters(), autosparse.TrainConfig(optimizer=optimizer, lr=0.1),
                         fused=True)
    seen = []

    def step(idx, off, flip):
        seen.append([(g["lr"], g.get("capturable")) for g in opt.param_groups])
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        return loss.detach()

    captured = CapturedStep(step, opt, 8, torch.device("cpu"), print)
    captured.lr.fill_(opt.param_groups[0]["lr"])
    before = _weights(model)
    captured._static_step(None, None)
    assert all(lr is captured.lr and cap in (True, None) for lr, cap in seen[0])
    assert [(g["lr"], g.get("capturable")) for g in opt.param_groups] == [
        (0.1, False if optimizer == "adam" else None)]
    assert not all(torch.equal(a, b) for a, b in zip(before, _weights(model)))  # it stepped
    assert not any(isinstance(v, torch.Tensor) for g in opt.state_dict()["param_groups"]
                   for v in g.values())


def test_cuda_graph_is_ignored_on_the_cpu_bit_for_bit(mnist):
    """On the CPU the captured step runs eagerly: cuda_graph changes nothing, bit for bit."""
    train, _ = _small(mnist, 300)
    finals = []
    for graph in (False, True):
        model = autosparse.build_model("lenet_300_100", 10, seed=0)
        autosparse.train(model, train, None, _cfg(cuda_graph=graph, device="cpu"), log=print)
        finals.append(_weights(model))
    assert all(torch.equal(a, b) for a, b in zip(*finals))
