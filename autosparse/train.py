"""The trainer's old import path: ``from autosparse.train import TrainConfig, preset, ...``.

The masked trainer is :mod:`autosparse.training`, its settings :mod:`autosparse.train_config`;
each public name of theirs is loaded from them on first use (PEP 562): importing this module
costs nothing, and a setting's name does not import torch. ``autosparse.train`` itself is the
training function :func:`autosparse.training.train`, not this module: see ``autosparse/__init__.py``.
"""

from __future__ import annotations

import importlib

_HOMES = (".train_config", ".training")  # torch-free first


def __getattr__(name: str):
    for home in _HOMES if not name.startswith("_") else ():
        module = importlib.import_module(home, __package__)
        if hasattr(module, name):
            globals()[name] = value = getattr(module, name)
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    names = (n for home in _HOMES for n in vars(importlib.import_module(home, __package__)))
    return sorted({*globals(), *(n for n in names if not n.startswith("_"))})
