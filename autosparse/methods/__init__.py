"""Pruning-at-initialization methods: one registry; importing this package registers them all.

Adding a method is one new module here (decorated with ``register_method``) and its import below.
"""

from . import (  # noqa: F401  (registration side effects)
    autos,
    density_law,
    grasp,
    iter_snip,
    lottery,
    magnitude,
    magnitude_after_training,
    npb,
    ntk_sap,
    px,
    random,
    snip,
    synflow,
    ticket_density,
)
from .base import METHODS, get_method, list_methods, prune, register_method, score

__all__ = ["METHODS", "get_method", "list_methods", "prune", "register_method", "score"]
