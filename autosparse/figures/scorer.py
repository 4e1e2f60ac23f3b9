"""Figures 4 and 5 of the AutoS seed: scorer predictions over the (theta_0, g_0) plane.

Fig. 4: ground-truth survival score, the scorer's prediction at initialisation (before training)
and after training. Fig. 5: the param-only and grad-only scorers (Table 2 / App. D.1): prediction
over the plane and against their single input, ground truth behind. Points are a deterministic
sample (smallest row hashes) of the scorer's held-out validation rows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import scorer as S

PathLike = str | os.PathLike


def sample_rows(
    data: PathLike | Sequence[PathLike], n: int = 20000, split: str = "val",
    val_percent: float = 10.0,
) -> tuple[dict[str, np.ndarray], dict]:
    """Up to ``n`` rows of ``split`` (those with the smallest row hash: a uniform, order-independent
    sample) and the dataset's normalisation stats (one streaming pass each)."""
    ds = S.open_survival(data)
    stats = S.survival_stats(ds)
    keep: dict[str, np.ndarray] | None = None
    for b in S.stream_split(ds, split, val_percent, 65536, groups=S.stats_groups(stats)):
        block = b if keep is None else {k: np.concatenate([keep[k], b[k]]) for k in keep}
        if len(block["hash"]) > n:
            idx = np.argsort(block["hash"], kind="stable")[:n]
            block = {k: v[idx] for k, v in block.items()}
        keep = block
    if keep is None:
        raise ValueError(f"no {split} rows in {data!r}")
    return keep, stats


def _predict(scorer: S.Scorer, rows, stats, before: bool = False) -> np.ndarray:
    model = S.init_scorer(scorer.config) if before else scorer.model
    x = S.batch_features(rows, stats, scorer.config)
    return S._predict_array(model.eval(), x, "cpu")


def _plane(ax, rows, value, title, norm):
    import seaborn as sns

    order = np.argsort(value, kind="stable")  # high scores drawn on top
    sns.scatterplot(x=rows["theta0"][order], y=rows["grad0"][order], hue=value[order],
                    hue_norm=norm, palette="viridis", s=4, linewidth=0, legend=False, ax=ax,
                    rasterized=True)
    ax.set(xlabel=r"$\theta_0$", ylabel=r"$g_0$", title=title)


def _colorbar(fig, axes, norm, label):
    import matplotlib as mpl

    sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(*norm), cmap="viridis")
    fig.colorbar(sm, ax=axes, shrink=0.85, label=label)


def _save(fig, out: PathLike) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}{out.suffix}")
    fig.savefig(tmp, dpi=150, bbox_inches="tight")
    os.replace(tmp, out)
    return out


def figure4(scorer: PathLike | S.Scorer, data: PathLike | Sequence[PathLike], out: PathLike,
            n_points: int = 20000) -> Path:
    """Fig. 4: ground truth | prediction before training | after training (held-out rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sc = S.load_scorer(scorer)
    rows, stats = sample_rows(data, n_points, "val", sc.config.val_percent)
    panels = [("ground truth (survival score)", rows["score"].astype(np.float32)),
              ("(a) before training", _predict(sc, rows, stats, before=True)),
              ("(b) after training", _predict(sc, rows, stats))]
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharex=True, sharey=True,
                             constrained_layout=True)
    for ax, (title, v) in zip(axes, panels):
        _plane(ax, rows, v, title, (0.0, 1.0))
    rho = S.spearman(panels[2][1], panels[0][1])
    fig.suptitle(f"AutoS scorer ({sc.config.arch}, {sc.config.inputs}, "
                 f"normalize={sc.config.normalize}): validation Spearman {rho:.3f}")
    _colorbar(fig, axes, (0.0, 1.0), "score")
    path = _save(fig, out)
    plt.close(fig)
    return path


def figure5(param_scorer: PathLike | S.Scorer, grad_scorer: PathLike | S.Scorer,
            data: PathLike | Sequence[PathLike], out: PathLike, n_points: int = 20000) -> Path:
    """Fig. 5: grad-only and param-only scorers: prediction over the plane (top) and against
    their single input, coloured by layer, with the ground truth in grey (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    scorers = [("(a) only grad", S.load_scorer(grad_scorer), "grad0", r"$g_0$"),
               ("(b) only param", S.load_scorer(param_scorer), "theta0", r"$\theta_0$")]
    for title, sc, _, _ in scorers:
        want = "grad" if "grad" in title else "param"
        if sc.config.inputs != want:
            raise ValueError(f"{title} needs a scorer with inputs={want!r}, "
                             f"got {sc.config.inputs!r}")
    rows, stats = sample_rows(data, n_points, "val", scorers[0][1].config.val_percent)
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), constrained_layout=True)
    for j, (title, sc, col, label) in enumerate(scorers):
        pred = _predict(sc, rows, stats)
        _plane(axes[0, j], rows, pred, title, (0.0, 1.0))
        ax = axes[1, j]
        ax.scatter(rows[col], rows["score"], s=3, color="0.75", label="ground truth",
                   rasterized=True)
        sns.scatterplot(x=rows[col], y=pred, hue=rows["layer"].astype(str), s=5, linewidth=0,
                        palette="deep", ax=ax, rasterized=True)  # one curve per layer (normalise)
        rho = S.spearman(pred, rows["score"])
        ax.set(xlabel=label, ylabel="score", title=f"{title}: Spearman {rho:.3f}")
        ax.legend(loc="upper right", frameon=True, markerscale=3, fontsize=7)
    _colorbar(fig, axes[0], (0.0, 1.0), "predicted score")
    path = _save(fig, out)
    plt.close(fig)
    return path


__all__ = ["figure4", "figure5", "sample_rows"]


def figure4_from_inputs(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """``figure`` dispatch: inputs = [scorer checkpoint, survival dataset dir]."""
    figure4(inputs[0], inputs[1], out)


def figure5_from_inputs(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """``figure`` dispatch: inputs = [param-only scorer, grad-only scorer, survival dataset dir]."""
    figure5(inputs[0], inputs[1], inputs[2], out)
