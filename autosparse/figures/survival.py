"""Figure 1 of the AutoS paper: the survival score (Eq. 4) of an IRP run against (a) theta_0 and
(b) PaI scores at initialisation (SNIP, GraSP, ...: any registered method)."""

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


def _pct_rank(x: np.ndarray) -> np.ndarray:
    return pd.Series(x).rank(pct=True).to_numpy()


def figure1(store: str | os.PathLike, out: str | os.PathLike,
            methods: Sequence[str] = ("snip", "grasp"), data_root=None,
            max_points: int = 20000, seed: int = 0) -> list[str]:
    """Write Fig. 1 as a PNG: (a) survival score vs theta_0, (b) vs each method's score at init
    (as a percentile rank, so signed and heavy-tailed scores share an axis). Points are a seeded
    subsample of ``max_points`` weights; the line is the mean survival score per quantile bin (40 bins).
    Returns notes (e.g. skipped methods)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    from ..survival import from_store

    df, attrs = from_store(store)
    scores, notes = init_scores(store, methods, data_root)
    for m, s in scores.items():
        df[f"{m} (percentile)"] = _pct_rank(s)
    rng = np.random.default_rng(seed)
    sub = df.iloc[np.sort(rng.choice(len(df), min(max_points, len(df)), replace=False))]
    xs = ["theta0", *[f"{m} (percentile)" for m in scores]]
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(xs), figsize=(4.2 * len(xs), 3.6), squeeze=False)
    for ax, x in zip(axes[0], xs):
        jitter = rng.uniform(-0.4, 0.4, len(sub)) / max(int(attrs["N"]), 1)
        sns.scatterplot(x=sub[x], y=sub["score"] + jitter, hue=sub["layer"].astype(str), s=4,
                        alpha=0.35, linewidth=0, ax=ax, legend=ax is axes[0][0])
        bins = pd.qcut(df[x], 40, duplicates="drop")
        mean = df.groupby(bins, observed=True)["score"].mean()
        ax.plot([b.mid for b in mean.index], mean.to_numpy(), color="black", lw=1.5,
                label="bin mean")
        ax.set_xlabel("initial weight $\\theta_0$" if x == "theta0" else f"{x} at init")
        ax.set_ylabel("survival score (Eq. 4)")
    axes[0][0].legend(loc="upper right", markerscale=3, fontsize=7, title="layer",
                      title_fontsize=7, framealpha=0.8)
    axes[0][0].set_title("(a) survival vs $\\theta_0$")
    for ax, m in zip(axes[0][1:], scores):
        ax.set_title(f"(b) survival vs {m}")
    title = (f"IRP {attrs['criterion']} N={attrs['N']}: {attrs['model']} / {attrs['dataset']}")
    if notes:
        title += "\n" + "; ".join(notes)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    fig.savefig(tmp, dpi=150)
    plt.close(fig)
    os.replace(tmp, out)
    return notes


def figure1_from_inputs(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """``figure`` dispatch: inputs = [IRP store]."""
    for note in figure1(inputs[0], out):
        print(note)
