"""Fault suite: bad values on every command line, each refused with exit status 2 and one
``error:`` line naming the offending value, no traceback, nothing written at ``--out``.
(Config values: tests/test_workflow.py; damaged artifacts and writers: test_store_safety.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from autosparse.cli import main

LENET = ["--model", "lenet_300_100", "--dataset", "mnist", "--width", "0.25"]
TRAIN = ["train", *LENET, "--epochs", "1", "--train-per-class", "5", "--test-per-class", "5"]
PRUNE = ["prune", *LENET, "--method", "magnitude", "--sparsity", "0.9"]
SCORE = ["score", *LENET, "--method", "snip"]
IRP = ["irp", *LENET, "--criterion", "magnitude", "--iterations", "2", "--epochs", "1",
       "--train-per-class", "5", "--test-per-class", "5"]

# (case id, command line, the value the error must name); "OUT" is replaced by a fresh path
CASES = [
    # train
    ("train-model", ["train", "--model", "resnet99", "--dataset", "mnist"], "resnet99"),
    ("train-dataset", ["train", "--model", "lenet_300_100", "--dataset", "mnist2"], "mnist2"),
    ("train-width-zero", [*TRAIN[:1], "--model", "lenet_300_100", "--dataset", "mnist",
                          "--width", "0"], "width"),
    ("train-epochs-zero", [*TRAIN, "--epochs", "0"], "epochs"),
    ("train-epochs-text", [*TRAIN, "--epochs", "three"], "three"),
    ("train-set-unknown-key", [*TRAIN, "--set", "lrr=0.1"], "lrr"),
    ("train-set-no-equals", [*TRAIN, "--set", "lr"], "lr"),
    ("train-lr-negative", [*TRAIN, "--set", "lr=-1"], "-1"),
    ("train-optimizer", [*TRAIN, "--set", "optimizer=adamw"], "adamw"),
    ("train-batch-size", [*TRAIN, "--set", "batch_size=0"], "batch_size"),
    ("train-mask-missing", [*TRAIN, "--mask", "/nonexistent/m.zarr"], "/nonexistent/m.zarr"),
    ("train-per-class-zero", [*TRAIN, "--train-per-class", "0"], "train_per_class"),
    ("train-max-runtime", [*TRAIN, "--max-runtime", "-5"], "-5"),
    ("train-device", [*TRAIN, "--set", "device=tpu"], "tpu"),
    ("train-data-root", [*TRAIN, "--data-root", "/nonexistent/data"], "/nonexistent/data"),
    # prune
    ("prune-sparsity-one", [*PRUNE, "--sparsity", "1.0"], "1.0"),
    ("prune-sparsity-negative", [*PRUNE, "--sparsity", "-0.1"], "-0.1"),
    ("prune-sparsity-text", [*PRUNE, "--sparsity", "most"], "most"),
    ("prune-method", [*PRUNE, "--method", "snap"], "snap"),
    ("prune-scope", [*PRUNE, "--scope", "layer"], "layer"),
    ("prune-rounds", [*PRUNE, "--rounds", "0"], "rounds"),
    ("prune-ablation", [*PRUNE, "--ablation", "flip"], "flip"),
    ("prune-scores-missing", [*PRUNE, "--scores", "/nonexistent/s.zarr"], "/nonexistent/s.zarr"),
    ("prune-device", [*PRUNE, "--device", "gpu0"], "gpu0"),
    ("prune-option-unknown", [*PRUNE, "--set", "temperature=2"], "temperature"),
    ("prune-n-per-class", [*PRUNE, "--n-per-class", "0"], "n-per-class"),
    ("prune-model", ["prune", "--model", "vgg99", "--dataset", "mnist", "--method", "snip",
                     "--sparsity", "0.9"], "vgg99"),
    ("prune-reinit-same-seed", [*PRUNE, "--ablation", "reinit", "--ablation-seed", "0"],
     "--seed 0"),
    # score
    ("score-iterative-method", [*SCORE[:-1], "synflow"], "synflow"),
    ("score-method", [*SCORE[:-1], "snipp"], "snipp"),
    ("score-dataset", ["score", "--model", "lenet_300_100", "--dataset", "imagenet",
                       "--method", "snip"], "imagenet"),
    # irp
    ("irp-criterion", [*IRP[:-10], "--criterion", "magnitud", *IRP[-8:]], "magnitud"),
    ("irp-iterations-zero", [*IRP, "--iterations", "0"], "iterations"),
    ("irp-final-density", [*IRP, "--final-density", "1.5"], "final_density"),
    ("irp-final-density-zero", [*IRP, "--final-density", "0"], "final_density"),
    ("irp-schedule", [*IRP, "--schedule", "cosine"], "cosine"),
    ("irp-scope", [*IRP, "--scope", "layerwise"], "layerwise"),
    ("irp-grad-reduction", [*IRP, "--grad-reduction", "max"], "max"),
    ("irp-set-unknown-key", [*IRP, "--set", "epoch=2"], "epoch"),
    ("irp-save-trained", [*IRP, "--save-trained", "maybe"], "maybe"),
    # survival, scorer, tables, figures, export
    ("survival-irp-missing", ["survival", "--irp", "/nonexistent/x.zarr"], "/nonexistent/x.zarr"),
    ("survival-rule", ["survival", "--irp", "/nonexistent/x.zarr", "--rule", "max"], "max"),
    ("scorer-data-missing", ["scorer-train", "--data", "/nonexistent/surv"], "/nonexistent/surv"),
    ("scorer-arch", ["scorer-train", "--data", "/nonexistent/surv", "--arch", "resnet50"],
     "resnet50"),
    ("scorer-inputs", ["scorer-train", "--data", "/nonexistent/surv", "--inputs", "weights"],
     "weights"),
    ("inspect-missing", ["inspect", "/nonexistent/irp.zarr"], "/nonexistent/irp.zarr"),
    ("export-missing", ["export-mask", "/nonexistent/irp.zarr"], "/nonexistent/irp.zarr"),
    ("table-name", ["table", "--name", "table7", "--metrics", "/nonexistent/m.json"], "table7"),
    ("figure-name", ["figure", "--name", "fig2", "--inputs", "/nonexistent/m.json"], "fig2"),
]


@pytest.mark.parametrize("argv, needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_value_refused_cleanly(argv, needle, data_root, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [*argv, "--out", str(out)] if argv[0] != "inspect" else argv
    if "--data-root" not in argv and argv[0] in ("train", "prune", "score", "irp"):
        argv += ["--data-root", str(data_root)]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: a value of the wrong type or choice
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert "error:" in err and needle in err, err
    assert not out.exists() and not list(Path(tmp_path).glob(".out.*"))


def test_the_suite_is_large():
    assert len(CASES) >= 45
