"""Every figure of :data:`autosparse.figures.FIGURES`, drawn through the ``figure`` CLI from tiny
real runs (tests/figure_data.py): PNG, PDF and SVG written; panels labelled (a), (b), ... in
order; display names, never registry names, in the text; one style per method."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from figure_data import accuracy_inputs, irp_store, scorer_inputs

from autosparse import workflow_config as wc
from autosparse.cli import main as cli
from autosparse.figures import FIGURES, FORMATS, draw, outputs, style
from autosparse.paper import (
    DISPLAY,
    METHOD_NAMES,
    NETWORK_NAMES,
    display,
    display_net,
    display_target,
)

# panel labels each multi-panel figure shows, in reading order
PANELS = {"fig1": "abc", "fig4": "abc", "fig5": "abcd", "ablations": "ab", "beyond": "abcd"}
# registry names that must not appear as words of a figure's text
INTERNAL = ("lenet_300_100", "mnist", "magnitude", "snip", "random", "grasp", "mlp",
            "param+grad", "layer_standardize", "dense")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, mnist, data_root):
    root = tmp_path_factory.mktemp("figdata")
    out = accuracy_inputs(root, mnist)
    store = irp_store(root, data_root)
    out["fig1"] = ([store], {})
    out.update(scorer_inputs(root, store))
    return out


@pytest.fixture(scope="module")
def drawn(inputs, tmp_path_factory):
    """``{figure: png path}``: every figure drawn once through ``python -m autosparse figure``."""
    import json

    d = tmp_path_factory.mktemp("figs")
    out = {}
    for name in FIGURES:
        files, labels = inputs[name]
        png = d / f"{name}.png"
        args = ["figure", "--name", name, "--inputs", *files, "--out", str(png)]
        assert cli(args + (["--labels", json.dumps(labels)] if labels else [])) == 0, name
        out[name] = png
    return out


def svg_texts(path: Path) -> list[str]:
    """The text items of an SVG written with ``svg.fonttype = none``; mathtext items (one tspan
    per glyph, math glyphs last) are put back in reading order by their x positions."""
    import html

    items = []
    for body in re.findall(r"<text\b[^>]*>(.*?)</text>", path.read_text(), re.S):
        spans = re.findall(r'<tspan x="([-0-9.e]+)"[^>]*>(.*?)</tspan>', body, re.S)
        text = "".join(t for _, t in sorted(spans, key=lambda s: float(s[0]))) if spans else body
        items.append(html.unescape(text).replace("\xa0", " ").strip())
    return items


def test_every_figure_has_a_report_caption():
    """The report's one caption template (workflow/report/figure.rst) says what each figure
    shows; a figure missing from it would get an empty caption (Jinja renders it silently)."""
    text = (Path(__file__).resolve().parents[1] / "workflow/report/figure.rst").read_text()
    assert [n for n in FIGURES if f'"{n}":' not in text] == []


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_writes_png_pdf_svg(drawn, name):
    png = drawn[name]
    files = outputs(png)
    assert [f.suffix for f in files] == list(FORMATS) == [".png", ".pdf", ".svg"]
    assert files[0] == png and all(f.stem == name for f in files)
    heads = [f.read_bytes()[:64] for f in files]
    assert heads[0].startswith(b"\x89PNG\r\n\x1a\n") and heads[1].startswith(b"%PDF-")
    assert b"<svg" in files[2].read_bytes()[:2000]
    assert all(f.stat().st_size > 10_000 for f in files), [f.stat().st_size for f in files]
    assert not list(png.parent.glob(f".{name}.*tmp-*")), "temp files left behind"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_panel_labels_are_distinct_and_in_order(drawn, name):
    labels = [m[1] for t in svg_texts(outputs(drawn[name])[2])
              if (m := re.match(r"\(([a-z])\) \S", t))]
    assert "".join(labels) == PANELS.get(name, ""), labels


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_text_uses_display_names(drawn, name):
    texts = svg_texts(outputs(drawn[name])[2])
    words = {w for t in texts for w in re.split(r"[\s(),:;/]+", t)}
    assert not words & set(INTERNAL), sorted(words & set(INTERNAL))
    joined = " ".join(texts)
    assert "LeNet-300-100" in joined and "MNIST" in joined, joined[:300]
    if name in ("fig3", "layerwise", "neuron_collapse"):
        assert {"Magnitude", "SNIP", "Random"} <= words
    if name == "ablations":
        assert {"Magnitude", "SNIP", "original mask", "inverted scores"} <= set(texts)
    if name == "fig1":
        assert {"(b) vs SNIP", "(c) vs GraSP"} <= set(texts)
    if name in ("fig4", "fig5"):
        assert "MLP backbone" in joined


def test_fig1_shows_levels_without_jitter(drawn):
    """Fig. 1 states each survival level and its weight count on the axis (4 levels: N = 3)."""
    texts = svg_texts(outputs(drawn["fig1"])[2])
    assert {"0.00", "0.33", "0.67", "1.00"} <= set(texts)
    counts = [int(m[1].replace(",", "")) for t in texts
              if (m := re.fullmatch(r"\(n = ([\d,]+)\)", t))]
    import autosparse

    n = sum(p.numel() for p in autosparse.prunable_parameters(
        autosparse.build_model("lenet_300_100", 10, 0.1, (1, 28, 28))).values())
    assert len(counts) == 4 and sum(counts) == n, counts  # every weight at one of the 4 levels
    assert not any("jitter" in t for t in texts)


def test_method_styles_are_one_mapping():
    # every registered method has its own colour and marker (dense: the line, no marker)
    from autosparse.methods import list_methods

    assert set(list_methods()) | {"dense"} <= set(style.METHOD_STYLE)
    colours = [c for c, _ in style.METHOD_STYLE.values()]
    markers = [m for _, m in style.METHOD_STYLE.values() if m]
    assert len(set(colours)) == len(colours) and len(set(markers)) == len(markers)
    # the same method keeps its style whatever else is in the figure
    a = style.styles(["snip", "magnitude"])
    b = style.styles(["magnitude", "autos", "snip", "my variant"])
    assert a["snip"] == b["snip"] == style.METHOD_STYLE["snip"]
    assert b["my variant"][0] not in {style.METHOD_STYLE[m][0] for m in ("magnitude", "autos",
                                                                          "snip")}


def test_display_names_cover_every_registered_name():
    from autosparse.data import DATASETS
    from autosparse.methods import list_methods
    from autosparse.models import MODELS
    from autosparse.scorer import ARCHS

    for name in [*MODELS, *DATASETS, *ARCHS]:
        assert name in NETWORK_NAMES, name
    for name in list_methods():
        assert name in METHOD_NAMES, name
    assert DISPLAY == {**METHOD_NAMES, **NETWORK_NAMES}
    assert display("cifar10") == "CIFAR-10 (JPEG copy)" and display("vgg19_bn") == "VGG-19 (BN)"
    assert display("cifar10", paper=True) == "CIFAR-10"  # the papers used the original
    assert display_target("resnet18", "cifar10") == "ResNet-18 / CIFAR-10 (JPEG copy)"
    assert display_target("lenet_300_100", "mnist", 0.25) == "LeNet-300-100 (width 0.25) / MNIST"
    assert display_net("vgg19_bn/cifar100 (stand-in: cifar10)") == \
        "VGG-19 (BN) / CIFAR-100 (stand-in: CIFAR-10 (JPEG copy))"


def test_sparsity_axis_in_percent_without_crowded_ticks():
    plt, _ = style.setup()
    fig, ax = plt.subplots()
    style.kept_axis(ax, [0.9, 0.95, 0.99, 0.995, 0.996])
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["90 %", "95 %", "99 %", "99.5 %"]  # 99.6 % sits too close to 99.5 %
    plt.close(fig)


def test_out_must_be_the_png(inputs, tmp_path):
    with pytest.raises(ValueError, match=r"\.png path"):
        draw("fig3", *inputs["fig3"], tmp_path / "fig3.pdf")


def test_dag_lists_every_figure_file():
    """The DAG's targets name each figure's PNG, PDF and SVG (the figure rule's outputs)."""
    import yaml

    assert wc.FIGURE_FORMATS == FORMATS
    repo = Path(__file__).resolve().parents[1]
    targets = wc.all_targets(yaml.safe_load((repo / "config/config.yaml").read_text()))
    pngs = [t for t in targets if t.startswith("results/figures/") and t.endswith(".png")]
    assert len(pngs) == len(wc.FIGURES)
    for p in pngs:
        assert {str(f) for f in outputs(p)} <= set(targets)
    rule = (repo / "workflow/rules/report.smk").read_text()
    for ext in FORMATS:
        assert f'"results/figures/{{figure}}{ext}"' in rule, ext
    assert "--out {output.png}" in rule
