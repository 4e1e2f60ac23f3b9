"""Store safety: ``--out`` never removes what it does not own, stale temps of dead writers are
cleaned, and damaged mask/score/IRP stores fail cleanly (DamagedArtifactError, exit 2) instead of
being read as zeros."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from autosparse import irp, survival
from autosparse.cli import main
from autosparse.methods.lottery import read_irp_masks
from autosparse.store import (
    INTEGRITY_ATTR,
    KIND_ATTR,
    DamagedArtifactError,
    OutputConflictError,
    UnverifiedArtifactWarning,
    array_digest,
    artifact_kind,
    read_mask_store,
    read_score_store,
    write_mask_store,
    writer_lock,
)

REPO = Path(__file__).resolve().parents[1]
MODEL = ["--model", "lenet_300_100", "--dataset", "mnist", "--width", "0.25", "--seed", "0"]


def tiny() -> irp.IRPConfig:
    """A 2-iteration IRP run on 200 MNIST images (seconds)."""
    return irp.IRPConfig(model="lenet_300_100", dataset="mnist", criterion="magnitude",
                         iterations=2, width=0.1, train_overrides={"epochs": 1},
                         train_per_class=20, test_per_class=10)


def score_args(data_root: Path, out: Path, *extra: str) -> list[str]:
    return ["score", *MODEL, "--method", "snip", "--data-root", str(data_root), "--device",
            "cpu", "--out", str(out), *extra]


def prune_args(data_root: Path, out: Path, *extra: str, sparsity: str = "0.9") -> list[str]:
    return ["prune", *MODEL, "--method", "snip", "--sparsity", sparsity, "--data-root",
            str(data_root), "--device", "cpu", "--out", str(out), *extra]


def irp_args(data_root: Path, out: Path) -> list[str]:
    return ["irp", "--model", "lenet_300_100", "--dataset", "mnist", "--criterion", "magnitude",
            "--iterations", "2", "--width", "0.1", "--epochs", "1", "--train-per-class", "20",
            "--test-per-class", "10", "--data-root", str(data_root), "--out", str(out)]


@pytest.fixture(scope="module")
def stores(tmp_path_factory, data_root) -> dict[str, Path]:
    """One store of each kind, written by the CLI / the library (copy before damaging)."""
    d = tmp_path_factory.mktemp("stores")
    out = {"irp": d / "irp.zarr", "score": d / "s.zarr", "mask": d / "m.zarr"}
    irp.run_irp(tiny(), out["irp"], data_root, log=lambda m: None)
    assert main(score_args(data_root, out["score"])) == 0
    assert main(prune_args(data_root, out["mask"])) == 0
    return out


def user_folder(path: Path) -> dict[str, bytes]:
    """A folder of a user's files (nested); returns its contents for comparison."""
    (path / "sub").mkdir(parents=True)
    (path / "notes.txt").write_text("mine")
    (path / "sub" / "data.bin").write_bytes(b"\x00\x01" * 10)
    (path / "sub" / "zarr.json").write_text("{}")  # even a zarr.json that is not ours
    return snapshot(path)


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def chunk_files(array_dir: Path) -> list[Path]:
    return sorted(p for p in (array_dir / "c").rglob("*") if p.is_file())


def damage(chunk: Path, how: str) -> None:
    """Delete a chunk file, or truncate it to half its size."""
    if how == "delete":
        chunk.unlink()
    else:
        data = chunk.read_bytes()
        chunk.write_bytes(data[: len(data) // 2])


def clean_failure(capsys, code: int, *needles: str) -> str:
    """The CLI failed with exit 2, one error line naming ``needles``, no traceback."""
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, (n, err)
    return err


# --- defect 1: --out never removes what is not a same-kind artifact --------------------------------


@pytest.mark.parametrize("command", ["export-mask", "prune", "score", "irp", "survival"])
def test_out_user_folder_refused_files_intact(command, stores, data_root, tmp_path, capsys):
    out = tmp_path / "results"
    before = user_folder(out)
    args = {"export-mask": ["export-mask", str(stores["irp"]), "--iteration", "1", "--out",
                            str(out)],
            "prune": prune_args(data_root, out), "score": score_args(data_root, out),
            "irp": irp_args(data_root, out),
            "survival": ["survival", "--irp", str(stores["irp"]), "--out", str(out)]}[command]
    code = main(args)
    err = clean_failure(capsys, code, str(out))
    assert snapshot(out) == before
    if command != "irp":
        assert "refusing to replace" in err and "(it holds 3 files)" in err
    assert not list(tmp_path.glob(".results.*"))  # no temp left behind


@pytest.mark.parametrize("command, expensive", [("prune", "autosparse.pruning.theta0"),
                                                 ("score", "autosparse.pruning.theta0"),
                                                 ("survival", "autosparse.survival.from_store")])
def test_out_refused_before_any_expensive_work(command, expensive, stores, data_root, tmp_path,
                                               capsys, monkeypatch):
    """The conflict is found before a network is built or an IRP store read, not at write time."""
    out = tmp_path / "results"
    user_folder(out)
    called = []
    monkeypatch.setattr(expensive, lambda *a, **k: called.append(a) or 1 / 0)
    args = {"prune": prune_args(data_root, out), "score": score_args(data_root, out),
            "survival": ["survival", "--irp", str(stores["irp"]), "--out", str(out)]}[command]
    clean_failure(capsys, main(args), "refusing to replace", str(out))
    assert not called


def test_export_mask_refuses_other_kind_and_files(stores, tmp_path, capsys):
    """``--out`` naming an IRP store (another kind) or a plain file: refused, both intact."""
    other = copy(stores["irp"], tmp_path / "other.zarr")
    before = snapshot(other)
    code = main(["export-mask", str(stores["irp"]), "--out", str(other)])
    clean_failure(capsys, code, "an IRP store written by autosparse, not a mask store")
    assert snapshot(other) == before
    f = tmp_path / "file.txt"
    f.write_text("keep")
    code = main(["export-mask", str(stores["irp"]), "--out", str(f)])
    clean_failure(capsys, code, "it is a file")
    assert f.read_text() == "keep"
    before = user_folder(tmp_path / "results")
    with pytest.raises(OutputConflictError, match="not a mask store written by autosparse"):
        write_mask_store(tmp_path / "results", {"w": torch.ones(3, dtype=torch.bool)})
    assert snapshot(tmp_path / "results") == before


def test_same_kind_artifact_replaced(stores, data_root, tmp_path, capsys):
    """A mask store (also one written before the kind attr) and a score store are replaced;
    an empty folder and a missing path are fine."""
    out = copy(stores["mask"], tmp_path / "m.zarr")
    assert main(prune_args(data_root, out, sparsity="0.5")) == 0
    assert read_mask_store(out)[1]["requested_sparsity"] == 0.5
    strip_records(out)  # as written before this change: recognised by its layout
    assert main(["export-mask", str(stores["irp"]), "--iteration", "2", "--out", str(out)]) == 0
    assert read_mask_store(out)[1]["iteration"] == 2
    sc = copy(stores["score"], tmp_path / "s.zarr")
    assert main(score_args(data_root, sc, "--n-per-class", "5")) == 0
    assert read_score_store(sc)[1]["n_per_class"] == 5
    ds = tmp_path / "ds"
    for rule in ("concat", "mean"):  # a survival dataset (Parquet, no zarr attrs) is replaced
        assert main(["survival", "--irp", str(stores["irp"]), "--rule", rule, "--out",
                     str(ds)]) == 0
        assert survival.read_metadata(ds)["rule"] == rule
    code = main(["survival", "--irp", str(stores["irp"]), "--out", str(sc)])
    clean_failure(capsys, code, "it is a score store written by autosparse, not a survival "
                                "dataset")
    assert read_score_store(sc)[1]["n_per_class"] == 5
    empty = tmp_path / "empty.zarr"
    empty.mkdir()
    assert main(["export-mask", str(stores["irp"]), "--out", str(empty)]) == 0
    assert read_mask_store(empty)[1][KIND_ATTR] == "mask_store"
    capsys.readouterr()


def test_stale_temps_of_dead_writers_cleaned(tmp_path):
    """Temps of a dead pid on this host are removed when the next writer starts; those of a live
    writer or of another host stay."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    dead, live, host = proc.pid, os.getppid(), socket.gethostname()
    out = tmp_path / "m.zarr"
    stale = tmp_path / f".m.zarr.tmp-{dead}@{host}"
    stale_old = tmp_path / f".m.zarr.old-{dead}@{host}"
    running = tmp_path / f".m.zarr.tmp-{live}@{host}"
    elsewhere = tmp_path / f".m.zarr.tmp-{dead}@another-host.example"
    unrelated = tmp_path / f".n.zarr.tmp-{dead}@{host}"
    for p in (stale, stale_old, running, elsewhere, unrelated):
        (p / "mask").mkdir(parents=True)
        (p / "mask" / "x").write_text("partial")
    write_mask_store(out, {"w": torch.ones(4, dtype=torch.bool)})
    assert not stale.exists() and not stale_old.exists()
    assert running.exists() and elsewhere.exists() and unrelated.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".m.zarr")) == \
        sorted([running.name, elsewhere.name])


def test_killed_writer_temp_cleaned_by_next_writer(tmp_path):
    """A writer killed inside atomic_dir leaves its temp; the next writer of that output
    removes it."""
    out = tmp_path / "m.zarr"
    code = ("import os, sys; from autosparse.store import atomic_dir\n"
            "cm = atomic_dir(sys.argv[1]); t = cm.__enter__(); t.mkdir()\n"
            "(t / 'zarr.json').write_text('{}'); os._exit(9)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    assert subprocess.run([sys.executable, "-c", code, str(out)], env=env, cwd=REPO).returncode == 9
    assert len(list(tmp_path.glob(".m.zarr.tmp-*"))) == 1
    write_mask_store(out, {"w": torch.ones(4, dtype=torch.bool)})
    assert not list(tmp_path.glob(".m.zarr.tmp-*"))
    assert read_mask_store(out)[0]["w"].all()


# --- defect 2: damaged artifacts fail cleanly ------------------------------------------------------


@pytest.mark.parametrize("how", ["delete", "truncate"])
def test_damaged_mask_store_train_fails(how, stores, data_root, tmp_path, capsys):
    store = copy(stores["mask"], tmp_path / "m.zarr")
    damage(chunk_files(store / "mask" / "fc1.weight")[0], how)
    with pytest.raises(DamagedArtifactError, match=r"m\.zarr: array mask/fc1\.weight: "):
        read_mask_store(store)
    metrics = tmp_path / "metrics.json"
    code = main(["train", *MODEL, "--mask", str(store), "--epochs", "1", "--train-per-class",
                 "2", "--test-per-class", "2", "--data-root", str(data_root), "--out",
                 str(metrics)])
    what = "content digest mismatch" if how == "delete" else "cannot decode a chunk"
    clean_failure(capsys, code, str(store), "array mask/fc1.weight", what)
    assert not metrics.exists()


@pytest.mark.parametrize("how", ["delete", "truncate"])
def test_damaged_score_store_prune_fails(how, stores, data_root, tmp_path, capsys):
    store = copy(stores["score"], tmp_path / "s.zarr")
    damage(chunk_files(store / "scores" / "fc2.weight")[0], how)
    out = tmp_path / "m.zarr"
    code = main(prune_args(data_root, out, "--scores", str(store)))
    what = "content digest mismatch" if how == "delete" else "cannot decode a chunk"
    clean_failure(capsys, code, str(store), "array scores/fc2.weight", what)
    assert not out.exists() and not list(tmp_path.glob(".m.zarr*"))


@pytest.mark.parametrize("how", ["delete", "truncate"])
def test_damaged_irp_store_readers_fail(how, stores, tmp_path, capsys):
    """A damaged committed mask slice: export-mask, survival and lottery fail naming the store,
    the array and the iteration; nothing is written."""
    store = copy(stores["irp"], tmp_path / "irp.zarr")
    damage(store / "masks" / "fc1.weight" / "c" / "2" / "0" / "0", how)
    what = "content digest mismatch" if how == "delete" else "cannot decode a chunk"
    need = (str(store), "array masks/fc1.weight, iteration 2", what)
    out = tmp_path / "m.zarr"
    code = main(["export-mask", str(store), "--iteration", "2", "--out", str(out)])
    clean_failure(capsys, code, *need)
    assert not out.exists()
    ds = tmp_path / "ds"
    code = main(["survival", "--irp", str(store), "--out", str(ds)])
    clean_failure(capsys, code, *need)
    assert not ds.exists()
    with pytest.raises(DamagedArtifactError, match="array masks/fc1.weight, iteration 2"):
        read_irp_masks(store)
    # an undamaged iteration still exports
    assert main(["export-mask", str(store), "--iteration", "1", "--out", str(out)]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("how", ["delete", "truncate"])
def test_damaged_irp_theta0_fails(how, stores, tmp_path, capsys):
    store = copy(stores["irp"], tmp_path / "irp.zarr")
    damage(chunk_files(store / "theta0" / "fc2.weight")[0], how)
    code = main(["survival", "--irp", str(store), "--out", str(tmp_path / "ds")])
    clean_failure(capsys, code, str(store), "array theta0/fc2.weight")
    with pytest.raises(DamagedArtifactError, match="theta0/fc2.weight"):
        read_irp_masks(store)


def test_damaged_store_subprocess_exit_code(stores, tmp_path):
    """The real command line: non-zero exit, the message on stderr, no traceback."""
    store = copy(stores["irp"], tmp_path / "irp.zarr")
    damage(store / "masks" / "fc2.weight" / "c" / "1" / "0" / "0", "truncate")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "m.zarr"
    res = subprocess.run([sys.executable, "-m", "autosparse", "export-mask", str(store),
                          "--iteration", "1", "--out", str(out)], env=env, cwd=REPO,
                         capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{store}: array masks/fc2.weight, iteration 1: cannot decode" in res.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def survival_and_scorer(stores, tmp_path_factory) -> dict[str, Path]:
    """A survival dataset (the CLI, page checksums) and an MLP scorer trained on it."""
    d = tmp_path_factory.mktemp("surv")
    ds, sc = d / "ds", d / "scorer.pt"
    assert main(["survival", "--irp", str(stores["irp"]), "--out", str(ds)]) == 0
    assert main(["scorer-train", "--data", str(ds), "--arch", "mlp", "--epochs", "1",
                 "--threads", "1", "--out", str(sc)]) == 0
    return {"ds": ds, "scorer": sc}


@pytest.mark.parametrize("how", ["flip", "truncate"])
def test_damaged_survival_dataset_fails(how, survival_and_scorer, tmp_path, capsys):
    """A flipped byte in a page (read silently as other numbers before page checksums) or a
    truncated file: scorer training and merging fail naming the file; nothing is written."""
    ds = copy(survival_and_scorer["ds"], tmp_path / "ds")
    (part,) = ds.glob("*.parquet")
    data = bytearray(part.read_bytes())
    if how == "flip":
        for k in range(len(data) // 3, len(data) // 3 + 4):
            data[k] ^= 0x10
    else:
        data = data[: len(data) // 2]
    part.write_bytes(bytes(data))
    out = tmp_path / "s.pt"
    code = main(["scorer-train", "--data", str(ds), "--arch", "mlp", "--epochs", "1",
                 "--threads", "1", "--out", str(out)])
    clean_failure(capsys, code, str(ds))
    assert not out.exists()
    with pytest.raises(DamagedArtifactError, match=str(ds)):
        survival.read_dataset(ds)


@pytest.mark.parametrize("how", ["tensor", "truncate"])
def test_damaged_scorer_checkpoint_fails(how, survival_and_scorer, tmp_path):
    from autosparse.scorer import Scorer

    ck = tmp_path / "scorer.pt"
    shutil.copy(survival_and_scorer["scorer"], ck)
    if how == "tensor":  # one weight changed behind the recorded digests
        state = torch.load(ck, weights_only=True)
        key = next(iter(state["state_dict"]))
        state["state_dict"][key].view(-1)[0] += 1
        torch.save(state, ck)
        match = f"tensor {key}: content digest mismatch"
    else:
        ck.write_bytes(ck.read_bytes()[:1000])
        match = "unreadable"
    with pytest.raises(DamagedArtifactError, match=f"scorer checkpoint .*{match}"):
        Scorer.load(ck)
    Scorer.load(survival_and_scorer["scorer"])  # the undamaged one loads


def test_damaged_training_checkpoint_fails(data_root, tmp_path, capsys):
    """A truncated epoch checkpoint: exit 2 naming it (was a PytorchStreamReader traceback)."""
    ckpt = tmp_path / "c.pt"
    ckpt.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    metrics = tmp_path / "m.json"
    code = main(["train", *MODEL, "--epochs", "1", "--train-per-class", "2", "--test-per-class",
                 "2", "--data-root", str(data_root), "--checkpoint", str(ckpt), "--out",
                 str(metrics)])
    clean_failure(capsys, code, f"checkpoint {ckpt} is unreadable")
    assert not metrics.exists()


# --- what the stores record; older stores stay readable -------------------------------------------


def strip_records(store: Path) -> None:
    """Make ``store`` look written before this change (no kind marker, no integrity record)."""
    meta = json.loads((store / "zarr.json").read_text())
    meta["attributes"].pop(KIND_ATTR, None)
    meta["attributes"].pop(INTEGRITY_ATTR, None)
    (store / "zarr.json").write_text(json.dumps(meta))


def test_records_digests_and_kept(stores):
    masks, attrs = read_mask_store(stores["mask"])
    rec = attrs[INTEGRITY_ATTR]
    assert attrs[KIND_ATTR] == "mask_store"
    assert rec["kept"] == {k: int(m.sum()) for k, m in masks.items()}
    assert rec["arrays"] == {f"mask/{k}": array_digest(m.numpy()) for k, m in masks.items()}
    root = irp.open_store(stores["irp"])
    rec = root.attrs[INTEGRITY_ATTR]
    assert root.attrs[KIND_ATTR] == "irp_store"
    assert len(rec["iterations"]) == len(rec["kept"]) == irp.committed(root) + 1 == 3
    for i in range(3):
        m = irp.read_masks(root, i)
        assert rec["kept"][i] == {k: int(v.sum()) for k, v in m.items()}
    assert set(rec["arrays"]) == {f"{g}/{k}" for g in ("theta0", "grad0")
                                  for k in root.attrs["layers"]}


def test_older_stores_refused_unless_asked_then_read_with_warning(stores, data_root, tmp_path,
                                                                  monkeypatch, capsys):
    """A store without integrity records cannot tell a deleted chunk from data (it reads as
    zeros: a whole layer pruned): refused naming the store, read (with a warning) only under
    AUTOSPARSE_READ_UNVERIFIED=1."""
    monkeypatch.delenv("AUTOSPARSE_READ_UNVERIFIED", raising=False)
    m = copy(stores["mask"], tmp_path / "m.zarr")
    ref, _ = read_mask_store(stores["mask"])
    strip_records(m)
    with pytest.raises(DamagedArtifactError, match=r"m\.zarr: written before integrity records"):
        read_mask_store(m)
    lost = copy(m, tmp_path / "lost.zarr")  # an old store that lost a chunk: never read silently
    damage(chunk_files(lost / "mask" / "fc1.weight")[0], "delete")
    metrics = tmp_path / "metrics.json"
    code = main(["train", *MODEL, "--mask", str(lost), "--epochs", "1", "--train-per-class", "2",
                 "--test-per-class", "2", "--data-root", str(data_root), "--out", str(metrics)])
    clean_failure(capsys, code, str(lost), "AUTOSPARSE_READ_UNVERIFIED=1")
    assert not metrics.exists()
    monkeypatch.setenv("AUTOSPARSE_READ_UNVERIFIED", "1")
    with pytest.warns(UnverifiedArtifactWarning, match="m.zarr: written before integrity"):
        masks, _ = read_mask_store(m)
    assert all(torch.equal(masks[k], ref[k]) for k in ref)
    s = copy(stores["score"], tmp_path / "s.zarr")
    strip_records(s)
    with pytest.warns(UnverifiedArtifactWarning):
        assert read_score_store(s)[0].keys() == read_score_store(stores["score"])[0].keys()
    r = copy(stores["irp"], tmp_path / "irp.zarr")
    strip_records(r)
    with pytest.warns(UnverifiedArtifactWarning, match="irp.zarr"):
        counts = irp.survival_counts(irp.open_store(r))
    ref_counts = irp.survival_counts(irp.open_store(stores["irp"]))
    assert all(np.array_equal(counts[k], ref_counts[k]) for k in ref_counts)


@pytest.mark.parametrize("kind", ["mask", "score", "irp"])
def test_a_marked_store_without_its_record_is_damaged(kind, stores, tmp_path, monkeypatch):
    """The kind marker and the record are written together: a store with the one and not the
    other has damaged metadata, refused even under AUTOSPARSE_READ_UNVERIFIED=1."""
    monkeypatch.setenv("AUTOSPARSE_READ_UNVERIFIED", "1")
    store = copy(stores[kind], tmp_path / f"{kind}.zarr")
    meta = json.loads((store / "zarr.json").read_text())
    meta["attributes"].pop(INTEGRITY_ATTR)
    (store / "zarr.json").write_text(json.dumps(meta))
    read = {"mask": read_mask_store, "score": read_score_store, "irp": read_irp_masks}[kind]
    with pytest.raises(DamagedArtifactError, match=f"{kind}.zarr: integrity record missing"):
        read(store)


# --- one writer per store ---------------------------------------------------------------------------


def hold_lock(path: Path) -> subprocess.Popen:
    """Another process holding ``path``'s writer lock until killed."""
    code = ("import sys, time; from autosparse.store import writer_lock\n"
            "with writer_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("command", ["irp", "prune"])
def test_a_second_writer_on_one_store_is_refused(command, data_root, tmp_path, capsys):
    """Two runs on one --out: the second fails at once, naming the holder, and leaves nothing;
    once the holder dies (kill -9: the kernel drops its lock) a writer proceeds."""
    out = tmp_path / "store.zarr"
    args = irp_args(data_root, out) if command == "irp" else prune_args(data_root, out)
    proc = hold_lock(out)
    try:
        clean_failure(capsys, main(args), f"{out} is being written by pid {proc.pid}")
        assert not out.exists() and not list(tmp_path.glob(".store.zarr.tmp-*"))
    finally:
        proc.kill()
        proc.wait()
    assert main(args) == 0 and artifact_kind(out) is not None


def test_writer_lock_is_reentrant_within_a_process(tmp_path):
    out = tmp_path / "x"
    with writer_lock(out), writer_lock(out):
        pass
    with writer_lock(out):  # released
        assert (tmp_path / ".x.lock").read_text().startswith(f"pid {os.getpid()} on ")
    assert not list(tmp_path.iterdir())  # no lock file left behind
