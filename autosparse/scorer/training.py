"""Training a scorer (AutoS seed App. B.3): regression on the survival score (Eq. 4, MSE as the
paper, or a pairwise ranking loss) with Adam over shuffled batches streamed from survival datasets,
a hash-based held-out split, and per-epoch validation MSE and Spearman."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..artifacts.survival_dataset import open_survival
from ..optim import Adam
from ..train import cpu_fused, format_duration
from .config import TrainScorerConfig
from .inputs import context_features, normalize_features
from .networks import init_scorer, predict_array
from .stream import stats_groups, stream_split, survival_stats
from .trained import Scorer

if TYPE_CHECKING:
    import pyarrow.dataset as pds


def batch_features(b: Mapping[str, np.ndarray], stats: Mapping, config: TrainScorerConfig
                   ) -> np.ndarray:
    """Scorer inputs of a block of survival rows (``gid`` indexes ``stats``)."""
    x = normalize_features(b["theta0"], b["grad0"], b["gid"], stats, config.normalize,
                           config.inputs)
    if config.context:
        x = np.concatenate([x, context_features(b["fan_in"], b["fan_out"], b["kind"],
                                                b["depth"])], 1)
    return x


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


def evaluate_split(model: nn.Module, dataset: pds.Dataset, stats: Mapping,
                   config: TrainScorerConfig, device: torch.device | str) -> dict:
    """Validation MSE and Spearman(prediction, survival score) over the held-out rows."""
    preds, targets = [], []
    for b in stream_split(dataset, "val", config.val_percent, 65536, 0,
                          read_batch=config.read_batch, groups=stats_groups(stats)):
        preds.append(predict_array(model, batch_features(b, stats, config), device,
                                    config.predict_batch))
        targets.append(b["score"].astype(np.float32))
    p = np.concatenate(preds) if preds else np.zeros(0, np.float32)
    t = np.concatenate(targets) if targets else np.zeros(0, np.float32)
    mse = float(np.mean((p.astype(np.float64) - t) ** 2)) if len(p) else float("nan")
    return {"val_mse": mse, "val_spearman": spearman(p, t), "val_rows": int(len(p))}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


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


__all__ = ["batch_features", "evaluate_split", "pairwise_rank_loss", "spearman", "train_scorer"]
