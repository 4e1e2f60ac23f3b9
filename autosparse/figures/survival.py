"""Figure 1 of the AutoS paper: the survival score (Eq. 4) of an IRP run against (a) theta_0 and
(b), (c), ... PaI scores at initialisation (SNIP, GraSP, ...: any registered method)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd


def init_scores(store: str | os.PathLike, methods: Sequence[str], data_root=None
                ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Flattened (layer order) scores of ``methods`` on the store's theta_0 and scoring batch;
    unregistered methods are skipped with a note."""
    from .. import irp
    from ..methods import list_methods, score

    root = irp.open_store(store)
    cfg = irp.IRPConfig(**root.attrs["config"])
    tr, _ = irp.load_data(cfg, data_root)
    model = irp.init_model(cfg, tr.num_classes, tr.spec.input_shape)
    batches = irp.scoring_batches(cfg, tr)
    out, notes = {}, []
    for m in methods:
        if m not in list_methods():
            notes.append(f"{m}: not registered in this build, panel skipped")
            continue
        s = score(model, m, batches)
        out[m] = np.concatenate([s[k].reshape(-1).numpy() for k in root.attrs["layers"]])
    return out, notes


VIOLIN = "0.85"  # light grey: the distributions behind the lines


def _pct_rank(x: np.ndarray) -> np.ndarray:
    return pd.Series(x).rank(pct=True).to_numpy()


def _bin_means(x: pd.Series, y: pd.Series, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``y`` per quantile bin of ``x`` (at the bins' midpoints)."""
    q = pd.qcut(x, bins, duplicates="drop")
    mean = y.groupby(q, observed=True).mean()
    return np.array([b.mid for b in mean.index], float), mean.to_numpy(float)


def figure1(store: str | os.PathLike, out: str | os.PathLike,
            methods: Sequence[str] = ("snip", "grasp"), data_root=None,
            max_points: int = 20000, seed: int = 0, bins: int = 40) -> list[str]:
    """Write Fig. 1 (PNG ``out``, PDF and SVG beside it): the survival score (Eq. 4) of an IRP
    run against (a) theta_0 and (b), (c), ... each method's score at initialisation (as a
    percentile rank, so signed and heavy-tailed scores share an axis).

    The score takes N + 1 levels (weights surviving 0..N iterations). Per level, a violin shows
    the distribution of the x variable over a seeded subsample of ``max_points`` weights (no
    jitter); lines are the mean survival score per quantile bin of x (``bins`` bins) of all
    weights, per layer and over all layers. Panel (a) states how many weights each level holds.
    Returns notes (e.g. skipped methods)."""
    from ..artifacts.survival_dataset import from_store
    from ..paper import display, display_target
    from . import style

    plt, sns = style.setup()
    df, attrs = from_store(store)
    scores, notes = init_scores(store, methods, data_root)
    xs = {"theta0": ("initial weight $\\theta_0$", "vs $\\theta_0$")}
    for m, s in scores.items():
        df[f"{m}_pct"] = _pct_rank(s)
        xs[f"{m}_pct"] = (f"{display(m)} score at init (percentile rank)", f"vs {display(m)}")
    rng = np.random.default_rng(seed)
    sub = df.iloc[np.sort(rng.choice(len(df), min(max_points, len(df)), replace=False))]
    levels = np.sort(df["score"].unique())
    gap = float(np.min(np.diff(levels))) if len(levels) > 1 else 1.0
    layers = list(dict.fromkeys(df["layer"].astype(str)))
    colours = style.styles(layers, {})
    fig, axes = plt.subplots(1, len(xs), figsize=(3.9 * len(xs), 3.5), squeeze=False,
                             sharey=True, constrained_layout=True)
    axes = list(axes[0])
    for ax, x in zip(axes, xs):
        sns.violinplot(x=sub[x].to_numpy(float), y=sub["score"].to_numpy(float), orient="h",
                       native_scale=True, cut=0, inner=None, density_norm="width",
                       width=0.85 * gap, color=VIOLIN, linewidth=0.6, linecolor="0.45", ax=ax,
                       zorder=1)
        # all layers pooled: a wide black line under the per-layer lines, so that a layer
        # holding most weights (whose line matches the pooled one) stays visible on top of it
        mx, my = _bin_means(df[x], df["score"], bins)
        ax.plot(mx, my, color="black", lw=3.0, zorder=4, solid_capstyle="round")
        for name in layers:
            rows = df[df["layer"].astype(str) == name]
            mx, my = _bin_means(rows[x], rows["score"], max(2, min(bins, len(rows) // 50)))
            ax.plot(mx, my, color=colours[name][0], lw=1.3, marker="o", ms=2.2, zorder=5)
        ax.set_xlabel(xs[x][0])
        ax.set_ylim(levels[0] - 0.6 * gap, levels[-1] + 0.6 * gap)
    n_iter = int(attrs["N"])
    step = max(1, int(np.ceil(len(levels) / 11)))
    counts = df["score"].value_counts()
    axes[0].set_yticks(levels[::step])
    axes[0].set_yticklabels([f"{v:.2f}\n(n = {int(counts[v]):,})" for v in levels[::step]],
                            fontsize=7)
    axes[0].set_ylabel("survival score (Eq. 4)\nn: weights at that level")
    style.label_panels(axes, [t for _, t in xs.values()])
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=VIOLIN, edgecolor="0.45", lw=0.6,
                     label=f"x per level (violin, {len(sub):,} weights)"),
               Line2D([], [], color="black", lw=3.0, label="mean score, all layers"),
               *[Line2D([], [], color=colours[n][0], lw=1.3, marker="o", ms=2.2,
                        label=f"mean score, {n.removesuffix('.weight')}") for n in layers]]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5),
               title=f"lines: per quantile bin of x\n(up to {bins} bins)", borderaxespad=0.0)
    width = (attrs.get("config") or {}).get("width")
    title = (f"Fig. 1: survival score of an IRP run ({display(attrs['criterion'])} criterion, "
             f"N = {n_iter} iterations), {display_target(attrs['model'], attrs['dataset'], width)}")
    if notes:
        title += "\n" + "; ".join(notes)
    fig.suptitle(title)
    style.save(fig, out)
    return notes


def figure1_from_inputs(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """``figure`` dispatch: inputs = [IRP store]."""
    for note in figure1(inputs[0], out):
        print(note)
