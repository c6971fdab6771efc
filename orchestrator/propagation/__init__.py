"""Latent-space label propagation where the evidence is: :func:`propagate_by_region`."""

from orchestrator.propagation.regional import (
    RegionalPropagation,
    RegionEvidence,
    items_to_confirm,
    latent_regions,
    propagate_by_region,
)

__all__ = [
    "RegionEvidence",
    "RegionalPropagation",
    "items_to_confirm",
    "latent_regions",
    "propagate_by_region",
]
