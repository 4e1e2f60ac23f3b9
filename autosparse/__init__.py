"""AutoSparse: pruning at initialization, learned from iterative rewind pruning.

The names below are imported on first use (PEP 562), so that ``python -m autosparse table ...``
and the other torch-free stages start without importing torch (3-4 s of CPU per DAG job).

``autosparse.train`` is the training function (:func:`autosparse.training.train`). The module
``autosparse/train.py`` (the old import path of the trainer's names, loading them lazily) is
imported below, first: the import system binds a submodule to its package's attribute of the same
name once, when it first loads it, so the binding made here is the only one, and deleting it
leaves ``train`` to :func:`__getattr__`.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> submodule defining it (a submodule exported as itself maps to its own name)
_EXPORTS = {
    "irp": "irp", "survival": "survival",
    "ablate": "ablations", "prune_ablated": "ablations", "reinit_model": "ablations",
    "shuffle_masks": "ablations",
    "class_balanced_subset": "data", "list_datasets": "data", "load_dataset": "data",
    "apply_masks": "masks", "mask_stats": "masks", "topk_masks": "masks",
    "list_methods": "methods", "prune": "methods", "score": "methods",
    "build_model": "models", "list_models": "models", "prunable_parameters": "models",
    "Scorer": "scorer", "TrainScorerConfig": "scorer", "initial_features": "scorer",
    "train_scorer": "scorer",
    "TrainConfig": "train_config", "evaluate": "training", "preset": "train_config",
    "train": "training",
}

__all__ = sorted(_EXPORTS)

importlib.import_module(".train", __name__)  # binds autosparse.train to the module, once...
globals().pop("train", None)  # ...and unbinds it: the function takes the name (__getattr__)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'autosparse' has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    value = module if _EXPORTS[name] == name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
