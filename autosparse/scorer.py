"""The AutoS scorer (AutoS seed Sec. 4, App. B.2-B.3, Table 7, App. D.1): a network mapping the
initial features of one weight, (theta_0, g_0), to its predicted survival score (Eq. 3), trained
by regression on survival datasets (Eq. 4) streamed from Parquet.

Pieces, each one function used by training and by application to a target network alike:

- :func:`initial_features`: theta_0 and g_0 of a target network. g_0 is the **sum of batch-mean
  cross-entropy gradients over the given batches, BatchNorm in eval mode** (what the authors' code
  did, METHODS.md); ``grad_mode="mean"`` divides by the number of batches.
- :func:`normalize_features`: the feature normalisation (``NORMALIZATIONS``), applied with
  statistics of the network the rows come from (per IRP run for training rows, the target itself
  when pruning), computed by :class:`FeatureStats` in one streaming pass.
- :func:`build_scorer`: the paper's ResNet-18 / VGG-19 scorers (Table 7) and a cheap MLP.
- :func:`train_scorer`: MSE (paper) or pairwise ranking loss, Adam, streamed shuffled batches, a
  hash-based held-out split, per-epoch validation MSE and Spearman; :class:`Scorer` loads the
  checkpoint (``torch.load(weights_only=True)``) and scores a model.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch import nn
from torch.nn import functional as F

from .models import build_model, layer_fans, prunable_modules, prunable_parameters
from .train import Adam, cpu_fused, format_duration

if TYPE_CHECKING:
    import pyarrow.dataset as pds

# ---------------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------------

INPUTS: dict[str, tuple[str, ...]] = {
    "param": ("theta0",),
    "grad": ("grad0",),
    "param+grad": ("theta0", "grad0"),
}
NORMALIZATIONS = {
    "none": "raw theta_0 and g_0, as the authors",
    "layer_standardize": "per layer: (x - mean) / std of that layer of that network",
    "global_standardize": "per network: (x - mean) / std over all its prunable weights",
    "layer_rank": "per layer: sign(x) * quantile of |x| among that layer's |x|, in [-1, 1]",
}
CONTEXT_COLUMNS = ("fan_in", "fan_out", "kind", "depth")
ARCHS = ("resnet18", "vgg19", "mlp")
LOSSES = ("mse", "rank")
GRAD_MODES = ("sum", "mean")
REQUIRED_COLUMNS = ("layer", "layer_index", "flat_index", "theta0", "grad0", "survived", "score",
                    "fan_in", "fan_out", "kind", "depth", "run")
NUMERIC_COLUMNS = ("layer_index", "flat_index", "theta0", "grad0", "survived", "score", "fan_in",
                   "fan_out", "depth")
FINITE_COLUMNS = ("theta0", "grad0", "score")  # scorer inputs and target: a NaN trains a NaN scorer
N_QUANTILES = 257  # knots of the per-layer |x| quantile function (layer_rank)
SAMPLE_SIZE = 8192  # per-layer bottom-k hash sample the quantiles are estimated from


def _check_choice(name: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {sorted(valid)}, got {value!r}")


def layer_context(model: nn.Module) -> dict[str, dict]:
    """Per prunable weight (in prunable order): layer_index, fan_in, fan_out (PyTorch's
    convention, :func:`~autosparse.models.layer_fans`), kind (conv/linear), depth = index/(L-1)."""
    mods = prunable_modules(model)
    n = len(mods)
    out = {}
    for i, (name, m) in enumerate(mods.items()):
        fan_in, fan_out, kind = layer_fans(tuple(m.weight.shape))
        out[name] = {
            "layer_index": i, "fan_in": fan_in, "fan_out": fan_out, "kind": kind,
            "depth": i / (n - 1) if n > 1 else 0.0,
        }
    return out


def features_from_context(ctx, grad_mode: str = "sum") -> dict[str, dict]:
    """theta_0, g_0 and layer context of the model of a scoring context (methods.base protocol:
    a private copy in the method's BatchNorm mode, scoring batches on its device)."""
    from .methods.base import loss_gradients

    _check_choice("grad_mode", grad_mode, GRAD_MODES)
    grads = loss_gradients(ctx)
    nb = len(ctx.batches or [])
    context = layer_context(ctx.model)
    out = {}
    for name, p in ctx.params.items():
        g = grads[name] / nb if grad_mode == "mean" else grads[name]
        out[name] = {"theta0": p.detach().cpu().float(), "grad0": g.detach().cpu().float(),
                     **context[name]}
    return out


def initial_features(
    model: nn.Module, data: Iterable, grad_mode: str = "sum", bn_mode: str = "eval"
) -> dict[str, dict]:
    """``{param_name: {theta0, grad0, layer_index, fan_in, fan_out, kind, depth}}`` of ``model``.

    g_0 is the sum of batch-mean cross-entropy gradients over the given batches in eval mode
    (``grad_mode="sum"``, the authors' code; METHODS.md), or their mean (``"mean"``). The model is
    not modified. The same function feeds survival datasets and the ``autos`` method.
    """
    from .masks import dense_masks
    from .methods.base import BN_MODES, ScoringContext, get_method, prepare_batches

    _check_choice("grad_mode", grad_mode, GRAD_MODES)
    _check_choice("bn_mode", bn_mode, BN_MODES)
    batches = prepare_batches(model, data, get_method("autos"))
    work = copy.deepcopy(model).train(bn_mode == "train")
    for p in work.parameters():
        p.requires_grad_(True)
    ctx = ScoringContext(work, prunable_parameters(work), batches, dense_masks(work), 0, 1, {})
    return features_from_context(ctx, grad_mode)


# --- row hashing: the validation split and the quantile samples -------------------------------

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _str_hash(s: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little"))


def row_hash(run: Sequence[str] | str, layer: Sequence[str] | str, flat_index) -> np.ndarray:
    """64-bit hash of (run, layer name, flat_index) per row: splitmix64 chained over blake2b of
    the strings. Stable across machines, file layouts and row order."""
    flat = np.asarray(flat_index, dtype=np.int64).astype(np.uint64)
    n = flat.shape[0]
    hr = np.full(n, _str_hash(run)) if isinstance(run, str) else _hash_strings(run)
    hl = np.full(n, _str_hash(layer)) if isinstance(layer, str) else _hash_strings(layer)
    with np.errstate(over="ignore"):
        return _splitmix(hr ^ _splitmix(hl ^ _splitmix(flat)))


def _hash_strings(values) -> np.ndarray:
    arr = pa.array(values) if not isinstance(values, (pa.Array, pa.ChunkedArray)) else values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    table = np.array([_str_hash(str(s)) for s in arr.dictionary.to_pylist()], dtype=np.uint64)
    return table[arr.indices.to_numpy(zero_copy_only=False).astype(np.int64)]


def is_validation(hashes: np.ndarray, val_percent: float) -> np.ndarray:
    """Held-out rows: ``row_hash mod 10000 < 100 * val_percent`` (disjoint from training rows,
    stable under reordering, and the same for every scorer trained on the same rows)."""
    return (hashes % np.uint64(10000)).astype(np.int64) < int(round(100 * val_percent))


def in_train_subsample(hashes: np.ndarray, train_percent: float) -> np.ndarray:
    """Training rows kept at ``train_percent``: ``(row_hash // 10000) mod 10000 < 100 * percent``,
    bits independent of the validation split, so the subsample is a fixed, unbiased share."""
    if train_percent >= 100:
        return np.ones(len(hashes), dtype=bool)
    return ((hashes // np.uint64(10000)) % np.uint64(10000)).astype(np.int64) < int(
        round(100 * train_percent))


# --- normalisation statistics -----------------------------------------------------------------


class FeatureStats:
    """Per-group (one group = one layer of one network) statistics of theta_0 and g_0 for
    :func:`normalize_features`, accumulated in one streaming pass: count, mean, std (float64
    sums), per-network totals, and quantiles of |x| from the bottom-``SAMPLE_SIZE`` rows by hash
    (hash of flat_index: a deterministic uniform sample, independent of row order and identical
    for a layer whether read from a survival dataset or taken from the network itself)."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []  # (network/run, layer)
        self._index: dict[tuple[str, str], int] = {}
        self._sums: list[np.ndarray] = []  # [count, s_t, s_g, ss_t, ss_g]
        self._sample: list[tuple[np.ndarray, np.ndarray]] = []  # (hashes, |x| pairs [k, 2])

    def group(self, run: str, layer: str) -> int:
        key = (str(run), str(layer))
        if key not in self._index:
            self._index[key] = len(self.keys)
            self.keys.append(key)
            self._sums.append(np.zeros(5))
            self._sample.append((np.zeros(0, np.uint64), np.zeros((0, 2))))
        return self._index[key]

    def update(self, gid: int, theta0: np.ndarray, grad0: np.ndarray, flat_index: np.ndarray
               ) -> None:
        """Add rows of group ``gid`` (``flat_index`` keys the sample: unique within a layer)."""
        t, g = np.asarray(theta0, np.float64), np.asarray(grad0, np.float64)
        self._sums[gid] += [t.size, t.sum(), g.sum(), (t * t).sum(), (g * g).sum()]
        h0, v0 = self._sample[gid]
        with np.errstate(over="ignore"):
            key = _splitmix(np.asarray(flat_index, np.int64).astype(np.uint64) ^ _M2)
        h = np.concatenate([h0, key])
        v = np.concatenate([v0, np.stack([np.abs(t), np.abs(g)], 1)])
        if h.size > SAMPLE_SIZE:
            keep = np.argsort(h, kind="stable")[:SAMPLE_SIZE]
            h, v = h[keep], v[keep]
        self._sample[gid] = (h, v)

    def to_dict(self) -> dict:
        """Plain types and tensors (stored in checkpoints, loadable with weights_only=True)."""
        sums = np.stack(self._sums) if self._sums else np.zeros((0, 5))
        n = np.maximum(sums[:, 0], 1)
        mean = sums[:, 1:3] / n[:, None]
        std = np.sqrt(np.maximum(sums[:, 3:5] / n[:, None] - mean**2, 0.0))
        runs = sorted({r for r, _ in self.keys})
        glob = {}
        for r in runs:
            s = sums[[i for i, k in enumerate(self.keys) if k[0] == r]].sum(0)
            m = s[1:3] / max(s[0], 1)
            glob[r] = (m, np.sqrt(np.maximum(s[3:5] / max(s[0], 1) - m**2, 0.0)))
        q = np.linspace(0, 1, N_QUANTILES)
        knots = np.stack([np.quantile(v, q, axis=0).T if len(v) else np.zeros((2, N_QUANTILES))
                          for _, v in self._sample]) if self._sample else np.zeros((0, 2, 0))
        return {
            "runs": [k[0] for k in self.keys], "layers": [k[1] for k in self.keys],
            "count": torch.from_numpy(sums[:, 0].astype(np.int64)),
            "mean": torch.from_numpy(mean), "std": torch.from_numpy(std),
            "global_mean": torch.from_numpy(np.stack([glob[r][0] for r in
                                                      [k[0] for k in self.keys]]))
            if self.keys else torch.zeros(0, 2),
            "global_std": torch.from_numpy(np.stack([glob[r][1] for r in
                                                     [k[0] for k in self.keys]]))
            if self.keys else torch.zeros(0, 2),
            "abs_quantiles": torch.from_numpy(knots),
        }


def normalize_features(
    theta0: np.ndarray, grad0: np.ndarray, gid: np.ndarray | int, stats: Mapping,
    method: str, inputs: str,
) -> np.ndarray:
    """Feature matrix ``[n, len(INPUTS[inputs])]`` (float32) of rows from groups ``gid`` of
    ``stats`` (:meth:`FeatureStats.to_dict`). One function for training rows and targets."""
    _check_choice("normalize", method, NORMALIZATIONS)
    _check_choice("inputs", inputs, INPUTS)
    x = np.stack([np.asarray(theta0, np.float64), np.asarray(grad0, np.float64)], 1)
    gid = np.broadcast_to(np.asarray(gid, np.int64), (x.shape[0],))
    if method in ("layer_standardize", "global_standardize"):
        pre = "" if method == "layer_standardize" else "global_"
        mean = stats[pre + "mean"].numpy()[gid]
        std = stats[pre + "std"].numpy()[gid]
        x = (x - mean) / np.where(std > 0, std, 1.0)
    elif method == "layer_rank":
        knots = stats["abs_quantiles"].numpy()
        q = np.linspace(0, 1, knots.shape[-1])
        out = np.empty_like(x)
        for g in np.unique(gid):
            rows = gid == g
            for c in range(2):
                out[rows, c] = np.sign(x[rows, c]) * np.interp(np.abs(x[rows, c]), knots[g, c], q)
        x = out
    cols = [{"theta0": 0, "grad0": 1}[c] for c in INPUTS[inputs]]
    return x[:, cols].astype(np.float32)


def context_features(fan_in, fan_out, kind, depth) -> np.ndarray:
    """Layer context for the MLP: log10 fan_in, log10 fan_out, is_conv, depth (``[n, 4]``)."""
    kind = np.asarray(kind)
    return np.stack([
        np.log10(np.maximum(np.asarray(fan_in, np.float64), 1)),
        np.log10(np.maximum(np.asarray(fan_out, np.float64), 1)),
        (kind == "conv").astype(np.float64),
        np.asarray(depth, np.float64),
    ], 1).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Networks (Table 7)
# ---------------------------------------------------------------------------------------------


class PaperScorer(nn.Module):
    """Table 7: Linear(n_in, 64)+BN+ReLU -> Linear(64, C*S*S)+BN+ReLU -> C x S x S "image" ->
    CIFAR backbone with one regression output (no sigmoid, no output ReLU).

    ResNet-18: C=3, S=32 by default (~11.4M parameters). VGG-19: C=1, S=64 (the "64 x 64 map" of
    Table 7) into VGG-19-BN; Table 7's third linear layer [64x64, 64x64x64] (1.07G weights) and its
    mismatched bias sizes are not coherent and are left out. ``width`` and ``image_size`` shrink
    the same design for CPU profiles."""

    def __init__(self, arch: str, n_in: int, width: float = 1.0, image_size: int | None = None):
        super().__init__()
        _check_choice("arch", arch, ("resnet18", "vgg19"))
        self.channels = 3 if arch == "resnet18" else 1
        self.size = int(image_size or (32 if arch == "resnet18" else 64))
        n_map = self.channels * self.size * self.size
        self.encoder = nn.Sequential(
            nn.Linear(n_in, 64), nn.BatchNorm1d(64), nn.ReLU(),
            nn.Linear(64, n_map), nn.BatchNorm1d(n_map), nn.ReLU(),
        )
        name = "resnet18" if arch == "resnet18" else "vgg19_bn"
        self.backbone = build_model(name, 1, width, (self.channels, self.size, self.size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        img = self.encoder(x).view(-1, self.channels, self.size, self.size)
        return self.backbone(img).squeeze(1)


class MLPScorer(nn.Module):
    """Cheap per-weight scorer: MLP over the features (+ optional layer context)."""

    def __init__(self, n_in: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = n_in
        for h in hidden:
            layers += [nn.Linear(d, int(h)), nn.ReLU()]
            d = int(h)
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


@dataclass
class TrainScorerConfig:
    """Scorer architecture and training (App. B.3 defaults: Adam, lr 0.01, batch 1024, 10 epochs,
    MSE). Table 8's grid is ``batch_size`` x ``lr``."""

    arch: str = "resnet18"
    inputs: str = "param+grad"
    normalize: str = "none"
    context: bool = False  # layer context features (mlp only)
    width: float = 1.0  # backbone width multiplier (paper scorers)
    image_size: int | None = None  # encoded map size S (default 32 resnet18, 64 vgg19)
    hidden: tuple[int, ...] = (64, 64)  # mlp
    epochs: int = 10
    batch_size: int = 1024
    lr: float = 0.01
    loss: str = "mse"
    rank_pairs: int = 8  # sampled pairs per row for loss="rank"
    val_percent: float = 10.0
    train_percent: float = 100.0  # share of the non-validation rows trained on (quick profiles)
    seed: int = 0
    shuffle_buffer: int = 262144  # rows shuffled together when streaming
    read_batch: int = 65536  # Parquet record-batch size
    device: str = "cpu"

    def validate(self) -> TrainScorerConfig:
        _check_choice("arch", self.arch, ARCHS)
        _check_choice("inputs", self.inputs, INPUTS)
        _check_choice("normalize", self.normalize, NORMALIZATIONS)
        _check_choice("loss", self.loss, LOSSES)
        if self.context and self.arch != "mlp":
            raise ValueError(f"context features are for arch='mlp', got arch={self.arch!r}")
        for name in ("epochs", "batch_size", "shuffle_buffer", "read_batch", "rank_pairs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if not (self.lr > 0 and self.width > 0):
            raise ValueError(f"lr and width must be > 0, got {self.lr!r}, {self.width!r}")
        if self.image_size is not None:
            step = 32 if self.arch == "vgg19" else 1  # VGG-19 halves the map five times
            if int(self.image_size) < max(step, 1) or int(self.image_size) % step:
                raise ValueError(f"image_size must be a positive multiple of {step} for arch "
                                 f"{self.arch!r}, got {self.image_size!r}")
        if not 0 < self.val_percent < 100:
            raise ValueError(f"val_percent must lie in (0, 100), got {self.val_percent!r}")
        if not 0 < self.train_percent <= 100:
            raise ValueError(f"train_percent must lie in (0, 100], got {self.train_percent!r}")
        self.hidden = tuple(int(h) for h in self.hidden)
        return self

    @property
    def predict_batch(self) -> int:
        """Rows per inference forward: large for the MLP, bounded for the image backbones."""
        return 65536 if self.arch == "mlp" else max(1024, self.batch_size)

    @property
    def n_features(self) -> int:
        return len(INPUTS[self.inputs]) + (len(CONTEXT_COLUMNS) if self.context else 0)

    @classmethod
    def from_dict(cls, d: Mapping) -> TrainScorerConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "hidden" else v) for k, v in d.items() if k in names})


def build_scorer(config: TrainScorerConfig) -> nn.Module:
    """The scorer network of ``config`` (Table 7 for resnet18/vgg19; an MLP for mlp)."""
    if config.arch == "mlp":
        return MLPScorer(config.n_features, config.hidden)
    return PaperScorer(config.arch, config.n_features, config.width, config.image_size)


def flops_per_weight(model: nn.Module, n_in: int) -> int:
    """FLOPs (2 x MAC) of one scorer forward per weight, by torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode

    model = copy.deepcopy(model).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, n_in))
    return int(fc.get_total_flops())


# ---------------------------------------------------------------------------------------------
# Streaming survival datasets
# ---------------------------------------------------------------------------------------------


def open_survival(dirs: str | os.PathLike | Sequence[str | os.PathLike]) -> pds.Dataset:
    """One pyarrow dataset over the Parquet files of one or more survival directories."""
    import pyarrow.dataset as pds  # lazy: it imports pandas (~0.5 s) in every DAG job

    dirs = [dirs] if isinstance(dirs, (str, os.PathLike)) else list(dirs)
    if not dirs:
        raise ValueError("no survival dataset directory given")
    parts = []
    for d in dirs:
        if not Path(d).is_dir():
            raise FileNotFoundError(f"survival dataset {str(d)!r} is not a directory")
        files = sorted(str(p) for p in Path(d).rglob("*.parquet") if not p.name.startswith("."))
        if not files:
            raise FileNotFoundError(f"survival dataset {str(d)!r} has no Parquet files")
        fmt = pds.ParquetFileFormat(default_fragment_scan_options=pds.ParquetFragmentScanOptions(
            page_checksum_verification=True))  # pages written with a CRC (survival.write_dataset)
        try:
            part = pds.dataset(files, format=fmt)
        except (OSError, pa.ArrowException) as e:
            from .store import DamagedArtifactError

            raise DamagedArtifactError(f"survival dataset {str(d)!r}: unreadable ({e})") from None
        for frag in part.get_fragments():  # the dataset's schema is its first file's
            schema = frag.physical_schema
            missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
            if missing:
                raise ValueError(f"survival dataset {str(d)!r}: {Path(frag.path).name} lacks "
                                 f"columns {missing}")
            for c in NUMERIC_COLUMNS:
                t = schema.field(c).type
                if not (pa.types.is_floating(t) or pa.types.is_integer(t)
                        or pa.types.is_boolean(t)):
                    raise ValueError(f"survival dataset {str(d)!r}: column {c!r} of "
                                     f"{Path(frag.path).name} has type {t}, not a number")
        parts.append(part)
    return parts[0] if len(parts) == 1 else pds.dataset(parts)


def _fragments(dataset: pds.Dataset) -> list:
    frags = list(dataset.get_fragments())
    return sorted(frags, key=lambda f: f.path)


def iter_rows(
    dataset: pds.Dataset, read_batch: int = 65536, order_seed: int | None = None,
    groups: dict[tuple[str, str], int] | None = None, grow: bool = False,
) -> Iterator[dict[str, np.ndarray]]:
    """Record batches as dicts of numpy columns, file by file (file order permuted by
    ``order_seed`` when given), plus ``hash`` (:func:`row_hash`) and ``gid``: the index of the
    row's (run, layer) in ``groups`` (added to it when ``grow``). Holds one record batch."""
    groups = {} if groups is None else groups
    frags = _fragments(dataset)
    if order_seed is not None:
        perm = np.random.default_rng(order_seed).permutation(len(frags))
        frags = [frags[i] for i in perm]
    for frag in frags:
        for rb in _batches(frag, read_batch):
            if rb.num_rows == 0:
                continue
            out = {c: rb.column(c).to_numpy(zero_copy_only=False) for c in NUMERIC_COLUMNS}
            run, layer = _encode(rb.column("run")), _encode(rb.column("layer"))
            runs, layers = run.dictionary.to_pylist(), layer.dictionary.to_pylist()
            ri = run.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            li = layer.indices.to_numpy(zero_copy_only=False).astype(np.int64)
            uniq, inv = np.unique(ri * len(layers) + li, return_inverse=True)
            table = np.empty(len(uniq), np.int64)
            for k, u in enumerate(uniq.tolist()):
                key = (str(runs[u // len(layers)]), str(layers[u % len(layers)]))
                if key not in groups:
                    if not grow:
                        raise KeyError(f"rows of (run, layer) {key} have no normalisation stats")
                    groups[key] = len(groups)
                table[k] = groups[key]
            out["gid"] = table[inv.reshape(-1)]
            out["layer"] = np.asarray(layers, dtype=object)[li]
            out["kind"] = _decode(rb.column("kind"))
            out["hash"] = row_hash(run, layer, out["flat_index"])
            yield out


def _batches(frag, read_batch: int) -> Iterator[pa.RecordBatch]:
    """A fragment's record batches; a page failing its checksum or to decode ->
    :class:`~autosparse.store.DamagedArtifactError` naming the file."""
    try:
        yield from frag.to_batches(columns=list(REQUIRED_COLUMNS), batch_size=read_batch,
                                   use_threads=False)
    except (OSError, pa.ArrowException) as e:
        from .store import DamagedArtifactError

        raise DamagedArtifactError(f"survival dataset file {frag.path}: unreadable ({e}): "
                                   "damaged or truncated") from None


def _encode(arr: pa.Array) -> pa.DictionaryArray:
    return arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)


def _decode(arr: pa.Array) -> np.ndarray:
    arr = _encode(arr)
    words = np.asarray(arr.dictionary.to_pylist(), dtype=object)
    return words[arr.indices.to_numpy(zero_copy_only=False).astype(np.int64)]


def survival_stats(dataset: pds.Dataset, read_batch: int = 65536) -> dict:
    """One streaming pass: :class:`FeatureStats` per (run, layer) over all rows (features only,
    no labels), plus the row count."""
    acc = FeatureStats()
    groups: dict[tuple[str, str], int] = {}
    n = 0
    for b in iter_rows(dataset, read_batch, groups=groups, grow=True):
        for c in FINITE_COLUMNS:
            bad = np.flatnonzero(~np.isfinite(b[c]))
            if len(bad):
                i = int(bad[0])
                raise ValueError(f"survival dataset: column {c!r} has non-finite values (first: "
                                 f"{b[c][i]} in layer {b['layer'][i]!r}, "
                                 f"flat index {b['flat_index'][i]}); refusing to train on it")
        n += len(b["theta0"])
        for key in list(groups):
            acc.group(*key)  # same order as groups
        for gid in np.unique(b["gid"]).tolist():
            rows = b["gid"] == gid
            acc.update(gid, b["theta0"][rows], b["grad0"][rows], b["flat_index"][rows])
    return {**acc.to_dict(), "rows": n}


def stats_groups(stats: Mapping) -> dict[tuple[str, str], int]:
    """``{(run, layer): group index}`` of normalisation stats."""
    return {(r, la): i for i, (r, la) in enumerate(zip(stats["runs"], stats["layers"]))}


def batch_features(b: Mapping[str, np.ndarray], stats: Mapping, config: TrainScorerConfig
                   ) -> np.ndarray:
    """Scorer inputs of a block of survival rows (``gid`` indexes ``stats``)."""
    x = normalize_features(b["theta0"], b["grad0"], b["gid"], stats, config.normalize,
                           config.inputs)
    if config.context:
        x = np.concatenate([x, context_features(b["fan_in"], b["fan_out"], b["kind"],
                                                b["depth"])], 1)
    return x


def stream_split(
    dataset: pds.Dataset, split: str, val_percent: float, batch_size: int,
    shuffle_buffer: int = 0, seed: int = 0, read_batch: int = 65536,
    columns: Sequence[str] | None = None, groups: dict[tuple[str, str], int] | None = None,
    grow: bool | None = None, train_percent: float = 100.0,
) -> Iterator[dict[str, np.ndarray]]:
    """Minibatches (dicts of numpy columns) of the ``"train"`` or ``"val"`` rows.

    Each row of the split appears exactly once per pass. With ``shuffle_buffer > 0`` rows are
    shuffled within a buffer of that many rows (filled from record batches, the file order also
    permuted) under ``seed``; otherwise they come in file order. The last batch may be short.
    ``gid`` indexes ``groups`` (``{(run, layer): i}``; new keys are added when ``grow``, default:
    when no ``groups`` are given; otherwise an unknown key is an error). ``train_percent`` keeps
    that share of the training rows (:func:`in_train_subsample`)."""
    _check_choice("split", split, ("train", "val"))
    rng = np.random.default_rng(seed)
    buf: list[dict[str, np.ndarray]] = []
    nbuf = 0
    order_seed = int(rng.integers(2**31)) if shuffle_buffer > 0 else None

    def emit(block: dict[str, np.ndarray], final: bool):
        n = len(block["hash"])
        if shuffle_buffer > 0:
            perm = rng.permutation(n)
            block = {k: v[perm] for k, v in block.items()}
        stop = n if final else n - n % batch_size
        for i in range(0, stop, batch_size):
            yield {k: v[i:i + batch_size] for k, v in block.items()}
        return {k: v[stop:] for k, v in block.items()}

    grow = groups is None if grow is None else grow
    for b in iter_rows(dataset, read_batch, order_seed, groups, grow=grow):
        keep = is_validation(b["hash"], val_percent)
        if split == "train":
            keep = ~keep & in_train_subsample(b["hash"], train_percent)
        if columns is not None:
            b = {k: b[k] for k in sorted(set(columns) | {"hash"})}
        buf.append({k: v[keep] for k, v in b.items()})
        nbuf += int(keep.sum())
        if nbuf >= max(shuffle_buffer, batch_size):
            block = {k: np.concatenate([x[k] for x in buf]) for k in buf[0]}
            rest = yield from emit(block, final=False)
            buf, nbuf = [rest], len(rest["hash"])
    if nbuf:
        block = {k: np.concatenate([x[k] for x in buf]) for k in buf[0]}
        yield from emit(block, final=True)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def pairwise_rank_loss(pred: torch.Tensor, target: torch.Tensor, pairs: int,
                       gen: torch.Generator) -> torch.Tensor:
    """Pairwise logistic loss log(1 + exp(-(p_i - p_j))) over ``pairs`` random in-batch pairs
    with target_i > target_j (ties dropped)."""
    n = pred.shape[0]
    i = torch.randint(n, (pairs,), generator=gen).to(pred.device)
    j = torch.randint(n, (pairs,), generator=gen).to(pred.device)
    sign = torch.sign(target[i] - target[j])
    keep = sign != 0
    if not bool(keep.any()):
        return pred.sum() * 0.0
    return F.softplus(-sign[keep] * (pred[i[keep]] - pred[j[keep]])).mean()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); nan when one side is constant."""
    from scipy.stats import spearmanr

    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


@torch.no_grad()
def _predict_array(model: nn.Module, x: np.ndarray, device, batch_size: int = 65536
                   ) -> np.ndarray:
    model.eval()
    out = [model(torch.from_numpy(x[i:i + batch_size]).to(device)).float().cpu()
           for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def evaluate_split(model, dataset, stats, config: TrainScorerConfig, device) -> dict:
    """Validation MSE and Spearman(prediction, survival score) over the held-out rows."""
    preds, targets = [], []
    for b in stream_split(dataset, "val", config.val_percent, 65536, 0,
                          read_batch=config.read_batch, groups=stats_groups(stats)):
        preds.append(_predict_array(model, batch_features(b, stats, config), device,
                                    config.predict_batch))
        targets.append(b["score"].astype(np.float32))
    p = np.concatenate(preds) if preds else np.zeros(0, np.float32)
    t = np.concatenate(targets) if targets else np.zeros(0, np.float32)
    mse = float(np.mean((p.astype(np.float64) - t) ** 2)) if len(p) else float("nan")
    return {"val_mse": mse, "val_spearman": spearman(p, t), "val_rows": int(len(p))}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def init_scorer(config: TrainScorerConfig) -> nn.Module:
    """The scorer network at its seeded initialisation (the "before training" of Fig. 4)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return build_scorer(config)


def train_scorer(
    data: str | os.PathLike | Sequence[str | os.PathLike], config: TrainScorerConfig,
    out: str | os.PathLike | None = None, log: Callable[[str], None] | None = _log,
) -> Scorer:
    """Train a scorer on survival datasets ``data`` (App. B.3) and optionally save it to ``out``.

    Streams the training rows (shuffle buffer), logs and records per-epoch training loss,
    validation MSE and Spearman (epoch 0 = at initialisation). Deterministic under ``seed``.
    """
    config = TrainScorerConfig.from_dict(asdict(config)).validate()
    dataset = open_survival(data)
    device = torch.device(config.device)
    t0 = time.perf_counter()
    stats = survival_stats(dataset, config.read_batch)
    model = init_scorer(config).to(device)
    params = list(model.parameters())
    opt = Adam(params, lr=config.lr, fused=cpu_fused(params))
    gen = torch.Generator().manual_seed(config.seed)
    history = [{"epoch": 0, "train_loss": None, "train_rows": 0, "seconds": 0.0,
                **evaluate_split(model, dataset, stats, config, device)}]
    if log:
        log(f"scorer epoch 0: val mse {history[0]['val_mse']:.5f} spearman "
            f"{history[0]['val_spearman']:.4f} ({history[0]['val_rows']} val rows, "
            f"{stats['rows']} rows, stats {time.perf_counter() - t0:.1f}s)")
    min_rows = 2 if config.arch != "mlp" else 1  # BatchNorm needs 2 rows in train mode
    for epoch in range(1, config.epochs + 1):
        te = time.perf_counter()
        model.train()
        total, rows, last_log = 0.0, 0, time.perf_counter()
        for b in stream_split(dataset, "train", config.val_percent, config.batch_size,
                              config.shuffle_buffer, config.seed * 1000003 + epoch,
                              config.read_batch, groups=stats_groups(stats),
                              train_percent=config.train_percent):
            n = len(b["score"])
            if n < min_rows:
                continue
            x = torch.from_numpy(batch_features(b, stats, config)).to(device)
            y = torch.from_numpy(b["score"].astype(np.float32)).to(device)
            pred = model(x)
            if config.loss == "mse":
                loss = F.mse_loss(pred, y)
            else:
                loss = pairwise_rank_loss(pred, y, config.rank_pairs * n, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * n
            rows += n
            if log and time.perf_counter() - last_log > 30:
                last_log = time.perf_counter()
                log(f"  epoch {epoch}: {rows} rows, loss {total / rows:.5f}, "
                    f"{rows / (last_log - te):.0f} rows/s")
        if rows == 0:
            raise ValueError("the training split of the survival data is empty")
        rec = {"epoch": epoch, "train_loss": total / rows, "train_rows": rows,
               "seconds": time.perf_counter() - te,
               **evaluate_split(model, dataset, stats, config, device)}
        history.append(rec)
        if log:
            log(f"scorer epoch {epoch}/{config.epochs}: train {config.loss} "
                f"{rec['train_loss']:.5f}, val mse {rec['val_mse']:.5f}, spearman "
                f"{rec['val_spearman']:.4f} ({rows / rec['seconds']:.0f} rows/s, eta "
                f"{format_duration((time.perf_counter() - t0) / epoch * (config.epochs - epoch))})")
    scorer = Scorer(model.cpu().eval(), config, stats, history,
                    [str(d) for d in ([data] if isinstance(data, (str, os.PathLike)) else data)])
    if out is not None:
        scorer.save(out)
    return scorer


# ---------------------------------------------------------------------------------------------
# A trained scorer
# ---------------------------------------------------------------------------------------------

CHECKPOINT_FORMAT = "autosparse-scorer-v1"


def _state_digests(state_dict: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """Content digest (:func:`autosparse.store.array_digest`) of every tensor of a state dict."""
    from .store import array_digest

    return {k: array_digest(v.detach().cpu().numpy()) for k, v in state_dict.items()}


@dataclass
class Scorer:
    """A trained scorer: network, config, training-set normalisation stats and history."""

    model: nn.Module
    config: TrainScorerConfig
    stats: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    data: list = field(default_factory=list)

    def state(self) -> dict:
        """Checkpoint dict (plain types and tensors only)."""
        from .store import provenance

        cfg = asdict(self.config)
        cfg["hidden"] = list(cfg["hidden"])
        sd = self.model.state_dict()
        return {"format": CHECKPOINT_FORMAT, "config": cfg, "state_dict": sd,
                "history": self.history, "norm_stats": self.stats, "data": self.data,
                "provenance": provenance(), "digests": _state_digests(sd)}

    def save(self, path: str | os.PathLike) -> None:
        """torch.save of :meth:`state` to a temporary sibling, renamed into place."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        torch.save(self.state(), tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> Scorer:
        if not Path(path).is_file():
            raise FileNotFoundError(f"scorer checkpoint {str(path)!r} not found")
        from .store import DamagedArtifactError

        try:
            ck = torch.load(path, map_location=device, weights_only=True)
        except (RuntimeError, EOFError, OSError, ValueError) as e:  # truncated / not a zip
            raise DamagedArtifactError(f"scorer checkpoint {str(path)!r}: unreadable "
                                       f"({type(e).__name__}: {str(e).splitlines()[0]})") from None
        if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{str(path)!r} is not an autosparse scorer checkpoint")
        recorded = ck.get("digests")  # None: written before digests, read unverified
        if recorded is not None:
            got = _state_digests(ck["state_dict"])
            for key in sorted(set(recorded) | set(got)):
                if recorded.get(key) != got.get(key):
                    raise DamagedArtifactError(f"scorer checkpoint {str(path)!r}: tensor {key}: "
                                               "content digest mismatch (damaged file)")
        config = TrainScorerConfig.from_dict(ck["config"]).validate()
        model = build_scorer(config)
        model.load_state_dict(ck["state_dict"])
        model.to(device)
        return cls(model.eval(), config, ck["norm_stats"], ck["history"], ck["data"])

    def check_inputs(self, inputs: str | None = None, normalize: str | None = None) -> None:
        """Raise unless the scorer takes ``inputs`` with ``normalize`` (when given) and its
        network's input width equals what its config feeds it."""
        if inputs is not None and inputs != self.config.inputs:
            raise ValueError(f"scorer takes inputs {self.config.inputs!r}, request is {inputs!r}")
        if normalize is not None and normalize != self.config.normalize:
            raise ValueError(
                f"scorer was trained with normalize={self.config.normalize!r}, request is "
                f"{normalize!r}")
        first = next(m for m in self.model.modules() if isinstance(m, nn.Linear))
        if first.in_features != self.config.n_features:
            raise ValueError(f"scorer network takes {first.in_features} features, its config "
                             f"({self.config.inputs}, context={self.config.context}) gives "
                             f"{self.config.n_features}")

    def features(self, feats: Mapping[str, Mapping]) -> dict[str, np.ndarray]:
        """Scorer inputs per layer of a target's :func:`initial_features`, normalised with the
        target's own statistics (same :class:`FeatureStats` / :func:`normalize_features`)."""
        acc = FeatureStats()
        for name, f in feats.items():
            t = f["theta0"].reshape(-1).numpy()
            acc.update(acc.group("target", name), t, f["grad0"].reshape(-1).numpy(),
                       np.arange(t.size))
        stats = acc.to_dict()
        out = {}
        for gid, (name, f) in enumerate(feats.items()):
            t, g = f["theta0"].reshape(-1).numpy(), f["grad0"].reshape(-1).numpy()
            x = normalize_features(t, g, gid, stats, self.config.normalize, self.config.inputs)
            if self.config.context:
                n = t.size
                x = np.concatenate([x, context_features(
                    np.full(n, f["fan_in"]), np.full(n, f["fan_out"]), np.full(n, f["kind"]),
                    np.full(n, f["depth"]))], 1)
            out[name] = x
        return out

    def predict(self, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        device = next(self.model.parameters()).device
        return _predict_array(self.model, np.ascontiguousarray(x, np.float32), device,
                              batch_size or self.config.predict_batch)

    def score_features(self, feats: Mapping[str, Mapping], batch_size: int | None = None
                       ) -> dict[str, torch.Tensor]:
        """Predicted survival score per weight, shaped like each weight (Eq. 3)."""
        self.check_inputs()
        xs = self.features(feats)
        return {n: torch.from_numpy(self.predict(x, batch_size)).reshape(feats[n]["theta0"].shape)
                for n, x in xs.items()}


def load_scorer(scorer: str | os.PathLike | Scorer, device: str | torch.device = "cpu") -> Scorer:
    """A :class:`Scorer` as given, or loaded from its checkpoint onto ``device``."""
    return scorer if isinstance(scorer, Scorer) else Scorer.load(scorer, device)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------


def run_cli(args: argparse.Namespace) -> int:
    cfg = TrainScorerConfig(
        arch=args.arch, inputs=args.inputs, normalize=args.normalize, context=args.context,
        width=args.width, image_size=args.image_size, hidden=tuple(args.hidden),
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, loss=args.loss,
        val_percent=args.val_percent, train_percent=args.train_percent, seed=args.seed,
        shuffle_buffer=args.shuffle_buffer,
        device=args.device,
    ).validate()
    if args.threads:
        torch.set_num_threads(args.threads)
    scorer = train_scorer(args.data, cfg, args.out)
    last = scorer.history[-1]
    print(f"val spearman {last['val_spearman']:.4f}, val mse {last['val_mse']:.5f} -> {args.out}")
    return 0


def register_cli(sub) -> None:
    from .cli import str2bool

    p = sub.add_parser("scorer-train", help="train an AutoS scorer on survival datasets")
    p.add_argument("--data", nargs="+", required=True, help="survival dataset directories")
    p.add_argument("--arch", choices=ARCHS, default="resnet18",
                   help="scorer network: the paper's encoder into a ResNet-18 or VGG-19 "
                        "backbone (Table 7), or an MLP on the features (default: %(default)s)")
    p.add_argument("--inputs", choices=sorted(INPUTS), default="param+grad",
                   help="per-weight input features: theta_0 (param), g_0 (grad) or both "
                        "(default: %(default)s)")
    p.add_argument("--normalize", choices=sorted(NORMALIZATIONS), default="none",
                   help="feature normalisation: none (raw, as the authors), per layer or per "
                        "network standardisation, or per-layer signed rank "
                        "(default: %(default)s)")
    p.add_argument("--context", type=str2bool, default=False, metavar="BOOL",
                   help="add layer context features fan_in, fan_out, kind, depth (mlp only; "
                        "true/false, default: false)")
    p.add_argument("--width", type=float, default=1.0,
                   help="backbone width multiplier, > 0 (default: %(default)s)")
    p.add_argument("--image-size", type=int, default=None, metavar="S",
                   help="encoded map size S (default: 32 for resnet18, 64 for vgg19; a multiple "
                        "of 32 for vgg19)")
    p.add_argument("--hidden", type=int, nargs="+", default=[64, 64],
                   help="mlp hidden layer sizes (default: 64 64)")
    p.add_argument("--epochs", type=int, default=10,
                   help="training epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=1024,
                   help="rows per training batch (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.01,
                   help="Adam learning rate (default: %(default)s)")
    p.add_argument("--loss", choices=LOSSES, default="mse",
                   help="regression on the survival score (mse) or a pairwise ranking loss "
                        "(rank) (default: %(default)s)")
    p.add_argument("--val-percent", type=float, default=10.0,
                   help="percent of the rows held out for validation (by row hash), in (0, 100) "
                        "(default: %(default)s)")
    p.add_argument("--train-percent", type=float, default=100.0,
                   help="percent of the training rows used, in (0, 100] (hash subsample; quick "
                        "profiles) (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the scorer's init and the row shuffling (default: %(default)s)")
    p.add_argument("--shuffle-buffer", type=int, default=262144, metavar="ROWS",
                   help="rows shuffled together while streaming the data (default: %(default)s)")
    p.add_argument("--device", default="cpu",
                   help="torch device to train on, e.g. cpu, cuda, cuda:1 (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's own)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint path (.pt)")
    p.set_defaults(func=run_cli)


__all__ = [
    "ARCHS", "INPUTS", "NORMALIZATIONS", "FeatureStats", "MLPScorer", "PaperScorer", "Scorer",
    "TrainScorerConfig", "build_scorer", "flops_per_weight", "init_scorer", "initial_features",
    "is_validation", "layer_context", "load_scorer", "normalize_features", "open_survival",
    "row_hash", "stream_split", "survival_stats", "train_scorer",
]

