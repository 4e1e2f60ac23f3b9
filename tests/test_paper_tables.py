"""The paper's published values land in the right cells of our tables, laid out as the paper."""

import math

import pandas as pd
import pytest

from autosparse import paper
from autosparse.paper.render import render
from autosparse.tables import summarize, with_paper


def _runs(rows):
    return pd.DataFrame([{"model": "resnet18", "dataset": "cifar10", "width": 1.0,
                          "n_test": 10000, "epochs": 160, **r} for r in rows])


def test_values_file_is_complete():
    df = paper.load_values()
    assert set(df["table"]) == {"table1", "table2", "table3", "table4", "table5", "table6",
                                "table8", "table9", "px_table2"}
    assert not df.duplicated(["table", "row", "column"]).any()
    assert df["value"].notna().all() and set(df["unit"]) == {"%", "ccc", "s"}
    # 16 + 12 + 8 + 24 + 12 + 12 + 18 + 20 + 38 published numbers
    assert df.groupby("table").size().to_dict() == {
        "table1": 16, "table2": 12, "table3": 8, "table4": 24, "table5": 12, "table6": 12,
        "table8": 18, "table9": 20, "px_table2": 38}


@pytest.mark.parametrize("name, labels, sparsity, expected", [
    ("table4", {"irp_source": "cifar10-resnet18", "backbone": "vgg19"}, 0.95, 91.83),
    ("table4", {"irp_source": "cifar100-vgg19", "backbone": "vgg19"}, 0.99, 19.40),
    ("table2", {"inputs": "grad"}, 0.7, 93.27),
    ("table3", {"criterion": "magnitude"}, 0.99, 79.15),
    ("table5", {"iterations": 100}, 0.9, 92.20),
    ("table6", {"merge": "n3+n6+n10", "paper_row": "20+40+100"}, 0.95, 47.56),
    ("table8", {"batch_size": 4096, "lr": 0.0005}, 0.99, 53.54),
])
def test_paper_value_lands_in_its_cell(name, labels, sparsity, expected):
    runs = _runs([{**labels, "method": "autos", "variant": "autos__sc-x", "sparsity": sparsity,
                   "seed": s, "accuracy": expected + d} for s, d in enumerate((-1.0, 0.0, 1.0))])
    df = with_paper(name, summarize(runs))
    assert len(df) == 1
    row = df.iloc[0]
    assert row["paper"] == pytest.approx(expected)
    assert row["paper_diff"] == pytest.approx(0.0, abs=1e-9)
    # mean 0 + expected, std 1, t-interval half width t_{0.975,2} / sqrt(3) = 2.4841
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx(
        (expected - 2.484138, expected + 2.484138), rel=1e-5)
    md = render(name, df, "cpu")
    line = next(ln for ln in md.splitlines() if f"{expected:.2f} [" in ln)
    # the cell sits under its sparsity column, with ours / paper / difference
    def cells(ln):
        return [c.strip() for c in ln.strip().strip("|").split("|")]

    head = cells(next(ln for ln in md.splitlines() if ln.startswith("| ")))
    col = head.index(f"{100 * sparsity:g} %")
    assert cells(line)[col].endswith(f"/ {expected:.2f} / +0.00")


def test_table4_layout_has_paper_rows_and_references():
    rows = [{"irp_source": "mnist-lenet", "backbone": "resnet18", "method": "autos",
             "variant": "autos__sc-a", "sparsity": 0.9, "seed": 0, "accuracy": 90.0},
            {"irp_source": "", "backbone": "", "method": "snip", "variant": "snip",
             "sparsity": 0.9, "seed": 0, "accuracy": 89.0},
            {"irp_source": "", "backbone": "", "method": "dense", "variant": "dense",
             "sparsity": 0.0, "seed": 0, "accuracy": 93.0}]
    md = render("table4", with_paper("table4", summarize(_runs(rows))), "quick")
    body = [ln for ln in md.splitlines() if ln.startswith("| ")][2:]
    labels = [ln.split(" | ")[0][2:] for ln in body]
    # the paper's 8 rows in its order, then the dense and SNIP references
    assert labels[:2] == ["MNIST LeNet-300-100 / ResNet-18", "MNIST LeNet-300-100 / VGG-19"]
    assert len(labels) == 10 and labels[-2:] == ["Dense", "SNIP"]
    assert "pipeline check, not evidence" in md
    assert "Noise floor" in md and "0.26 points at the dense accuracy" in md
    assert math.isclose(paper.paper_cells("table4")[("tinyimagenet-resnet18|vgg19", "0.99")]
                        ["value"], 60.04)


def test_markdown_names_networks_by_display_name_csv_keeps_registry_names(tmp_path):
    """Human text says "ResNet-18 / CIFAR-10 (JPEG copy)" (our CIFAR-10 is a lossy JPEG copy);
    the tidy CSV keeps the registry names."""
    from autosparse.tables import write_table

    rows = [{"inputs": "grad", "method": "autos", "variant": "autos__sc-x", "sparsity": 0.9,
             "seed": s, "accuracy": 90.0 + s} for s in (0, 1)]
    df = with_paper("table2", summarize(_runs(rows)))
    md = render("table2", df, "cpu")
    assert "We prune **ResNet-18 / CIFAR-10 (JPEG copy)**" in md
    assert "cifar10" not in md and "resnet18" not in md
    out = tmp_path / "table2.csv"
    write_table(df, out, markdown=md)
    csv = pd.read_csv(out)
    assert set(csv["dataset"]) == {"cifar10"} and set(csv["model"]) == {"resnet18"}
    assert "CIFAR-10 (JPEG copy)" in out.with_suffix(".html").read_text()
    # another network: the setting names both ours and the paper's in display names
    other = render("table2", df.assign(model="vgg19_bn", dataset="cifar100"), "cpu")
    assert "We prune **VGG-19 (BN) / CIFAR-100**; the paper prunes ResNet-18 / CIFAR-10 (our " \
           "setting differs)" in other  # the paper's CIFAR-10 is the original
