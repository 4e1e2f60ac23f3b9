"""AutoSparse: pruning at initialization, learned from iterative rewind pruning."""

from . import irp, survival
from .ablations import ablate, prune_ablated, reinit_model, shuffle_masks
from .data import class_balanced_subset, list_datasets, load_dataset
from .masks import apply_masks, mask_stats, topk_masks
from .methods import list_methods, prune, score
from .models import build_model, list_models, prunable_parameters
from .scorer import Scorer, TrainScorerConfig, initial_features, train_scorer
from .train import TrainConfig, evaluate, preset, train

__version__ = "0.1.0"

__all__ = [
    "TrainConfig", "ablate", "apply_masks", "build_model", "class_balanced_subset", "evaluate",
    "irp", "survival",
    "list_datasets", "list_methods", "list_models", "load_dataset", "mask_stats", "preset",
    "prunable_parameters", "prune", "prune_ablated", "reinit_model", "score",
    "shuffle_masks", "topk_masks", "train",
    "Scorer", "TrainScorerConfig", "initial_features", "train_scorer",
]
