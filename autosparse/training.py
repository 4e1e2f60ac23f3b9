"""The masked trainer: trains a network under a fixed mask (AutoS App. A/C presets).

Pruned weights are exactly zero at every step: gradients are masked before and weights after each
optimizer step. Data stays as uint8 tensors on the training device; batches are shuffled, augmented
(4-pixel pad random crop + flip) and normalised as whole tensors, never per sample. Seeded runs are
bit-reproducible on the CPU, and a run killed between epochs resumes from its checkpoint to the
same final weights. The optimizers run torch's own kernels (fused on the CPU) through its public
functional API (:mod:`autosparse.optim`: bit for bit ``torch.optim.SGD`` / ``Adam``, without the
``torch._dynamo`` import their class costs every job). Old import path: :mod:`autosparse.train`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .artifacts.atomic import replace_file
from .data import ImageTensorDataset, augment_batch, augment_params
from .masks import MaskEnforcer
from .optim import SGD, Adam, FunctionalOptimizer
from .train_config import (  # noqa: F401  (the training settings, re-exported)
    OPTIMIZERS,
    TrainConfig,
    load_presets,
    make_config,
    preset,
)


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` -> CUDA when available, else the CPU; ``cpu``, ``cuda`` or ``cuda:N`` as given.
    A malformed name, or CUDA asked for where there is none, raises a ValueError naming it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError):
        d = None
    if d is None or d.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if d.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available on this machine")
    return d


def cpu_fused(params) -> bool | None:
    """True when every parameter is a float32 CPU tensor: torch's fused CPU kernels then update
    them (Adam and momentum SGD several times faster per step than torch's per-tensor CPU loop,
    benchmarks/bench_optimizer.py); None (torch's default) elsewhere."""
    return all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params) or None


def make_optimizer(params, cfg: TrainConfig, fused: bool | None = None) -> SGD | Adam:
    """``cfg``'s optimizer: :class:`~autosparse.optim.Adam` or :class:`~autosparse.optim.SGD`
    (plain, momentum or Nesterov; torch.optim's kernels and state format), with
    fused kernels where :func:`cpu_fused` says so, or as ``fused`` says."""
    params = list(params)
    fused = cpu_fused(params) if fused is None else fused
    if cfg.optimizer == "adam":
        return Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)
    momentum = 0.0 if cfg.optimizer == "sgd" else cfg.momentum
    return SGD(params, lr=cfg.lr, momentum=momentum, weight_decay=cfg.weight_decay,
               nesterov=cfg.optimizer == "nesterov", fused=fused)


@torch.no_grad()
def evaluate(
    model: nn.Module, data: ImageTensorDataset, batch_size: int = 1000,
    device: str | torch.device | None = None, bf16: bool = True,
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy in %) of ``model`` on ``data``, in eval mode."""
    device = torch.device(device) if device else next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.long)
    amp = device.type == "cuda" and bf16
    for x, y in data.batches(batch_size, device):
        with torch.autocast(device.type, torch.bfloat16, enabled=amp):
            out = model(x)
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
        correct += (out.argmax(1) == y).sum()
    model.train(was_training)
    n = len(data)
    return float(loss_sum) / n, 100.0 * float(correct) / n


@dataclass
class TrainResult:
    history: list[dict]
    test_accuracy: float
    test_loss: float
    wall_time: float
    resumed_from_epoch: int = 0


def format_duration(s: float) -> str:
    """``42.0s``, ``3m05s`` or ``2h07m``."""
    if s >= 3600:
        return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"
    return f"{int(s // 60)}m{int(s % 60):02d}s" if s >= 60 else f"{s:.1f}s"


ESTIMATE_STEPS = (1, 4)  # the run's duration is estimated from steps 2-4 (step 1 warms up)
ESTIMATE_MIN_S = 60.0  # runs estimated shorter than this say nothing
SLOW_CPU_RUN_S = 600.0  # a CPU run estimated longer than this says how to shorten it


def estimate_message(step_s: float, steps: int, epochs: int, device: torch.device) -> str | None:
    """The estimate a run prints after its first steps (None for a short run)."""
    total = step_s * steps * epochs
    if total < ESTIMATE_MIN_S:
        return None
    where = "on this CPU" if device.type == "cpu" else f"on {device}"
    msg = (f"estimate: ~{format_duration(total)} {where} for {epochs} epoch(s) "
           f"({step_s:.3g} s/step x {steps} steps/epoch, evaluation not counted)")
    if device.type == "cpu" and total > SLOW_CPU_RUN_S:
        msg += "; pass fewer epochs (epochs=) or use a GPU"
    return msg


class CapturedStep:
    """A training step replayed as one CUDA graph (``torch.cuda.CUDAGraph``).

    ``step(idx, off, flip)`` is the whole step on the device: gather the batch ``idx`` of the
    resident data, augment it with ``off``/``flip``, forward, loss, backward, masks, ``opt.step()``.
    The first :attr:`WARMUP` calls run it eagerly on a side stream (real steps: cuDNN picks its
    algorithms and the optimizer makes its buffers), the next one captures it into static
    buffers; every later call copies its inputs into those buffers and replays the graph, one
    launch per step. Batches of another size (the last, ragged one) run eagerly.

    In the warm-up and captured steps the (fused) optimizer reads its learning rate from the
    device tensor :attr:`lr`, filled from its group's ``lr`` before every call, so that a replay
    sees each epoch's rate; Adam is ``capturable`` there (its step count on the device), as for a
    graph-captured ``step()``. Both are set for those steps only: the group keeps its float
    ``lr`` (the ragged step, the checkpoint).
    """

    WARMUP = 3

    def __init__(self, step, opt: FunctionalOptimizer, batch_size: int, device: torch.device,
                 log) -> None:
        self.step, self.opt, self.batch_size, self.graph, self.calls = step, opt, batch_size, None, 0
        self.log = log
        self.idx = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.off = torch.zeros(2, batch_size, dtype=torch.long, device=device)
        self.flip = torch.zeros(batch_size, dtype=torch.bool, device=device)
        self.lr = torch.zeros((), dtype=torch.float32, device=device)
        self.loss: torch.Tensor | None = None

    def _static_step(self, off: torch.Tensor | None, flip: torch.Tensor | None) -> torch.Tensor:
        """The step on the static buffers, every group's ``lr`` the device tensor :attr:`lr`."""
        groups = self.opt.param_groups
        saved = [(g["lr"], g.get("capturable")) for g in groups]
        for g in groups:
            g["lr"] = self.lr
            if "capturable" in g:
                g["capturable"] = True
        try:
            return self.step(self.idx, off, flip)
        finally:
            for g, (lr, capturable) in zip(groups, saved):
                g["lr"] = lr
                if capturable is not None:
                    g["capturable"] = capturable

    def __call__(self, idx: torch.Tensor, off: torch.Tensor | None,
                 flip: torch.Tensor | None) -> torch.Tensor:
        if len(idx) != self.batch_size:
            return self.step(idx, off, flip)
        self.idx.copy_(idx)
        if off is not None:
            self.off.copy_(off)
            self.flip.copy_(flip)
        self.lr.fill_(self.opt.param_groups[0]["lr"])
        off_s, flip_s = (self.off, self.flip) if off is not None else (None, None)
        if self.graph is None:
            self.calls += 1
            if self.calls <= self.WARMUP:
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    loss = self._static_step(off_s, flip_s)
                torch.cuda.current_stream().wait_stream(side)
                return loss
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):  # records the step; the replay below runs it
                self.loss = self._static_step(off_s, flip_s)
            self.log(f"captured the training step as one CUDA graph after {self.WARMUP} eager "
                     "warm-up steps")
        self.graph.replay()
        return self.loss


class OutOfTime(Exception):
    """A run stopped at its time budget (``--max-runtime``) with its checkpoint written; the same
    command run again continues it (under SLURM: the profile's retries resubmit it)."""

    exit_status = 75  # EX_TEMPFAIL, "try again": the CLI's exit status


def past_deadline(deadline: float | None, next_step_s: float) -> bool:
    """Whether a step expected to take ``next_step_s`` would end after ``deadline`` (time.time())."""
    return deadline is not None and time.time() + next_step_s > deadline


# Fields that may differ between a run and its resumption (where and how it is shown).
RESUMABLE_FIELDS = ("device", "progress", "eval_batch_size", "cuda_graph")


IDENTITY_FIELD = "{identity}"  # in a checkpoint's file name: the run's identity hash


def run_identity(model: nn.Module, cfg: TrainConfig, masks: Mapping[str, torch.Tensor] | None,
                 train_size: int) -> dict:
    """What a checkpoint must share with the run resuming it: the config (less
    :data:`RESUMABLE_FIELDS`), digests of the starting weights and of the mask, the train-set
    size. A checkpoint of another seed, lr, mask or init is refused, not resumed."""
    from .store import array_digest, config_hash, to_numpy  # zarr: only for checkpointed runs

    def digest(tensors) -> str:
        return config_hash({k: array_digest(to_numpy(t)) for k, t in tensors.items()}, 32)

    conf = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RESUMABLE_FIELDS}
    return {"config": conf, "weights": digest(model.state_dict()),
            "mask": digest(dict(masks)) if masks else None, "train_size": int(train_size)}


def check_checkpoint(state: Mapping, identity: Mapping, path: Path) -> None:
    """Raise ValueError naming what differs when ``state`` is not this run's checkpoint."""
    theirs = state.get("identity")
    if theirs == identity:
        return
    if theirs is None:
        what = "it records no run identity (written before checkpoints were checked)"
    else:
        diff = [f"{k} {theirs['config'].get(k)!r} != {v!r}" for k, v in identity["config"].items()
                if theirs["config"].get(k) != v]
        diff += [f"different {k}" for k in ("weights", "mask", "train_size")
                 if theirs.get(k) != identity[k]]
        what = "; ".join(diff)
    raise ValueError(f"checkpoint {path} belongs to another run ({what}): remove it or choose "
                     "another --checkpoint")


def train(model: nn.Module, train_data: ImageTensorDataset, test_data: ImageTensorDataset | None,
          config: TrainConfig, masks: Mapping[str, torch.Tensor] | None = None,
          checkpoint: str | os.PathLike | None = None, log=None,
          deadline: float | None = None) -> TrainResult:
    """Train ``model`` in place under ``masks``; resume from ``checkpoint`` if it exists.

    The checkpoint (written atomically after every epoch) holds the model, optimizer and
    data-order RNG state; it is read with ``torch.load(weights_only=True)`` onto the CPU, from where
    ``load_state_dict`` puts the model and optimizer state on the device. With a
    ``checkpoint`` and a ``deadline`` (``time.time()``), training stops with :class:`OutOfTime`
    after the epoch whose successor would end past it. ``{identity}`` in the checkpoint's file
    name is replaced by the hash of the run's identity (:func:`run_identity`), so that a work
    folder keeps one checkpoint per run and never offers another run's (the DAG's form).
    """
    cfg = config
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda"
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    model.to(device)
    if cuda:
        torch.backends.cudnn.benchmark = True
    if cuda and cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    enforcer = MaskEnforcer(model, masks)
    enforcer.weights()
    captured = cuda and cfg.cuda_graph
    opt = make_optimizer(model.parameters(), cfg, fused=True if captured else None)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []
    start = 0
    ckpt = Path(checkpoint) if checkpoint else None
    identity = run_identity(model, cfg, masks, len(train_data)) if ckpt is not None else None
    if ckpt is not None and IDENTITY_FIELD in ckpt.name:
        from .store import config_hash

        ckpt = ckpt.with_name(ckpt.name.replace(IDENTITY_FIELD, config_hash(identity)))
    if ckpt is not None and ckpt.exists():
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, OSError) as e:  # truncated / not a torch zip
            raise ValueError(f"checkpoint {ckpt} is unreadable ({type(e).__name__}: "
                             f"{str(e).splitlines()[0]}): remove it or choose another "
                             "--checkpoint") from None
        check_checkpoint(state, identity, ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        history, start = list(state["history"]), int(state["epoch"])
        log(f"resuming from {ckpt} at epoch {start}/{cfg.epochs}")

    def forward_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(x), y)

    if cuda and cfg.compile and not captured:
        forward_loss = torch.compile(forward_loss, mode=cfg.compile_mode)
    augment = train_data.spec.augment if cfg.augment is None else cfg.augment
    X = train_data.images.to(device)
    Y = train_data.labels.to(device)
    fmt = torch.channels_last if (cuda and cfg.channels_last) else torch.contiguous_format

    def step(idx: torch.Tensor, off: torch.Tensor | None, flip: torch.Tensor | None) -> torch.Tensor:
        """One optimizer step on the batch ``idx`` (masked: grads before, weights after it)."""
        x, y = X[idx], Y[idx]
        if augment:
            x = augment_batch(x, off, flip)
        x = train_data.normalize(x).contiguous(memory_format=fmt)
        # autocast's weight cache must be off inside a CUDA graph capture
        with torch.autocast(device.type, torch.bfloat16, enabled=cuda and cfg.bf16,
                            cache_enabled=False if captured else None):
            loss = forward_loss(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        enforcer.grads()
        opt.step()
        enforcer.weights()
        return loss.detach()

    run_step = CapturedStep(step, opt, cfg.batch_size, device, log) if captured else step
    if test_data is not None:  # keep the test set resident on the device too
        test_data = ImageTensorDataset(test_data.images.to(device), test_data.labels.to(device),
                                       test_data.spec, test_data.split)
    n = len(Y)
    steps = math.ceil(n / cfg.batch_size)
    bar = sys.stderr.isatty() if cfg.progress is None else cfg.progress
    t0 = time.perf_counter()
    for epoch in range(start, cfg.epochs):
        te = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = cfg.lr_at(epoch)
        model.train()
        # All of the epoch's randomness is drawn here, on the CPU generator, then moved once.
        perm = torch.randperm(n, generator=gen).to(device)
        if augment:
            off, flip = (t.to(device) for t in augment_params(n, gen))
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        pbar = None
        if bar:
            from tqdm import tqdm

            pbar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False)
        for step, i in enumerate(range(0, n, cfg.batch_size), 1):
            if epoch == start and step - 1 in ESTIMATE_STEPS:  # steps done so far: 1, then 4
                if cuda:
                    torch.cuda.synchronize(device)
                if step - 1 == ESTIMATE_STEPS[0]:
                    t_est = time.perf_counter()
                else:
                    per_step = (time.perf_counter() - t_est) / (step - 1 - ESTIMATE_STEPS[0])
                    msg = estimate_message(per_step, steps, cfg.epochs - start, device)
                    if msg:
                        log(msg)
            idx = perm[i : i + cfg.batch_size]
            loss = run_step(idx, off[:, i : i + cfg.batch_size] if augment else None,
                            flip[i : i + cfg.batch_size] if augment else None)
            loss_sum += loss * len(idx)
            if pbar is not None:
                pbar.update()
        if pbar is not None:
            pbar.close()
        rec = {"epoch": epoch + 1, "lr": cfg.lr_at(epoch), "train_loss": float(loss_sum) / n}
        if test_data is not None:
            rec["test_loss"], rec["test_accuracy"] = evaluate(model, test_data, cfg.eval_batch_size,
                                                              device, cfg.bf16)
        rec["epoch_time"] = time.perf_counter() - te
        history.append(rec)
        done = epoch + 1 - start
        eta = (time.perf_counter() - t0) / done * (cfg.epochs - epoch - 1)
        acc = f" test acc {rec['test_accuracy']:.2f}%" if "test_accuracy" in rec else ""
        log(f"epoch {epoch + 1}/{cfg.epochs} loss {rec['train_loss']:.4f}{acc} "
            f"lr {rec['lr']:.3g} {format_duration(rec['epoch_time'])} eta {format_duration(eta)}")
        if ckpt is not None:
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                     "generator": gen.get_state(), "epoch": epoch + 1, "history": history,
                     "config": dataclasses.asdict(cfg), "identity": identity}
            with replace_file(ckpt) as tmp:
                torch.save(state, tmp)
            if epoch + 1 < cfg.epochs and past_deadline(deadline, rec["epoch_time"]):
                raise OutOfTime(f"time budget reached after epoch {epoch + 1}/{cfg.epochs}; "
                                f"checkpoint {ckpt} written: run the same command again to "
                                "continue")
    last = history[-1] if history else {}
    return TrainResult(history, float(last.get("test_accuracy", math.nan)),
                       float(last.get("test_loss", math.nan)), time.perf_counter() - t0, start)
