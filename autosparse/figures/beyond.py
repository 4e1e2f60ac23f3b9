"""Beyond the paper (``results/figures/beyond.*``): learned variants against every baseline.

Per network two rows of panels, one column per sparsity. Top: each row of the beyond table
(:func:`autosparse.beyond.compare`) as its mean accuracy with the 95 % Student-t interval over
the held-out seeds, baselines, the IRP ticket and the learned variants in that order, the dense
accuracy dashed. Bottom: the paired difference to the best baseline of that network and sparsity
with its 95 % interval (0 dotted): a row more than :data:`SPAN` points below the best baseline
sits on the panel's bottom edge (a down-pointing marker with its value written), so that the
contest near the top stays legible; a learned row whose interval clears zero beats it. Colours
and markers: the method's own (:data:`autosparse.figures.style.METHOD_STYLE`); display names
from the registries.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..beyond import compare
from ..paper import display_target
from ..tables import gather
from . import style

SPAN = 15.0  # points below the best baseline that the axes show; rows beyond: on the edge


def beyond_figure(inputs: Sequence[str], labels: Mapping, out: Path) -> None:
    plt, _ = style.setup()
    df = compare(gather(inputs, labels))
    dense = df[df["role"] == "dense"]
    pruned = df[df["role"] != "dense"]
    nets = list(dict.fromkeys(pruned["net"]))
    sparsities = sorted(pruned["sparsity"].unique())
    names = {net: list(dict.fromkeys(pruned.loc[pruned["net"] == net, "name"])) for net in nets}
    methods = dict(zip(pruned["name"], pruned["method"]))
    known = style.styles(list(dict.fromkeys(methods.values())))
    width = max(3.4, 0.42 * max((len(v) for v in names.values()), default=1) + 1.2)
    fig, axes = plt.subplots(2 * len(nets), len(sparsities),
                             figsize=(width * len(sparsities), 6.4 * max(len(nets), 1)),
                             squeeze=False, constrained_layout=True)
    titles = []
    for i, net in enumerate(nets):
        target = _target(pruned[pruned["net"] == net])
        for j, s in enumerate(sparsities):
            top, bottom = axes[2 * i][j], axes[2 * i + 1][j]
            sub = pruned[(pruned["sparsity"] == s) & (pruned["net"] == net)].set_index("name")
            _panel_pair(top, bottom, sub, names[net], methods, known,
                        dense.loc[dense["net"] == net, "mean"])
            best = next((b for b in sub["best_baseline"] if b), "best baseline")
            titles.append((2 * i, j, f"{target}, {style.sparsity_pct(s)} sparsity: accuracy"))
            titles.append((2 * i + 1, j, f"{style.sparsity_pct(s)}: minus {best}, the best "
                           "baseline"))
    style.label_panels([axes[r][c] for r, c, _ in sorted(titles)],
                       [t for _, _, t in sorted(titles)])
    seen: dict[str, object] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    fig.legend(list(seen.values()), list(seen), loc="outside lower center",
               ncol=min(len(seen), 4), frameon=False)
    n = int(pruned["n_seeds"].max()) if len(pruned) else 0
    fig.suptitle("Beyond the paper: learned variants vs the baselines and the IRP ticket\n"
                 f"(mean and 95 % t-interval over {n} held-out seeds; differences paired by "
                 "seed)")
    style.save(fig, out)


def _panel_pair(top, bottom, sub, names: Sequence[str], methods: Mapping, known: Mapping,
                dense) -> None:
    """Accuracy (top) and paired difference to the best baseline (bottom) of one network and
    sparsity; the axes show the contest near the best baseline: a row far below it (random at
    99 %) is drawn on the bottom edge with its value written, not allowed to squash the rest."""
    best_mean = sub.loc[sub["verdict"] == "best baseline", "mean"]
    floor = {top: (float(best_mean.iloc[0]) - SPAN) if len(best_mean) else -math.inf,
             bottom: -SPAN}
    for i, name in enumerate(names):
        if name not in sub.index:
            continue
        r = sub.loc[name]
        colour, marker = known[methods[name]]
        for ax, mean, low, high in ((top, r["mean"], r["ci95_low"], r["ci95_high"]),
                                    (bottom, r["diff"], r["diff_ci95_low"],
                                     r["diff_ci95_high"])):
            if math.isnan(mean):
                continue
            if mean < floor[ax]:
                ax.plot([i], [floor[ax]], color=colour, marker="v", ms=7, ls="none",
                        label=name, zorder=3, clip_on=False)
                ax.annotate(f"{mean:.1f}", (i, floor[ax]), xytext=(0, 6),
                            textcoords="offset points", ha="center", fontsize=7, color=colour)
                continue
            err = None if math.isnan(low) else [[mean - low], [max(high, mean) - mean]]
            ax.errorbar([i], [mean], yerr=err, color=colour, marker=marker or "o", ms=7,
                        ls="none", capsize=3, elinewidth=1.2, label=name, zorder=3)
    if len(dense):
        top.axhline(dense.mean(), color=style.METHOD_STYLE["dense"][0], ls="--", lw=1,
                    label="Dense", zorder=2)
    bottom.axhline(0.0, color=style.GREY, ls=":", lw=1, zorder=1)
    for ax in (top, bottom):
        if floor[ax] > -math.inf:
            lo, hi = ax.get_ylim()
            ax.set_ylim(max(lo, floor[ax] - 0.5), hi)
        ax.grid(axis="x", visible=False)
        ax.set_xticks(range(len(names)))
        ax.set_xlim(-0.6, len(names) - 0.4)
    top.set_ylabel("test accuracy (%)")
    bottom.set_ylabel("paired difference (points)")
    top.set_xticklabels([])
    bottom.set_xticklabels(names, rotation=35, ha="right", rotation_mode="anchor")


def _target(rows) -> str:
    r0 = rows.iloc[0]
    return display_target(str(r0["model"]), str(r0["dataset"]), float(r0["width"]))
