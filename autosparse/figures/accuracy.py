"""Accuracy figures (AutoS Figs. 3 and 6, Frankle et al. Fig. 4) and mask-structure figures
(per-layer density, neuron collapse), drawn with matplotlib / seaborn from metrics JSON / mask
stores in the shared style (:mod:`autosparse.figures.style`): display names, one colour and
marker per method, panels (a), (b), ..., PNG + PDF + SVG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .. import workflow_paths as wp
from ..paper import ABLATION_NAMES, display, display_net, display_target
from ..tables import gather
from . import style

if TYPE_CHECKING:
    import torch

DODGE = 1.04  # sideways offset factor between lines on the log axis (stated in the title)


def _mean_sd(df: pd.DataFrame, by: str | list[str], value: str = "accuracy") -> pd.DataFrame:
    """Mean, sample std (0 for one seed) and count of ``value`` per ``by``."""
    g = df.groupby(by, sort=True)[value]
    return pd.DataFrame({"mean": g.mean(), "sd": g.std(ddof=1).fillna(0.0), "n": g.size()})


def _seeds(df: pd.DataFrame, by: list[str]) -> int:
    return int(df.groupby(by)["seed"].nunique().max()) if "seed" in df and len(df) else 1


def _over(n: int) -> str:
    return f"mean ± std over {n} seeds" if n > 1 else "one seed: no error bars"


def _offset_note(n: int) -> str:
    return "; lines offset sideways to keep error bars apart" if n > 1 else \
        "; lines offset sideways to keep equal values apart"


def _legend_right(fig, axes) -> None:
    """One legend for the figure, right of the panels (never over data): entries of all panels,
    each once, in drawing order."""
    seen: dict[str, object] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    if "Dense" in seen:  # the reference line last
        seen["Dense"] = seen.pop("Dense")
    fig.legend(list(seen.values()), list(seen), loc="center left", bbox_to_anchor=(1.0, 0.5),
               borderaxespad=0.0)


def _titles(axes, titles: Sequence[str]) -> None:
    """Panel titles: (a), (b), ... when there are several panels, the plain title for one."""
    if len(axes) > 1:
        style.label_panels(axes, titles)
    elif titles and titles[0]:
        axes[0].set_title(titles[0])


def _target_title(df: pd.DataFrame) -> str:
    """``LeNet-300-100 (width 0.25) / MNIST`` of the runs (their first target)."""
    if not len(df) or "model" not in df:
        return ""
    r = df.iloc[0]
    return display_target(str(r["model"]), str(r["dataset"]), float(r.get("width", 1.0)))


def _acc_grid(runs: pd.DataFrame, hue: str, facet: str | None, out: Path, title: str,
              hue_names, facet_names=display, known=style.METHOD_STYLE) -> None:
    """Accuracy vs sparsity on a log scale of the weights kept (:func:`style.kept_axis`), one
    line per ``hue`` value (mean ± std over seeds as error bars, lines offset sideways by
    :data:`DODGE` so their bars stay apart), the dense network's mean accuracy as a dashed line,
    one panel per ``facet`` value."""
    plt, _ = style.setup()
    dense = runs[runs["method"] == "dense"]
    pruned = runs[runs["method"] != "dense"]
    facets = list(dict.fromkeys(pruned[facet])) if facet else [None]
    fig, axes = plt.subplots(1, len(facets), figsize=(4.0 * len(facets), 3.2), squeeze=False,
                             constrained_layout=True)
    axes = list(axes[0])
    hues = list(dict.fromkeys(pruned[hue]))
    st = style.styles(hues, known)
    for ax, f in zip(axes, facets):
        sub = pruned if f is None else pruned[pruned[facet] == f]
        here = [h for h in hues if (sub[hue] == h).any()]
        for i, h in enumerate(here):
            stats = _mean_sd(sub[sub[hue] == h], "sparsity")
            kept = 100 * (1 - stats.index.to_numpy(float))
            x = kept * DODGE ** (i - (len(here) - 1) / 2)
            colour, marker = st[h]
            ax.errorbar(x, stats["mean"], yerr=stats["sd"], color=colour, marker=marker, ms=5,
                        lw=1.4, capsize=2.5, elinewidth=1, label=hue_names(h), zorder=3)
        d = dense if f is None else dense[dense["target"].isin(sub["target"])]
        if len(d):
            ax.axhline(d["accuracy"].mean(), color=style.METHOD_STYLE["dense"][0], ls="--",
                       lw=1, label="Dense", zorder=2)
        style.kept_axis(ax, sub["sparsity"].unique())
        ax.set_ylabel("test accuracy (%)")
    _titles(axes, [facet_names(f) for f in facets] if facet else [""])
    _legend_right(fig, axes)
    n = _seeds(pruned, [hue, "sparsity"])
    fig.suptitle(f"{title}\n({_over(n)}{_offset_note(n)})")
    style.save(fig, out)


def accuracy_vs_sparsity(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """Fig. 3: one panel per network, one line per method, error bars over seeds."""
    runs = gather(inputs, labels)
    facet = "net" if "net" in runs else None
    title = "Fig. 3: accuracy vs sparsity" + (
        "" if facet else f", {_target_title(runs[runs['method'] != 'dense'])}")
    _acc_grid(runs, "method", facet, out, title, display, display_net)


def scorer_variants(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """Fig. 6: AutoS scorer variants against baselines (labels as configured)."""
    runs = gather(inputs, labels)
    # a label naming a method ("AutoS", "LTH") keeps that method's colour and marker
    known = {display(m): s for m, s in style.METHOD_STYLE.items()}
    known["LTH"] = style.METHOD_STYLE["lottery"]
    _acc_grid(runs, "variant_label", None, out,
              f"Fig. 6: scorer variants, {_target_title(runs[runs['method'] != 'dense'])}",
              str, known=known)


def ablations(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """Frankle et al. Fig. 4: one panel per sparsity; per method (x, display names) the original
    mask and its shuffle / reinit / invert ablations side by side (mean ± std over seeds), the
    dense accuracy as a dashed line."""
    plt, _ = style.setup()
    runs = gather(inputs, labels)
    dense = runs[runs["method"] == "dense"]
    pruned = runs[runs["method"] != "dense"]
    if "ablation" not in pruned:
        pruned = pruned.assign(ablation="original")
    pruned = pruned.assign(ablation=pruned["ablation"].fillna("original"))
    sparsities = sorted(pruned["sparsity"].unique())
    methods = list(dict.fromkeys(pruned["method"]))
    kinds = [k for k in style.ABLATION_STYLE if (pruned["ablation"] == k).any()]
    kinds += [k for k in dict.fromkeys(pruned["ablation"]) if k not in kinds]
    st = style.styles(kinds, style.ABLATION_STYLE)
    names = [display(m) for m in methods]
    width = max(3.2, 0.62 * len(methods) + 1.0)  # inches per panel
    fig, axes = plt.subplots(1, len(sparsities), figsize=(width * len(sparsities), 3.4),
                             squeeze=False, constrained_layout=True)
    axes = list(axes[0])
    step = 0.8 / max(len(kinds), 1)
    for ax, s in zip(axes, sparsities):
        sub = pruned[pruned["sparsity"] == s]
        for i, k in enumerate(kinds):
            stats = _mean_sd(sub[sub["ablation"] == k], "method")
            pos = [j for j, m in enumerate(methods) if m in stats.index]
            if not pos:
                continue
            rows = stats.loc[[methods[j] for j in pos]]
            x = np.array(pos) + (i - (len(kinds) - 1) / 2) * step
            colour, marker = st[k]
            ax.errorbar(x, rows["mean"], yerr=rows["sd"], color=colour, marker=marker, ms=5,
                        ls="none", capsize=2.5, elinewidth=1, label=ABLATION_NAMES.get(k, k),
                        zorder=3)
        if len(dense):
            ax.axhline(dense["accuracy"].mean(), color="k", ls="--", lw=1, label="Dense",
                       zorder=2)
        ax.set_xticks(range(len(methods)))
        long = len(methods) > 4 or max(map(len, names)) > 10
        ax.set_xticklabels(names, rotation=30 if long else 0, ha="right" if long else "center",
                           rotation_mode="anchor")
        ax.set_xlim(-0.6, len(methods) - 0.4)
        ax.grid(axis="x", visible=False)
        ax.set_xlabel("pruning method")
        ax.set_ylabel("test accuracy (%)")
    _titles(axes, [f"{style.sparsity_pct(s)} sparsity" for s in sparsities])
    _legend_right(fig, axes)
    n = _seeds(pruned, ["method", "ablation", "sparsity"])
    fig.suptitle(f"Ablations of the masks (Frankle et al. Fig. 4), {_target_title(pruned)}\n"
                 f"({_over(n)})")
    style.save(fig, out)


def _store_target(path: str) -> dict:
    """Target fields (model, dataset, width) of a mask store at the DAG's path
    (:func:`autosparse.workflow_paths.mask_path`); empty elsewhere."""
    parts = PurePosixPath(str(path).replace("\\", "/")).parts
    if "masks" not in parts:
        return {}
    i = len(parts) - 1 - parts[::-1].index("masks")
    try:
        return wp.parse_target(parts[i + 1])
    except (ValueError, IndexError):
        return {}


def layer_densities(stores: Sequence[str]) -> pd.DataFrame:
    """Rows (method, sparsity, layer index, layer, density) read from mask stores."""
    from ..store import read_mask_store  # torch: only the mask figures pay for it

    rows = []
    for path in stores:
        masks, attrs = read_mask_store(path)
        for i, (name, m) in enumerate(masks.items()):
            rows.append({"method": attrs.get("method", "?"), "sparsity":
                         float(attrs.get("requested_sparsity", float("nan"))), "layer_index": i,
                         "layer": name, "density": float(m.float().mean())})
    return pd.DataFrame(rows)


def collapsed_share(masks: Mapping[str, torch.Tensor]) -> float:
    """Share of neurons / output channels whose incoming weights are all pruned (every prunable
    layer: row j of a Linear weight, filter o of a Conv2d weight)."""
    dead = total = 0
    for m in masks.values():
        alive = m.reshape(m.shape[0], -1).any(dim=1)
        dead += int((~alive).sum())
        total += alive.numel()
    return dead / total if total else 0.0


def _stores_title(stores: Sequence[str]) -> str:
    t = _store_target(stores[0]) if stores else {}
    return f", {display_target(t['model'], t['dataset'], t['width'])}" if t else ""


def _method_lines(ax, df: pd.DataFrame, x: str, y: str, xpos=None, log: bool = False,
                  floor: float | None = None) -> None:
    """One line per method (its colour and marker), mean ± std over seeds as error bars; lines
    offset sideways (factor :data:`DODGE` on a ``log`` axis, else 0.06 units) so that equal
    values stay visible side by side. With ``floor`` (a log y axis), means of 0 are drawn at
    ``floor`` as hollow markers instead of vanishing."""
    methods = list(dict.fromkeys(df["method"]))
    st = style.styles(methods)
    for i, m in enumerate(methods):
        stats = _mean_sd(df[df["method"] == m], x, y)
        xs = stats.index.to_numpy(float) if xpos is None else xpos(stats.index.to_numpy(float))
        off = i - (len(methods) - 1) / 2
        xs = xs * DODGE ** off if log else xs + 0.06 * off
        colour, marker = st[m]
        mean = stats["mean"].to_numpy(float)
        zero = mean <= 0 if floor is not None else np.zeros(len(mean), bool)
        mean = np.where(zero, floor if floor is not None else 0.0, mean)
        ax.errorbar(xs, mean, yerr=np.where(zero, 0.0, stats["sd"]), color=colour,
                    marker=marker, ms=5, lw=1.4, capsize=2.5, elinewidth=1, label=display(m),
                    zorder=3)
        if zero.any():
            ax.plot(xs[zero], mean[zero], ls="none", marker=marker, ms=7, mfc="white",
                    mec=colour, zorder=4)


def layerwise(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """Per-layer density of each method's mask (mean ± std over seeds), layers by name."""
    plt, _ = style.setup()
    df = layer_densities(inputs)
    layers = list(dict.fromkeys(df.sort_values("layer_index")["layer"]))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.32 * len(layers) + 3.0), 3.4),
                           constrained_layout=True)
    positive = df.loc[df["density"] > 0, "density"]
    floor = float(positive.min()) / 3 if len(positive) else 1e-6
    _method_lines(ax, df, "layer_index", "density", floor=floor)
    ax.set_yscale("log")
    ax.set_xticks(range(len(layers)))
    short = [name.removesuffix(".weight") for name in layers]
    long = len(layers) > 8 or max(map(len, short)) > 8
    ax.set_xticklabels(short, rotation=60 if long else 0, ha="right" if long else "center",
                       rotation_mode="anchor", fontsize=7 if long else 8)
    ax.set_xlabel("prunable layer (input to output)")
    empty = (df.groupby(["method", "layer"])["density"].mean() <= 0).any()
    ax.set_ylabel("density (share of weights kept, log)" +
                  ("\nhollow markers: layer fully pruned" if empty else ""))
    n = _seeds_of_masks(inputs)
    ax.set_title(f"Per-layer density at {style.sparsity_pct(df['sparsity'].iloc[0])} sparsity"
                 f"{_stores_title(inputs)}\n({_over(n)}{_offset_note(n)})")
    _legend_right(fig, [ax])
    style.save(fig, out)


def _seeds_of_masks(stores: Sequence[str]) -> int:
    """Seeds per (method, sparsity) cell: stores per cell (one store per seed)."""
    per = {}
    for path in stores:
        key = PurePosixPath(str(path).replace("\\", "/")).parent
        per[key] = per.get(key, 0) + 1
    return max(per.values(), default=1)


def neuron_collapse(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """Share of collapsed neurons/channels per method and sparsity."""
    from ..store import read_mask_store

    plt, _ = style.setup()
    rows = []
    for path in inputs:
        masks, attrs = read_mask_store(path)
        rows.append({"method": attrs.get("method", "?"),
                     "sparsity": float(attrs.get("requested_sparsity", float("nan"))),
                     "collapsed": 100 * collapsed_share(masks)})
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(5.0, 3.4), constrained_layout=True)
    _method_lines(ax, df, "sparsity", "collapsed", xpos=lambda s: 100 * (1 - s), log=True)
    style.kept_axis(ax, df["sparsity"].unique())
    ax.set_ylabel("neurons with all inputs pruned (%)")
    n = _seeds_of_masks(inputs)
    ax.set_title(f"Neuron collapse{_stores_title(inputs)}\n({_over(n)}{_offset_note(n)})")
    _legend_right(fig, [ax])
    style.save(fig, out)
