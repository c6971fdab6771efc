"""What the round runner needs from the crowd layer, as one small protocol.

:class:`CrowdStage` is implemented on top of :mod:`orchestrator.crowd` (publishing HITs through
a :class:`~orchestrator.crowd.platform.CrowdPlatform`); the runner never touches the platform
directly. Every method is idempotent: it may be called again after a crash with the same
arguments and does not repeat work already done.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

#: What one HIT shows: one item, or a ``(first, second)`` pair of items as one pair HIT.
HitTarget = uuid.UUID | tuple[uuid.UUID, uuid.UUID]


@dataclass(frozen=True)
class PollReport:
    """State of a round's HITs after one poll."""

    new_answers: int
    outstanding_hits: int  # HITs still waiting for assignments


@dataclass(frozen=True)
class CrowdAnswer:
    """One usable answer: worker ``worker`` says item ``item_id`` is ``label``."""

    item_id: uuid.UUID
    worker: str
    label: str
    assignment_pk: uuid.UUID


class CrowdStage(Protocol):
    def publish(
        self,
        campaign_id: uuid.UUID,
        round_id: uuid.UUID,
        item_ids: Sequence[HitTarget],
    ) -> int:
        """Publish one HIT per item, and one pair HIT per ``(first, second)`` pair (skipping
        those already published); returns HITs created."""
        ...

    def poll(self, campaign_id: uuid.UUID, round_id: uuid.UUID) -> PollReport:
        """Fetch submitted assignments of the round's HITs and store their answers."""
        ...

    def answers(self, campaign_id: uuid.UUID) -> list[CrowdAnswer]:
        """Every usable answer of the campaign so far."""
        ...

    def request_more(
        self, campaign_id: uuid.UUID, round_id: uuid.UUID, extra: Mapping[uuid.UUID, int]
    ) -> int:
        """Ask for ``extra[item]`` more answers per item, within caps; returns answers requested."""
        ...

    def settle(self, campaign_id: uuid.UUID) -> None:
        """Approve the campaign's submitted assignments (workers are paid for the work done; a
        worker is not rejected for disagreeing with the aggregate)."""
        ...

    def cancel(self, campaign_id: uuid.UUID) -> None:
        """Expire and dispose of every outstanding HIT of the campaign."""
        ...
