"""Pruning-at-initialization methods: one registry; importing this package registers them all.

Adding a method is one new module here (decorated with ``register_method``) and its import below.
"""

from . import autos, magnitude, random, snip  # noqa: F401  (registration side effects)
from .base import METHODS, get_method, list_methods, prune, register_method, score

__all__ = ["METHODS", "get_method", "list_methods", "prune", "register_method", "score"]
