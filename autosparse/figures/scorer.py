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


INPUT_NAMES = {"param": r"$\theta_0$ only", "grad": r"$g_0$ only",
               "param+grad": r"$\theta_0$ and $g_0$"}
NORMALIZE_NAMES = {"none": "raw inputs", "layer_standardize": "standardised per layer",
                   "global_standardize": "standardised per network",
                   "layer_rank": "rank-transformed per layer"}


def _plane(ax, rows, value, norm):
    from . import style

    order = np.argsort(value, kind="stable")  # high scores drawn on top
    ax.scatter(rows["theta0"][order], rows["grad0"][order], c=value[order], cmap=style.SEQUENTIAL,
               vmin=norm[0], vmax=norm[1], s=4, linewidths=0, rasterized=True)
    ax.set(xlabel=r"$\theta_0$", ylabel=r"$g_0$")


def _colorbar(fig, axes, norm, label):
    import matplotlib as mpl

    from . import style

    sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(*norm), cmap=style.SEQUENTIAL)
    fig.colorbar(sm, ax=axes, shrink=0.85, label=label)


def _describe(sc: S.Scorer) -> str:
    from ..paper import display

    c = sc.config
    return (f"{display(c.arch)} backbone, inputs {INPUT_NAMES.get(c.inputs, c.inputs)}, "
            f"{NORMALIZE_NAMES.get(c.normalize, c.normalize)}")


def _source(data) -> str:
    """``"trained on IRP runs of LeNet-300-100 / MNIST; "`` from the survival dataset's
    metadata (empty when it names none)."""
    from ..paper import display_target
    from ..survival import read_metadata

    nets = []
    for d in [data] if isinstance(data, (str, os.PathLike)) else list(data):
        try:
            meta = read_metadata(d)
        except (FileNotFoundError, KeyError, TypeError, ValueError):
            continue
        for src in meta.get("sources", []):
            a = src.get("attrs", {})
            if a.get("model") and a.get("dataset"):
                nets.append(display_target(a["model"], a["dataset"]))
    nets = list(dict.fromkeys(nets))
    return f"trained on IRP runs of {' + '.join(nets)}; " if nets else ""


def figure4(scorer: PathLike | S.Scorer, data: PathLike | Sequence[PathLike], out: PathLike,
            n_points: int = 20000) -> Path:
    """Fig. 4 (PNG ``out``, PDF and SVG beside it): (a) ground truth | (b) prediction before
    training | (c) after training, over the (theta_0, g_0) plane of held-out rows."""
    from . import style

    plt, _ = style.setup()
    sc = S.load_scorer(scorer)
    rows, stats = sample_rows(data, n_points, "val", sc.config.val_percent)
    panels = [("ground truth (survival score)", rows["score"].astype(np.float32)),
              ("scorer before training", _predict(sc, rows, stats, before=True)),
              ("scorer after training", _predict(sc, rows, stats))]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.7), sharex=True, sharey=True,
                             constrained_layout=True)
    for ax, (_, v) in zip(axes, panels):
        _plane(ax, rows, v, (0.0, 1.0))
    for ax in axes[1:]:
        ax.set_ylabel("")
    style.label_panels(axes, [t for t, _ in panels])
    rho = S.spearman(panels[2][1], panels[0][1])
    fig.suptitle(f"Fig. 4: AutoS scorer ({_describe(sc)})\n{_source(data)}"
                 f"{len(rows['score']):,} held-out weights; Spearman of (c) vs (a): {rho:.3f}")
    _colorbar(fig, axes, (0.0, 1.0), "score (clipped to [0, 1])")
    return style.save(fig, out)


def figure5(param_scorer: PathLike | S.Scorer, grad_scorer: PathLike | S.Scorer,
            data: PathLike | Sequence[PathLike], out: PathLike, n_points: int = 20000) -> Path:
    """Fig. 5 (PNG ``out``, PDF and SVG beside it): grad-only and param-only scorers: (a), (b)
    prediction over the plane; (c), (d) prediction against their single input, one colour per
    layer, with the ground truth in grey behind."""
    from . import style

    plt, _ = style.setup()
    scorers = [("grad", S.load_scorer(grad_scorer), "grad0", r"$g_0$"),
               ("param", S.load_scorer(param_scorer), "theta0", r"$\theta_0$")]
    for want, sc, _, _ in scorers:
        if sc.config.inputs != want:
            raise ValueError(f"the {want}-only scorer needs inputs={want!r}, "
                             f"got {sc.config.inputs!r}")
    rows, stats = sample_rows(data, n_points, "val", scorers[0][1].config.val_percent)
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.2), constrained_layout=True)
    layers = [str(v) for v in rows["layer"]]
    order = sorted(set(layers), key=layers.count, reverse=True)  # smallest layer drawn last
    st = style.styles(order, {})
    titles = []
    for j, (want, sc, col, label) in enumerate(scorers):
        name = INPUT_NAMES[want]
        pred = _predict(sc, rows, stats)
        _plane(axes[0, j], rows, pred, (0.0, 1.0))
        titles.append(f"{name}: prediction")
        ax = axes[1, j]
        ax.scatter(rows[col], rows["score"], s=3, color="0.72", linewidths=0,
                   label="ground truth", rasterized=True, zorder=1)
        lay = np.array(layers)
        for layer in order:
            keep = lay == layer
            ax.scatter(rows[col][keep], pred[keep], s=5, color=st[layer][0], linewidths=0,
                       label=f"prediction, {layer.removesuffix('.weight')}", rasterized=True,
                       zorder=2)
        rho = S.spearman(pred, rows["score"])
        ax.set(xlabel=label, ylabel="score")
        titles.append(f"{name}: prediction vs {label} (Spearman {rho:.3f})")
    style.label_panels([axes[0, 0], axes[0, 1], axes[1, 0], axes[1, 1]],
                       [titles[0], titles[2], titles[1], titles[3]])
    _colorbar(fig, axes[0], (0.0, 1.0), "predicted score (clipped to [0, 1])")
    handles, labs = axes[1, 0].get_legend_handles_labels()
    fig.legend(handles, labs, loc="outside lower center", ncol=min(len(labs), 5),
               markerscale=3)
    from ..paper import display

    backbone = display(scorers[0][1].config.arch)
    fig.suptitle(f"Fig. 5: single-input AutoS scorers ({backbone} backbone)\n{_source(data)}"
                 f"{len(rows['score']):,} held-out weights")
    return style.save(fig, out)


__all__ = ["figure4", "figure5", "sample_rows"]


def figure4_from_inputs(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """``figure`` dispatch: inputs = [scorer checkpoint, survival dataset dir]."""
    figure4(inputs[0], inputs[1], out)


def figure5_from_inputs(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    """``figure`` dispatch: inputs = [param-only scorer, grad-only scorer, survival dataset dir]."""
    figure5(inputs[0], inputs[1], inputs[2], out)
