"""IterSNIP: SNIP re-scored over T rounds on the surviving weights (de Jorge et al. 2021;
METHODS.md). Each round computes ``|theta * dL/dtheta|`` on the masked network (gradients taken
through the mask, the pruned weights are zero) and the shared protocol prunes only among the
survivors, following the exponential schedule ``d^(t/T)``. Default ``T = 100`` rounds, the PX
paper's setting for every iterative PaI method (PX seed Sec. 5, "100 rounds ... exponential").
BatchNorm in train mode, as SNIP.
"""

from __future__ import annotations

import torch

from .base import ScoringContext, register_method
from .snip import snip_scores


@register_method("iter_snip", bn_mode="train", rounds=100)
def iter_snip_scores(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    return snip_scores(ctx)
