"""Test fixture data: the inputs of every figure in :data:`autosparse.figures.FIGURES`, from tiny
real runs.

Metrics JSON (fig3, fig6, ablations) of LeNet-300-100 (width 1/4) trained for one epoch on
5 real MNIST images per class and tested on 5 per class, dense and pruned (magnitude, SNIP,
random; shuffle / reinit / invert ablations of magnitude and SNIP) at two sparsities and two
seeds, written where the DAG writes them (:func:`autosparse.workflow_paths.metrics_path`) with
the labels the DAG hands the figure; the mask stores they trained under (layerwise,
neuron_collapse); a 3-iteration IRP store (fig1) and its survival dataset with scorers trained
on it (fig4, fig5).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import autosparse
from autosparse import workflow_paths as wp
from autosparse.ablations import prune_ablated
from autosparse.store import write_mask_store
from autosparse.train import preset, train

TARGET = "lenet_300_100-mnist-w0.25"
METHODS = ("magnitude", "snip", "random")
ABLATED = ("magnitude", "snip")
KINDS = ("shuffle", "reinit", "invert")
SPARSITIES = (0.9, 0.99)
SEEDS = (0, 1)


def _run(root: Path, tr, te, batch, variant: str, sparsity: float | None, seed: int) -> str:
    """Train one job (dense when ``variant == "dense"``) and write its metrics JSON (and mask)."""
    v = wp.Variant.parse(variant)
    model = autosparse.build_model("lenet_300_100", 10, 0.25, seed=seed)
    masks, attrs, store = None, {}, None
    if v.method != "dense":
        masks, model, _ = prune_ablated(model, v.method, sparsity, v.ablation, data=[batch],
                                        seed=seed)
        attrs = {"method": v.method, "requested_sparsity": sparsity, "ablation": v.ablation}
        store = root / wp.mask_path(TARGET, variant, sparsity, seed)
        write_mask_store(store, masks, attrs=attrs)
    cfg = preset("lenet_300_100", "mnist", epochs=1, seed=seed, device="cpu", progress=False)
    result = train(model, tr, te, cfg, masks=masks, log=lambda m: None)
    final = {n: p.detach() != 0 for n, p in autosparse.prunable_parameters(model).items()}
    out = root / wp.metrics_path(TARGET, variant, sparsity, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "model": "lenet_300_100", "dataset": "mnist", "width": 0.25, "seed": seed,
        "mask": str(store) if store else None, "method": attrs.get("method", "dense"),
        "requested_sparsity": attrs.get("requested_sparsity", 0.0),
        "achieved_sparsity": autosparse.mask_stats(final)["sparsity"],
        "test_accuracy": result.test_accuracy, "test_size": len(te),
        "config": dataclasses.asdict(cfg)}))
    return str(out)


def accuracy_inputs(root: Path, mnist) -> dict[str, tuple[list[str], dict]]:
    """``{figure: (inputs, labels)}`` of fig3, fig6, ablations, layerwise and neuron_collapse."""
    tr = autosparse.class_balanced_subset(mnist[0], 5, seed=0)
    te = autosparse.class_balanced_subset(mnist[1], 5, seed=0)
    batch = next(tr.batches(len(tr)))
    net = {"net": "lenet_300_100/mnist", "dataset_note": ""}
    dense = [_run(root, tr, te, batch, "dense", None, s) for s in SEEDS]
    runs = {(m, a, sp, s): _run(root, tr, te, batch, wp.Variant(m, ablation=a).slug, sp, s)
            for m in METHODS for a in (None, *KINDS) if a is None or m in ABLATED
            for sp in SPARSITIES for s in SEEDS}
    fig3 = dense + [p for (m, a, _, _), p in runs.items() if a is None]
    fig3_labels = {p: net for p in fig3}
    # fig6: configured labels (free text, as the DAG's experiments.fig6 keys)
    names = {"magnitude": "AutoS", "snip": "SNIP-iter", "random": "LTH"}
    fig6 = dense + [p for (m, a, _, _), p in runs.items() if a is None]
    fig6_labels = {p: {"variant_label": names[wp.parse_metrics_path(p)["method"]]}
                   for p in fig6 if "/dense/" not in p}
    abl = dense + [p for (m, a, _, _), p in runs.items() if m in ABLATED]
    abl_labels = {p: {"ablation": wp.parse_metrics_path(p)["ablation"] or "original"}
                  for p in abl}
    masks = sorted({str(json.loads(Path(p).read_text())["mask"]) for p in fig3
                    if "/dense/" not in p})
    layerwise = [m for m in masks if "/s0.99/" in m]
    # beyond: the DAG's roles (magnitude standing in for a learned row)
    roles = {"snip": "baseline", "random": "baseline", "magnitude": "learned", "dense": "dense"}
    beyond_labels = {p: {"role": roles[wp.parse_metrics_path(p)["method"]],
                         "entry": wp.parse_metrics_path(p)["method"]} for p in fig3}
    return {"fig3": (fig3, fig3_labels), "fig6": (fig6, fig6_labels),
            "beyond": (fig3, beyond_labels),
            "ablations": (abl, abl_labels), "layerwise": (layerwise, {}),
            "neuron_collapse": (masks, {})}


def irp_store(root: Path, data_root) -> str:
    """A 3-iteration SNIP IRP run of LeNet-300-100 (width 0.1) on real MNIST (fig1)."""
    from autosparse import irp

    cfg = irp.IRPConfig(model="lenet_300_100", dataset="mnist", criterion="snip", iterations=3,
                        width=0.1, train_overrides={"epochs": 1}, train_per_class=20,
                        test_per_class=10)
    out = root / "irp.zarr"
    irp.run_irp(cfg, out, data_root, log=lambda m: None)
    return str(out)


def scorer_inputs(root: Path, store: str) -> dict[str, tuple[list[str], dict]]:
    """fig4 (a param+grad scorer) and fig5 (param-only, grad-only), trained on the survival
    dataset of IRP store ``store``."""
    from autosparse import scorer as S
    from autosparse import survival

    surv = survival.build([store], root / "survival")
    paths = {}
    for inputs in ("param+grad", "param", "grad"):
        cfg = S.TrainScorerConfig(arch="mlp", inputs=inputs, normalize="layer_standardize",
                                  epochs=1, val_percent=50, shuffle_buffer=16384, read_batch=8192)
        paths[inputs] = str(root / f"scorer-{inputs.replace('+', '_')}.pt")
        S.train_scorer(surv, cfg, out=paths[inputs], log=None)
    return {"fig4": ([paths["param+grad"], str(surv)], {}),
            "fig5": ([paths["param"], paths["grad"], str(surv)], {})}
