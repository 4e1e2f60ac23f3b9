"""AutoSparse: pruning at initialization, learned from iterative rewind pruning.

The names below are imported on first use (PEP 562), so that ``python -m autosparse table ...``
and the other torch-free stages start without importing torch (3-4 s of CPU per DAG job).
"""

from __future__ import annotations

import importlib
import sys
import types

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
    "TrainConfig": "train", "evaluate": "train", "preset": "train",
}

__all__ = sorted([*_EXPORTS, "train"])


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'autosparse' has no attribute {name!r}")
    module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
    value = module if _EXPORTS[name] == name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """``autosparse.train`` is the training function, though ``autosparse/train.py`` is also a
    submodule: importing the submodule would otherwise rebind the package attribute to it."""

    @property
    def train(self):
        from .train import train

        return train

    @train.setter
    def train(self, value) -> None:  # the import system binding the submodule: keep the function
        pass


sys.modules[__name__].__class__ = _Package
