"""Latent-space label propagation from verified items: ``propagate_labels``."""

from orchestrator.propagation.base import Propagation
from orchestrator.propagation.propagator import DEFAULT_FRACTION_GRID, propagate_labels

__all__ = ["DEFAULT_FRACTION_GRID", "Propagation", "propagate_labels"]
