"""The AutoS scorer (AutoS seed Sec. 4, App. B.2-B.3, Table 7, App. D.1): a network mapping the
initial features of one weight, (theta_0, g_0), to its predicted survival score (Eq. 3), trained
by regression on survival datasets (Eq. 4) streamed from Parquet.

One module per concern, each used by training and by application to a target network alike:

- :mod:`.config`: the options and their choices (:class:`TrainScorerConfig`);
- :mod:`autosparse.features`: theta_0, g_0 and layer context of a network
  (:func:`initial_features`; g_0 is the **sum of batch-mean cross-entropy gradients over the given
  batches, BatchNorm in eval mode**, what the authors' code did, METHODS.md);
- :mod:`.inputs`: the feature normalisation (``NORMALIZATIONS``) with statistics of the network
  the rows come from (:class:`FeatureStats`, one streaming pass);
- :mod:`.splits`: the hash-based held-out split and training subsample;
- :mod:`.stream`: survival rows streamed from Parquet, by split, and their statistics;
- :mod:`.networks`: the paper's ResNet-18 / VGG-19 scorers (Table 7) and a cheap MLP;
- :mod:`.training`: :func:`train_scorer` (MSE or pairwise ranking loss, Adam, per-epoch
  validation MSE and Spearman);
- :mod:`.trained`: :class:`Scorer`, a trained scorer saved to and loaded from its checkpoint
  (:mod:`autosparse.artifacts.scorer_checkpoint`, ``torch.load(weights_only=True)``);
- :mod:`.cli`: the ``scorer-train`` subcommand.

The survival dataset reader is :mod:`autosparse.artifacts.survival_dataset`; every name of the
former single module stays importable from here.
"""

from __future__ import annotations

from ..artifacts.scorer_checkpoint import CHECKPOINT_FORMAT
from ..artifacts.survival_dataset import (
    FINITE_COLUMNS,
    NUMERIC_COLUMNS,
    REQUIRED_COLUMNS,
    open_survival,
)
from ..features import GRAD_REDUCTIONS as GRAD_MODES
from ..features import features_from_context, initial_features, layer_context
from .cli import register_cli, run_cli
from .config import (
    ARCHS,
    CONTEXT_COLUMNS,
    INPUTS,
    LOSSES,
    NORMALIZATIONS,
    TrainScorerConfig,
)
from .inputs import (
    N_QUANTILES,
    SAMPLE_SIZE,
    FeatureStats,
    context_features,
    normalize_features,
)
from .networks import MLPScorer, PaperScorer, build_scorer, flops_per_weight, init_scorer
from .networks import predict_array as _predict_array  # noqa: F401  (figures.scorer)
from .splits import in_train_subsample, is_validation, row_hash
from .stream import iter_rows, stats_groups, stream_split, survival_stats
from .trained import Scorer, load_scorer
from .training import batch_features, evaluate_split, pairwise_rank_loss, spearman, train_scorer

__all__ = [
    "ARCHS", "CHECKPOINT_FORMAT", "CONTEXT_COLUMNS", "FINITE_COLUMNS", "GRAD_MODES", "INPUTS",
    "LOSSES", "NORMALIZATIONS", "NUMERIC_COLUMNS", "N_QUANTILES", "REQUIRED_COLUMNS",
    "SAMPLE_SIZE", "FeatureStats", "MLPScorer", "PaperScorer", "Scorer", "TrainScorerConfig",
    "batch_features", "build_scorer", "context_features", "evaluate_split",
    "features_from_context", "flops_per_weight", "in_train_subsample", "init_scorer",
    "initial_features", "is_validation", "iter_rows", "layer_context", "load_scorer",
    "normalize_features", "open_survival", "pairwise_rank_loss", "register_cli", "row_hash",
    "run_cli", "spearman", "stats_groups", "stream_split", "survival_stats", "train_scorer",
]
