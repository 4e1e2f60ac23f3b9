"""One look for every figure: colour-blind-safe colours, one colour and marker per method (the
same in every figure), panel labels (a), (b), ... in reading order, axes of sparsities in
percent, and each figure written as PNG, PDF and SVG with the same stem.

Colours: the Okabe-Ito palette (Okabe & Ito 2008; distinguishable under the common colour-vision
deficiencies), then Paul Tol's "muted" and two of his "dark" colours for methods beyond it;
every method also has its own marker, so no two methods rely on colour alone. Names that are neither a method nor an
ablation (scorer variant labels, layers) take the unused colours of :data:`QUALITATIVE` in order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9",
             "bluish_green": "#009E73", "yellow": "#F0E442", "blue": "#0072B2",
             "vermillion": "#D55E00", "reddish_purple": "#CC79A7"}
TOL_MUTED = {"indigo": "#332288", "cyan": "#88CCEE", "teal": "#44AA99", "green": "#117733",
             "olive": "#999933", "sand": "#DDCC77", "rose": "#CC6677", "wine": "#882255",
             "purple": "#AA4499"}
TOL_DARK = {"dark_red": "#663333", "dark_cyan": "#225555"}
GREY = "#7F7F7F"

# method (registry name) -> (colour, marker); dense is the black dashed reference line
METHOD_STYLE: dict[str, tuple[str, str]] = {
    "dense": (OKABE_ITO["black"], ""),
    "magnitude": (OKABE_ITO["blue"], "o"),
    "snip": (OKABE_ITO["orange"], "s"),
    "grasp": (OKABE_ITO["bluish_green"], "^"),
    "synflow": (OKABE_ITO["reddish_purple"], "D"),
    "autos": (OKABE_ITO["vermillion"], "*"),
    "px": (OKABE_ITO["sky_blue"], "v"),
    "random": (GREY, "X"),
    "lottery": (TOL_MUTED["indigo"], "P"),
    "iter_snip": (TOL_MUTED["olive"], "<"),
    "ntk_sap": (TOL_MUTED["wine"], ">"),
    "npb": (TOL_MUTED["teal"], "h"),
    "magnitude_after_training": (TOL_MUTED["rose"], "p"),
    "ticket_random": (TOL_MUTED["sand"], "x"),
    "ticket_synflow": (TOL_MUTED["purple"], "H"),
    "ticket_px": (TOL_MUTED["cyan"], "8"),
    "ticket_autos": (TOL_MUTED["green"], "d"),
    "law_random": (OKABE_ITO["yellow"], "+"),
    "law_synflow": (TOL_DARK["dark_red"], r"$\spadesuit$"),
    "law_px": (TOL_DARK["dark_cyan"], r"$\clubsuit$"),
}
# Frankle et al.'s ablations of a mask
ABLATION_STYLE: dict[str, tuple[str, str]] = {
    "original": (OKABE_ITO["blue"], "o"), "shuffle": (OKABE_ITO["orange"], "s"),
    "reinit": (OKABE_ITO["bluish_green"], "^"), "invert": (OKABE_ITO["vermillion"], "D"),
}
# free names (layers, scorer variants): colour-blind-safe colours, most distinct first
QUALITATIVE = [OKABE_ITO[c] for c in ("blue", "orange", "bluish_green", "vermillion",
                                      "reddish_purple", "sky_blue")] + [
    TOL_MUTED[c] for c in ("indigo", "olive", "wine", "teal", "rose", "sand")]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "p", "*"]
SEQUENTIAL = "viridis"  # continuous values (perceptually uniform, colour-blind-safe)
DPI = 200


def setup():
    """(pyplot, seaborn) on the Agg backend with the figures' theme: text stays text in SVG
    (searchable, editable) and fonts are embedded as TrueType in PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper", palette=QUALITATIVE)
    plt.rcParams.update({"svg.fonttype": "none", "pdf.fonttype": 42, "ps.fonttype": 42,
                         "legend.frameon": True, "legend.framealpha": 0.9,
                         "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 8,
                         "ytick.labelsize": 8, "legend.fontsize": 7.5,
                         "legend.title_fontsize": 7.5, "figure.titlesize": 10})
    return plt, sns


def styles(names: Iterable[str], known: Mapping[str, tuple[str, str]] = METHOD_STYLE
           ) -> dict[str, tuple[str, str]]:
    """``{name: (colour, marker)}``: a known name's fixed style, the others the next unused
    colours and markers in order (stable for a given list of names)."""
    names = list(dict.fromkeys(names))
    used_c = {known[n][0] for n in names if n in known}
    used_m = {known[n][1] for n in names if n in known}
    free_c = [c for c in QUALITATIVE if c not in used_c] or QUALITATIVE
    free_m = [m for m in MARKERS if m not in used_m] or MARKERS
    out, i = {}, 0
    for n in names:
        if n in known:
            out[n] = known[n]
        else:
            out[n] = (free_c[i % len(free_c)], free_m[i % len(free_m)])
            i += 1
    return out


def panel_letter(i: int) -> str:
    return f"({chr(ord('a') + i)})"


def label_panels(axes: Sequence, titles: Sequence[str]) -> None:
    """Title each panel ``(a) title``, ``(b) title``, ... in reading order."""
    for i, (ax, title) in enumerate(zip(axes, titles)):
        ax.set_title(f"{panel_letter(i)} {title}".rstrip(), loc="left")


def sparsity_pct(s: float) -> str:
    """``0.995`` -> ``"99.5 %"``."""
    return f"{100 * float(s):.4g} %"


def kept_axis(ax, sparsities: Iterable[float], label: str = "sparsity") -> None:
    """An x axis of sparsities on a log scale of the weights kept (95, 99 and 99.5 % sit 2x-10x
    apart in what remains), sparser to the right, ticked and labelled in percent. Plot against
    ``100 * (1 - sparsity)``. Tick labels closer than a label's width are thinned."""
    from matplotlib.ticker import FixedLocator, NullLocator

    kept = sorted({round(100 * (1 - float(s)), 9) for s in sparsities}, reverse=True)
    ax.set_xscale("log")
    ax.set_xlim(kept[0] * 1.3, kept[-1] / 1.3)
    show, last = [], None
    for k in kept:  # keep ticks at least a factor 1.35 apart on the log axis
        if last is None or last / k >= 1.35:
            show.append(k)
            last = k
    ax.xaxis.set_major_locator(FixedLocator(show))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([sparsity_pct(1 - k / 100) for k in show])
    ax.set_xlabel(f"{label} (log scale of the weights kept)")


def save(fig, out: str | os.PathLike) -> Path:
    """Write ``fig`` as PNG (``out``), PDF and SVG with ``out``'s stem, each atomically
    (:func:`~autosparse.artifacts.atomic.replace_file`); close the figure. Returns ``out``."""
    import matplotlib.pyplot as plt

    from ..artifacts.atomic import replace_file
    from . import outputs

    paths = outputs(out)
    for path in paths:
        with replace_file(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=DPI, bbox_inches="tight",
                        metadata=_metadata(path.suffix))
    plt.close(fig)
    return paths[0]


def _metadata(suffix: str) -> dict | None:
    # no creation date: the same inputs give the same PDF / SVG bytes
    return {".pdf": {"CreationDate": None}, ".svg": {"Date": None}}.get(suffix)
