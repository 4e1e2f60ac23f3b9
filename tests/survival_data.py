"""Test fixture data: a real survival dataset in the DESIGN.md Parquet schema.

LeNet-300-100 (narrow) on real MNIST: theta_0, g_0 by :func:`autosparse.features.initial_features`
on real batches, and survival counts from a real iterative SNIP pruning at initialisation
(``rounds`` rounds of :func:`autosparse.methods.score` + :func:`autosparse.masks.topk_masks` over
:func:`autosparse.masks.density_schedule`, never reviving). To be replaced by the real IRP fixture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

import autosparse
from autosparse.features import initial_features
from autosparse.masks import density_schedule, topk_masks

SCHEMA = pa.schema([
    ("layer", pa.dictionary(pa.int32(), pa.string())), ("layer_index", pa.int32()),
    ("flat_index", pa.int64()), ("theta0", pa.float32()), ("grad0", pa.float32()),
    ("survived", pa.int16()), ("score", pa.float32()), ("fan_in", pa.int32()),
    ("fan_out", pa.int32()), ("kind", pa.dictionary(pa.int32(), pa.string())),
    ("depth", pa.float32()), ("run", pa.string()),
])


def snip_survival(model, batch, rounds: int, final_density: float) -> dict[str, torch.Tensor]:
    """Survival counts sum_i m_i (Eq. 4) of iterative SNIP at initialisation."""
    masks = autosparse.masks.dense_masks(model)
    counts = {n: torch.zeros(m.shape, dtype=torch.int16) for n, m in masks.items()}
    for density in density_schedule(final_density, rounds):
        scores = autosparse.score(model, "snip", [batch], masks=masks)
        masks = topk_masks(scores, density, "global", current=masks)
        for n in counts:
            counts[n] += masks[n].to(torch.int16)
    return counts


def write_survival(out: Path, mnist_train, seed: int = 0, width: float = 0.25, rounds: int = 10,
                   final_density: float = 0.02, run: str | None = None) -> Path:
    model = autosparse.build_model("lenet_300_100", 10, width=width, seed=seed)
    sub = autosparse.class_balanced_subset(mnist_train, 40, seed=seed)
    feats = initial_features(model, list(sub.batches(100)))
    counts = snip_survival(model, next(sub.batches(100)), rounds, final_density)
    allc = torch.cat([c.reshape(-1) for c in counts.values()]).float()
    lo, hi = float(allc.min()), float(allc.max())
    run = run or f"lenet_mnist_snip_seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    for part, names in enumerate([list(feats)[:1], list(feats)[1:]]):
        cols: dict[str, list] = {k: [] for k in SCHEMA.names}
        for name in names:
            f, c = feats[name], counts[name].reshape(-1)
            n = c.numel()
            cols["layer"].append(np.array([name] * n, dtype=object))
            cols["layer_index"].append(np.full(n, f["layer_index"], np.int32))
            cols["flat_index"].append(np.arange(n, dtype=np.int64))
            cols["theta0"].append(f["theta0"].reshape(-1).numpy())
            cols["grad0"].append(f["grad0"].reshape(-1).numpy())
            cols["survived"].append(c.numpy())
            cols["score"].append(((c.float() - lo) / (hi - lo)).numpy())
            cols["fan_in"].append(np.full(n, f["fan_in"], np.int32))
            cols["fan_out"].append(np.full(n, f["fan_out"], np.int32))
            cols["kind"].append(np.array([f["kind"]] * n, dtype=object))
            cols["depth"].append(np.full(n, f["depth"], np.float32))
            cols["run"].append(np.array([run] * n, dtype=object))
        arrays = []
        for fld in SCHEMA:
            v = np.concatenate(cols[fld.name])
            if pa.types.is_dictionary(fld.type):
                arrays.append(pa.array(v, pa.string()).dictionary_encode())
            else:
                arrays.append(pa.array(v, fld.type))
        table = pa.Table.from_arrays(arrays, schema=SCHEMA)
        pq.write_table(table, out / f"part-{part}.parquet", compression="zstd",
                       row_group_size=20000)
    return out


def survival_fixture(tmp_path_factory, mnist, name: str = "surv", seed: int = 0) -> Path:
    """Build (once per call) the survival dataset of ``seed`` under a fresh temp dir."""
    return write_survival(tmp_path_factory.mktemp(name) / "data", mnist[0], seed=seed)
