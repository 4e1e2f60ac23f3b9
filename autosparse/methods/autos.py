"""AutoS: prune with a learned scorer (AutoS seed Alg. 1, Eq. 3).

theta_0, g_0 and layer context of the target are computed by
:func:`autosparse.features.features_from_context` (the same definitions as for IRP stores and
survival datasets: the sum of batch-mean gradients over the scoring
batches, BatchNorm in **eval** mode as the authors' ``model_eval``); the scorer predicts a score
per weight, in batches of ``batch_size`` weights; the shared protocol keeps the top globally.

Options: ``scorer`` (checkpoint path or :class:`autosparse.scorer.Scorer`, required),
``batch_size`` (weights per scorer forward; default 65536 for the MLP, max(1024,
training batch) for the image backbones), ``grad_mode`` ("sum"/"mean"), and ``inputs`` /
``normalize``: when given they must equal the scorer's, else a ValueError.
"""

from __future__ import annotations

import torch

from .base import ScoringContext, register_method


@register_method("autos", bn_mode="eval", scorer=None, batch_size=None, grad_mode="sum",
                 inputs=None, normalize=None)
def autos_scores(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    from ..features import features_from_context
    from ..scorer.trained import load_scorer

    opts = ctx.options
    if opts["scorer"] is None:
        raise ValueError("method 'autos' needs scorer=<checkpoint path or Scorer>")
    batch_size = opts["batch_size"]
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    scorer = load_scorer(opts["scorer"], ctx.device)
    scorer.check_inputs(opts["inputs"], opts["normalize"])
    feats = features_from_context(ctx, opts["grad_mode"])
    return scorer.score_features(feats, batch_size)
