"""Parameters of the pruning jobs: :class:`ScoreConfig` (``autosparse score``: score theta_0 once
with a single-shot method) and :class:`PruneConfig` (``autosparse prune``: a mask at a sparsity),
the one place their flags, defaults and validation live. What needs the registries (the method,
its options, the model, the dataset, the device) is checked by :mod:`autosparse.pruning`.
Torch-free: the DAG planning (:func:`autosparse.workflow.args.score_args`, ``prune_args``)
builds job arguments from them."""

from __future__ import annotations

from dataclasses import dataclass

from .params import check_choices, param
from .retrain_config import NetworkConfig

SCOPES = ("global", "local")
ABLATION_KINDS = ("shuffle", "reinit", "invert")  # autosparse.ablations.ABLATIONS (a test ties them)
# Keys of the config's `prune` block that are not PruneConfig fields: the DAG's alone. `rounds`
# there maps a method to its rounds, which reach a job as its variant's --rounds.
DAG_ONLY = ("score_once", "rounds", "mem_mb", "runtime")


@dataclass(frozen=True, kw_only=True)
class ScoreConfig(NetworkConfig):
    """Scoring theta_0: the network, the method (options by ``set``) and its scoring data."""

    seed: int = param(0, "run seed: theta_0, the scoring examples, the method's seed option "
                      "(unless --set seed=) and the ablation draw", config="")
    method: str = param(help="a registered PaI method", config="")
    n_per_class: int = param(10, "scoring examples per class, drawn from the train split")
    batch_size: int = param(256, "scoring batch size: the examples are scored in batches of "
                            "this size, gradients summed (TinyImageNet's 2000 examples in one "
                            "GraSP batch took 12 GB)", config="")
    device: str = param("auto", "auto (CUDA when available), cpu, cuda or cuda:N: where the "
                        "method and the AutoS scorer run; masks are written from the CPU "
                        "either way", config="")
    set: tuple[str, ...] = param((), "method options, values parsed as YAML (seed=N: the "
                                 "method's seed); an option the method does not have is "
                                 "refused", metavar="KEY=VALUE", flag_help_default=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "set", tuple(self.set or ()))
        if self.n_per_class < 1:
            raise ValueError(f"n-per-class must be >= 1, got {self.n_per_class!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch-size must be >= 1, got {self.batch_size!r}")


@dataclass(frozen=True, kw_only=True)
class PruneConfig(ScoreConfig):
    """Pruning theta_0 at a sparsity: scoring (or the scores of a score store), the top-k scope
    and rounds, and an optional sanity-check ablation of the mask."""

    sparsity: float = param(help="fraction of the prunable weights removed, in [0, 1)",
                            config="")
    scope: str = param("global", "rank the scores over all layers together (global) or within "
                       "each layer (local)", choices=SCOPES)
    rounds: int | None = param(None, "pruning rounds, >= 1 (default: the method's own; 1 for a "
                               "single-shot method)", flag_help_default=False, config="")
    ablation: str | None = param(None, "sanity-check ablation of the mask (default: none): "
                                 "shuffle permutes each layer's mask, reinit keeps the mask and "
                                 "redraws theta_0, invert keeps the lowest-scored weights",
                                 choices=ABLATION_KINDS, flag_help_default=False, config="")
    ablation_seed: int | None = param(None, "shuffle seed (default --seed) / reinit init seed "
                                      "(default --seed+1000)", flag_help_default=False,
                                      config="")
    scores: str | None = param(None, "threshold the scores of this score store (made by "
                               "autosparse score) instead of scoring; it must have been made "
                               "with the same arguments", flag_help_default=False, config="")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self)
        if self.rounds is not None and self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds!r}")
        if self.ablation == "reinit" and self.ablation_seed == self.seed:
            raise ValueError(f"reinit needs an init seed other than --seed {self.seed}")
