"""The artifact modules (``autosparse.artifacts``): old import paths re-export them, the atomic
single-file writer, and the torch-free modules stay torch-free."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import autosparse.irp
import autosparse.store
from autosparse.artifacts import atomic, identity, integrity, irp_learning, irp_store, mask_store

REPO = Path(__file__).resolve().parents[1]


def test_store_re_exports_the_artifact_modules():
    homes = (atomic, identity, integrity, mask_store)
    for name in autosparse.store.__all__:
        obj = getattr(autosparse.store, name)
        assert any(getattr(m, name, None) is obj for m in homes), name


def test_irp_re_exports_the_irp_store():
    for name in ("create_store", "open_store", "committed", "read_masks", "read_layer",
                 "survival_counts", "export_mask", "work_store", "learning_check",
                 "inspect_store", "commit_iteration"):
        assert getattr(autosparse.irp, name) is getattr(irp_store, name), name
    for name in ("above_chance", "LEARNED_Z", "LEARNED_RATIO"):
        assert getattr(autosparse.irp, name) is getattr(irp_learning, name), name
    assert autosparse.irp._commit is irp_store.commit_iteration
    assert autosparse.irp.config_hash is identity.config_hash


def test_replace_file_replaces_on_success_only(tmp_path):
    out = tmp_path / "sub" / "a.txt"
    atomic.write_text(out, "one")
    assert out.read_text() == "one"
    with pytest.raises(RuntimeError), atomic.replace_file(out) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert out.read_text() == "one"
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.txt"]
    atomic.write_bytes(out, b"two")
    assert out.read_bytes() == b"two"


def test_replace_file_removes_stale_temps_of_dead_writers(tmp_path):
    proc = subprocess.Popen(["true"])
    proc.wait()
    out = tmp_path / "a.json"
    host = atomic._host_tag()
    stale = [tmp_path / f".a.json.tmp-{proc.pid}@{host}", tmp_path / f"a.json.tmp-{proc.pid}@{host}"]
    live = tmp_path / f".a.json.tmp-{os.getppid()}@{host}"
    for p in (*stale, live):
        p.write_text("partial")
    atomic.write_json_atomic(out, {"b": 1, "a": 2})
    assert out.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert not any(p.exists() for p in stale) and live.exists()


def test_torch_files_name_their_archive_independently_of_pid_and_host(tmp_path, monkeypatch):
    """torch.save names the archive inside after the temp up to its last dot: the temp name's
    pid@host tag must hold no dot, or the bytes would depend on the host."""
    from autosparse.retrain import save_weights

    monkeypatch.setattr(atomic.socket, "gethostname", lambda: "node7.cluster.example.org")
    out = tmp_path / "w.pt"
    save_weights(torch.nn.Linear(3, 2), out)
    names = zipfile.ZipFile(out).namelist()
    assert names and all(n.startswith("w.pt/") for n in names), names
    assert torch.load(out, weights_only=True)["weight"].shape == (2, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["w.pt"]


def test_scorer_checkpoint_archive_name_is_that_of_its_hidden_temp(tmp_path, monkeypatch):
    """Scorer checkpoints were written through ``.<name>.tmp-<pid>``: replace_file keeps the
    archive name (``.<name>/``) and so the bytes, whatever the host."""
    from autosparse.artifacts.scorer_checkpoint import save_checkpoint

    monkeypatch.setattr(atomic.socket, "gethostname", lambda: "gpu3.example.org")
    out = save_checkpoint(tmp_path / "s.pt", {"x": torch.ones(2)})
    assert all(n.startswith(".s.pt/") for n in zipfile.ZipFile(out).namelist())
    assert [p.name for p in tmp_path.iterdir()] == ["s.pt"]


def test_metrics_round_trip_and_damaged_metrics_are_refused(tmp_path):
    from autosparse.artifacts.metrics import read_metrics, write_metrics

    out = tmp_path / "0.json"
    write_metrics(out, {"test_accuracy": 97.5, "test_size": 10000})
    assert read_metrics(out) == {"test_accuracy": 97.5, "test_size": 10000}
    text = out.read_text()
    for bad, why in ((text[: len(text) // 2], "not valid JSON"), ("[97.5]", "JSON object"),
                     ('{"test_size": 3}', "missing test_accuracy"),
                     ('{"test_accuracy": null}', "not a percentage"),
                     ('{"test_accuracy": 250}', "not a percentage")):
        out.write_text(bad)
        with pytest.raises(integrity.DamagedArtifactError, match=why) as e:
            read_metrics(out)
        assert str(out) in str(e.value)
    with pytest.raises(integrity.DamagedArtifactError, match="not a percentage"):
        write_metrics(tmp_path / "1.json", {"test_accuracy": float("nan")})
    assert not (tmp_path / "1.json").exists()


@pytest.mark.parametrize("module", ["atomic", "identity", "integrity", "irp_learning", "metrics"])
def test_torch_free_artifact_modules(module):
    code = (f"import sys, autosparse.artifacts.{module}; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr


def test_irp_store_record_is_the_one_builder_and_lottery_reads_through_it(tmp_path):
    """create_store + commit_iteration record what irp_integrity builds from the same slices;
    the mask history lottery reads is those slices; another kind of store is refused."""
    import numpy as np

    from autosparse.irp import IRPConfig

    cfg = IRPConfig(model="lenet_300_100", dataset="mnist", criterion="magnitude", iterations=2)
    g = torch.Generator().manual_seed(0)
    theta0 = {"a.weight": torch.randn(4, 3, generator=g), "b.weight": torch.randn(2, 4, generator=g)}
    grad0 = {k: torch.randn(v.shape, generator=g) for k, v in theta0.items()}
    out = tmp_path / "irp.zarr"
    irp_store.create_store(out, cfg, theta0, grad0, {"train_size": 1, "test_size": 1})
    root = irp_store.open_store(out, "r+")
    history = [{k: torch.ones_like(v, dtype=torch.bool) for k, v in theta0.items()}]
    for i, d in enumerate((0.5, 0.25), start=1):
        history.append({k: (v.abs() >= v.abs().flatten().quantile(1 - d)) & history[-1][k]
                        for k, v in theta0.items()})
        irp_store.commit_iteration(root, i, history[-1], None,
                                   {"density": d, "train_density": 1.0, "test_accuracy": 50.0,
                                    "test_loss": 1.0, "timing": {}})
    record = irp_store.open_store(out).attrs[integrity.INTEGRITY_ATTR]
    arrays = {f"{n}/{k}": integrity.array_digest(v.numpy()) for n, layer in
              (("theta0", theta0), ("grad0", grad0)) for k, v in layer.items()}
    assert record == irp_store.irp_integrity(arrays, [{k: m.numpy() for k, m in h.items()}
                                                      for h in history])
    masks, th = irp_store.read_mask_history(out)
    for k in theta0:
        assert np.array_equal(masks[k], np.stack([h[k].numpy() for h in history]))
        assert np.array_equal(th[k], theta0[k].numpy())
    mask = tmp_path / "m.zarr"
    mask_store.write_mask_store(mask, history[-1])
    with pytest.raises(ValueError, match="not an IRP store"):
        irp_store.read_mask_history(mask)
