"""Figures of the paper (seaborn), one module per kind: survival (Fig. 1), accuracy (Figs. 3, 6,
ablations, layerwise, neuron collapse), scorer (Figs. 4, 5).

``python -m autosparse figure --name fig3 --inputs a.json ... [--labels JSON] --out fig3.png``
writes ``fig3.png`` and, with the same stem, ``fig3.pdf`` and ``fig3.svg`` (:func:`outputs`).
``FIGURES`` maps a figure name to ``"module:function"`` (imported lazily); each function takes
``(inputs, labels, out)`` and saves through :func:`autosparse.figures.style.save`. Adding a
figure is one line here. Style (display names, colour-blind-safe colours, one colour per method,
panel labels): :mod:`autosparse.figures.style`.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

FIGURES: dict[str, str] = {
    "fig3": "autosparse.figures.accuracy:accuracy_vs_sparsity",
    "fig6": "autosparse.figures.accuracy:scorer_variants",
    "ablations": "autosparse.figures.accuracy:ablations",
    "layerwise": "autosparse.figures.accuracy:layerwise",
    "neuron_collapse": "autosparse.figures.accuracy:neuron_collapse",
    "fig1": "autosparse.figures.survival:figure1_from_inputs",
    "fig4": "autosparse.figures.scorer:figure4_from_inputs",
    "fig5": "autosparse.figures.scorer:figure5_from_inputs",
    "beyond": "autosparse.figures.beyond:beyond_figure",
}


FORMATS = (".png", ".pdf", ".svg")  # every figure, same stem (style.FORMATS)


def outputs(out: str | Path) -> list[Path]:
    """The files drawing a figure to ``out`` (its PNG path) writes: PNG, PDF, SVG."""
    return [Path(out).with_suffix(ext) for ext in FORMATS]


def draw(name: str, inputs: list[str], labels: dict | None, out: str | Path) -> list[Path]:
    """Draw figure ``name`` to ``out`` (a ``.png`` path) and its PDF and SVG siblings."""
    if name not in FIGURES:
        raise KeyError(f"unknown figure {name!r}; valid: {', '.join(sorted(FIGURES))}")
    if Path(out).suffix != ".png":
        raise ValueError(f"--out must be the figure's .png path (PDF and SVG are written beside "
                         f"it), got {str(out)!r}")
    module, fn = FIGURES[name].split(":")
    getattr(importlib.import_module(module), fn)(inputs, labels or {}, Path(out))
    return outputs(out)


def register_cli(sub) -> None:
    p = sub.add_parser("figure", help="draw one of the paper's figures (PNG, PDF, SVG)")
    p.add_argument("--name", required=True, choices=sorted(FIGURES), help="which figure to draw")
    p.add_argument("--inputs", nargs="+", required=True,
                   help="the figure's inputs: metrics JSON files (fig3, fig6, ablations), "
                        "mask stores (layerwise, neuron_collapse), an IRP store (fig1), scorer "
                        "checkpoint(s) then a survival dataset (fig4, fig5)")
    p.add_argument("--labels", default=None, metavar="JSON",
                   help="JSON object {path: {column: value}}: key columns of each input")
    p.add_argument("--out", type=Path, required=True,
                   help="PNG path; the PDF and SVG are written beside it (same stem)")
    p.set_defaults(func=lambda a: print(f"{a.name} -> " + ", ".join(map(str, draw(
        a.name, a.inputs, json.loads(a.labels) if a.labels else None, a.out)))) or 0)
