"""A trained scorer (:class:`Scorer`): its network, config, normalisation statistics of its
training rows and history, saved to and loaded from a scorer checkpoint
(:mod:`autosparse.artifacts.scorer_checkpoint`), and applied to a target network's initial
features (Eq. 3: a predicted survival score per weight)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..artifacts.scorer_checkpoint import checkpoint_state, load_checkpoint, save_checkpoint
from .config import TrainScorerConfig
from .inputs import FeatureStats, context_features, normalize_features
from .networks import build_scorer, predict_array


@dataclass
class Scorer:
    """A trained scorer: network, config, training-set normalisation stats and history."""

    model: nn.Module
    config: TrainScorerConfig
    stats: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    data: list = field(default_factory=list)

    def state(self) -> dict:
        """Checkpoint dict (plain types and tensors only; the format:
        :mod:`autosparse.artifacts.scorer_checkpoint`)."""
        return checkpoint_state(self.config.to_dict(), self.model.state_dict(), self.history,
                                self.stats, self.data)

    def save(self, path: str | os.PathLike) -> None:
        """:meth:`state` to a scorer checkpoint at ``path``, written atomically."""
        save_checkpoint(path, self.state())

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu",
             expect: TrainScorerConfig | None = None) -> Scorer:
        """The scorer of a checkpoint, verified (a damaged file:
        :class:`~autosparse.store.DamagedArtifactError`), its network on ``device``.

        ``expect``, when given (the config the caller needs), must have the recorded config's
        canonical hash (else a ValueError naming both)."""
        ck = load_checkpoint(path, device)
        config = TrainScorerConfig.from_dict(ck["config"])
        model = build_scorer(config)
        model.load_state_dict(ck["state_dict"])
        model.to(device)
        have = config.config_hash()
        if expect is not None and expect.config_hash() != have:
            raise ValueError(f"scorer checkpoint {str(path)!r} was trained with config "
                             f"{have}, not the expected {expect.config_hash()}")
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
        """Predicted survival scores of the scorer input rows ``x``."""
        device = next(self.model.parameters()).device
        return predict_array(self.model, np.ascontiguousarray(x, np.float32), device,
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


__all__ = ["Scorer", "load_scorer"]
