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
former single module stays importable from here, loaded on first use (PEP 562): importing
:mod:`.config` (torch-free) through this package does not import torch.
"""

from __future__ import annotations

import importlib

# public name -> module defining it (relative to this package; ".." the autosparse package)
_EXPORTS = {
    **dict.fromkeys(["CHECKPOINT_FORMAT"], "..artifacts.scorer_checkpoint"),
    **dict.fromkeys(["FINITE_COLUMNS", "NUMERIC_COLUMNS", "REQUIRED_COLUMNS", "open_survival"],
                    "..artifacts.survival_dataset"),
    **dict.fromkeys(["features_from_context", "initial_features", "layer_context"],
                    "..features"),
    **dict.fromkeys(["register_cli", "run_cli"], ".cli"),
    **dict.fromkeys(["ARCHS", "CONTEXT_COLUMNS", "INPUTS", "LOSSES", "NORMALIZATIONS",
                     "TrainScorerConfig"], ".config"),
    **dict.fromkeys(["N_QUANTILES", "SAMPLE_SIZE", "FeatureStats", "context_features",
                     "normalize_features"], ".inputs"),
    **dict.fromkeys(["MLPScorer", "PaperScorer", "build_scorer", "flops_per_weight",
                     "init_scorer"], ".networks"),
    **dict.fromkeys(["in_train_subsample", "is_validation", "row_hash"], ".splits"),
    **dict.fromkeys(["iter_rows", "stats_groups", "stream_split", "survival_stats"], ".stream"),
    **dict.fromkeys(["Scorer", "load_scorer"], ".trained"),
    **dict.fromkeys(["batch_features", "evaluate_split", "pairwise_rank_loss", "spearman",
                     "train_scorer"], ".training"),
}
# names exported under another name: GRAD_MODES (features.GRAD_REDUCTIONS) and, for
# autosparse.figures.scorer, _predict_array (networks.predict_array)
_RENAMED = {"GRAD_MODES": ("..features", "GRAD_REDUCTIONS"),
            "_predict_array": (".networks", "predict_array")}

__all__ = sorted({*_EXPORTS, "GRAD_MODES"})


def __getattr__(name: str):
    if name in _EXPORTS:
        module, attr = _EXPORTS[name], name
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
