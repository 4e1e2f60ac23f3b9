"""kill -9 under Snakemake, then rerun: IRP and retraining continue where they stopped (the
iteration / epoch in progress at most is redone) and end bit-identical to an uninterrupted run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr

REPO = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)
# Smoke-sized, with enough epochs per job that a kill lands mid-run.
OVERLAY = {"irp": {"epochs": 3, "train_per_class": 60},
           "train": {"epochs": 6, "train_per_class": 60}}
IRP = "results/irp/lenet_300_100-mnist-snip-n4-s0.zarr"
TARGET = "lenet_300_100-mnist-w1"
METRICS = f"results/metrics/{TARGET}/magnitude/s0.9/seed0.json"

pytestmark = pytest.mark.slow


def start(workdir: Path, target: str, *extra: str, overlay: dict = OVERLAY) -> subprocess.Popen:
    (workdir / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "-d", str(workdir),
           "--cores", "1", target, *extra, "--configfile", str(REPO / "config/smoke.yaml"),
           str(workdir / "overlay.yaml")]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": BIN + os.pathsep + os.environ["PATH"]}
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finish(workdir: Path, target: str, *extra: str, overlay: dict = OVERLAY) -> str:
    proc = start(workdir, target, *extra, overlay=overlay)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return out


def kill_when(proc: subprocess.Popen, ready, timeout: float = 300) -> None:
    """kill -9 Snakemake and its jobs (one session) as soon as ``ready()``."""
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, "the job never reached the kill point"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def rerun(workdir: Path, target: str) -> str:
    """What a user does after Snakemake itself was killed: unlock, rerun incomplete jobs."""
    finish(workdir, target, "--unlock")
    return finish(workdir, target, "--rerun-incomplete")


def committed(store: Path) -> int:
    try:
        return int(json.loads((store / "zarr.json").read_text())["attributes"]
                   ["completed_iterations"])
    except (OSError, ValueError, KeyError):
        return 0


def test_irp_killed_under_snakemake_resumes_at_the_iteration_in_progress(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for d in (clean, killed):
        d.mkdir()
    finish(clean, IRP)
    proc = start(killed, IRP)
    work = killed / "results/.work/irp"

    def mid_iteration_2() -> bool:  # iteration 1 committed, an epoch of iteration 2 trained
        stores = list(work.glob("*.zarr")) if work.is_dir() else []
        return bool(stores) and committed(stores[0]) >= 1 and any(work.glob("*.ckpt/iter2.pt"))

    kill_when(proc, mid_iteration_2)
    (staged,) = work.glob("*.zarr")
    done = committed(staged)
    ckpt_left = bool(list(work.glob(f"*.ckpt/iter{done + 1}.pt")))  # epochs of the next one
    assert not (killed / IRP).exists()  # the output appears only when complete
    out = rerun(killed, IRP)
    log = (killed / "results/logs/irp" / (Path(IRP).stem + ".log")).read_text()
    redone = [int(m) for m in re.findall(r"^iter (\d+)/4 density", log, re.M)]  # completed
    print(f"IRP killed with {done}/4 iterations committed; the rerun trained iterations {redone}")
    assert redone == list(range(done + 1, 5)), (log, out)  # committed iterations not redone
    assert re.search(r"resuming at iteration \d+/4", log)
    # the iteration in progress continues from its epoch checkpoint: count the epochs it trained
    m = re.search(rf"^iter {done + 1}/4: resuming from .* at epoch (\d+)/3", log, re.M)
    assert bool(m) == ckpt_left, log
    kept = int(m.group(1)) if m else 0
    epochs = [int(e) for e in re.findall(rf"^iter {done + 1}/4: epoch (\d+)/3", log, re.M)]
    print(f"iteration {done + 1} resumed after epoch {kept}/3; the rerun trained its epochs {epochs}")
    assert epochs == list(range(kept + 1, 4)), log  # no checkpointed epoch trained again
    a, b = (zarr.open_group(str(d / IRP), mode="r") for d in (clean, killed))
    assert a.attrs["test_accuracy"] == b.attrs["test_accuracy"]
    for layer in a.attrs["layers"]:
        assert np.array_equal(a["masks"][layer][:], b["masks"][layer][:]), layer
    assert not list(work.glob("*"))  # published: nothing left in the work folder


def test_retrain_killed_under_snakemake_resumes_at_the_epoch_in_progress(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for d in (clean, killed):
        d.mkdir()
    finish(clean, METRICS)
    work = killed / "results/.work/retrain" / TARGET / "magnitude/s0.9"
    proc = start(killed, METRICS)  # the checkpoint is named by the run's identity hash
    kill_when(proc, lambda: any(c.stat().st_size > 0 for c in work.glob("seed0-*.pt")))
    (ckpt,) = work.glob("seed0-*.pt")
    assert re.fullmatch(r"seed0-[0-9a-f]{12}\.pt", ckpt.name), ckpt.name
    out = rerun(killed, METRICS)
    log = (killed / "results/logs/retrain" / TARGET / "magnitude/s0.9/seed0.log").read_text()
    m = re.search(r"resuming from .* at epoch (\d+)/6", log)
    assert m, (log, out)
    trained = [int(e) for e in re.findall(r"^epoch (\d+)/6", log, re.M)]
    print(f"retraining killed after epoch {m.group(1)}/6 was checkpointed; the rerun trained "
          f"epochs {trained}")
    assert trained == list(range(int(m.group(1)) + 1, 7))  # only the epochs not checkpointed
    a, b = (json.loads((d / METRICS).read_text()) for d in (clean, killed))
    assert a["test_accuracy"] == b["test_accuracy"]
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    assert not ckpt.exists()  # removed once the job succeeded


def test_time_budget_under_snakemake_stops_and_the_retries_continue(tmp_path):
    """``irp.max_runtime`` / ``train.max_runtime`` (seconds) with ``retries``: every attempt stops
    at a committed iteration / epoch (exit 75), Snakemake reruns it, and the last attempt ends
    bit-identical to a run without a budget; no iteration or epoch is trained twice."""
    clean, budget = tmp_path / "clean", tmp_path / "budget"
    for d in (clean, budget):
        d.mkdir()
    # full MNIST: an epoch (~1.5 s) outlasts the 1 s budget, so each attempt trains one epoch
    # (IRP: 4 iterations x 3 epochs = 12 attempts)
    full = {k: {**v, "train_per_class": None} for k, v in OVERLAY.items()}
    finish(clean, IRP, METRICS, overlay=full)
    budgeted = {k: {**v, "max_runtime": 1, "retries": 20} for k, v in full.items()}
    out = finish(budget, IRP, METRICS, overlay=budgeted)
    assert len(re.findall(r"Trying to restart job", out)) >= 4, out
    a, b = (zarr.open_group(str(d / IRP), mode="r") for d in (clean, budget))
    assert a.attrs["test_accuracy"] == b.attrs["test_accuracy"]
    for layer in a.attrs["layers"]:
        assert np.array_equal(a["masks"][layer][:], b["masks"][layer][:]), layer
    m_a, m_b = (json.loads((d / METRICS).read_text()) for d in (clean, budget))
    assert [h["train_loss"] for h in m_a["history"]] == [h["train_loss"] for h in m_b["history"]]
    log = (budget / "results/logs/retrain" / TARGET / "magnitude/s0.9/seed0.log").read_text()
    assert re.findall(r"^epoch (\d+)/6", log, re.M) == ["6"], log  # the last attempt: one epoch
