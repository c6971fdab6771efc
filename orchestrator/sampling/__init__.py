"""Clustered sampling of items for the crowd: ``select_items`` and the validation round."""

from orchestrator.sampling.base import Selection
from orchestrator.sampling.sampler import (
    SamplingConfig,
    allocate_budget,
    select_items,
    stratified_random_selection,
)
from orchestrator.sampling.strategies import SELECTABLE, STRATEGIES

__all__ = [
    "SELECTABLE",
    "STRATEGIES",
    "SamplingConfig",
    "Selection",
    "allocate_budget",
    "select_items",
    "stratified_random_selection",
]
