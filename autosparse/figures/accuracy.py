"""Accuracy figures (AutoS Figs. 3 and 6, Frankle et al. Fig. 4) and mask-structure figures
(per-layer density, neuron collapse), drawn with seaborn from metrics JSON / mask stores."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..tables import gather

if TYPE_CHECKING:
    import torch


def _save(fig, out: Path) -> None:
    """Write the PNG to a temp path and rename it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".tmp.png")
    fig.savefig(tmp, dpi=120, bbox_inches="tight")
    os.replace(tmp, out)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


def _acc_grid(runs: pd.DataFrame, hue: str, facet: str | None, out: Path, title: str) -> None:
    """Accuracy vs sparsity on a log scale of the weights kept, mean +- std over seeds (error
    bars), the dense network's accuracy as a dashed line."""
    plt, sns = _plt()
    dense = runs[runs["method"] == "dense"]
    pruned = runs[runs["method"] != "dense"]
    facets = list(pruned[facet].unique()) if facet else [None]
    fig, axes = plt.subplots(1, len(facets), figsize=(4.2 * len(facets), 3.4), squeeze=False)
    from matplotlib.ticker import FixedLocator, NullLocator

    for ax, f in zip(axes[0], facets):
        sub = pruned if f is None else pruned[pruned[facet] == f]
        sub = sub.assign(remaining=100 * (1 - sub["sparsity"]))  # % of weights kept
        sns.lineplot(data=sub, x="remaining", y="accuracy", hue=hue, marker="o",
                     errorbar="sd", err_style="bars", ax=ax)
        d = dense if f is None or facet not in dense.columns else dense[dense["target"].isin(sub["target"])]
        if len(d):
            ax.axhline(d["accuracy"].mean(), color="k", ls="--", lw=1, label="dense")
        # 95 %, 99 %, 99.5 % sparsity sit 2x-10x apart in remaining weights: a log axis, sparser
        # to the right, ticks labelled with the sparsities run
        ax.set_xscale("log")
        ticks = sorted(sub["remaining"].unique())
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{100 - t:g}" for t in ticks])
        ax.set_xlim(max(ticks) * 1.25, min(ticks) / 1.25)
        ax.set_title(str(f) if f is not None else "")
        ax.set_xlabel("sparsity (%), log scale of the weights kept")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=7, loc="lower left")
    seeds = pruned.groupby([hue, "sparsity"])["seed"].nunique().max() if "seed" in pruned else 1
    fig.suptitle(f"{title}  (mean ± std over {seeds} seed{'s' if seeds != 1 else ''})")
    _save(fig, out)
    plt.close(fig)


def accuracy_vs_sparsity(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """Fig. 3: one panel per network, one line per method, error bars over seeds."""
    runs = gather(inputs, labels)
    _acc_grid(runs, "method", "net" if "net" in runs else None, out, "Fig. 3: accuracy vs sparsity")


def scorer_variants(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """Fig. 6: AutoS scorer variants against baselines."""
    runs = gather(inputs, labels)
    _acc_grid(runs, "variant_label", None, out, "Fig. 6: scorer variants")


def ablations(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """Frankle et al. Fig. 4: per method, original vs shuffle / reinit / invert."""
    runs = gather(inputs, labels)
    _acc_grid(runs, "ablation", "method", out, "Ablations (Frankle et al. Fig. 4)")


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


def layerwise(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """Per-layer density of each method's mask (mean over seeds)."""
    plt, sns = _plt()
    df = layer_densities(inputs)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    sns.lineplot(data=df, x="layer_index", y="density", hue="method", marker="o", errorbar="sd", ax=ax)
    ax.set_yscale("log")
    ax.set_title(f"Per-layer density at sparsity {df['sparsity'].iloc[0]:g}")
    _save(fig, out)
    plt.close(fig)


def neuron_collapse(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """Share of collapsed neurons/channels per method and sparsity."""
    from ..store import read_mask_store

    plt, sns = _plt()
    rows = []
    for path in inputs:
        masks, attrs = read_mask_store(path)
        rows.append({"method": attrs.get("method", "?"),
                     "sparsity": float(attrs.get("requested_sparsity", float("nan"))),
                     "collapsed": collapsed_share(masks)})
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    sns.lineplot(data=df, x="sparsity", y="collapsed", hue="method", marker="o", errorbar="sd", ax=ax)
    ax.set_ylabel("share of neurons with all inputs pruned")
    _save(fig, out)
    plt.close(fig)
