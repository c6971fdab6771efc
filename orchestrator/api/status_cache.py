"""The API's per-process cache of campaign status documents.

The document itself is :func:`orchestrator.campaigns.status.status_document`, the same the CLI
prints; this module only decides how long a copy may be served.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Hashable
from typing import Any

from sqlalchemy.engine import Engine

from orchestrator.api.errors import NotFoundError
from orchestrator.campaigns.status import accuracy_section, status_document

#: Campaigns cached at most; past it the cache starts over (bounded memory, no LRU bookkeeping).
_MAX_CAMPAIGNS = 10_000


class StatusCache:
    """Campaign status documents, cached per process.

    The whole document is kept ``ttl_s`` seconds (the API's ``status_cache_ttl_s``). The
    label-accuracy estimate, the only part that reads an artifact, is recomputed only when
    the campaign's labels or rounds change (keyed on
    :func:`orchestrator.campaigns.status.change_key`), so even an uncached status does a
    handful of indexed aggregate queries.
    """

    def __init__(self, engine: Engine, ttl_s: float = 1.0) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self._docs: dict[uuid.UUID, tuple[float, dict[str, Any], bytes]] = {}
        self._accuracy: dict[uuid.UUID, tuple[Hashable, dict[str, Any] | None]] = {}

    def invalidate(self, campaign_id: uuid.UUID) -> None:
        self._docs.pop(campaign_id, None)

    def cached(self, campaign_id: uuid.UUID) -> tuple[dict[str, Any], bytes] | None:
        """The fresh cached (document, JSON bytes), or None; never touches the database."""
        hit = self._docs.get(campaign_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1], hit[2]
        return None

    def get(self, campaign_id: uuid.UUID) -> dict[str, Any]:
        """The status document of a campaign (NotFoundError if there is none)."""
        return self.get_json(campaign_id)[0]

    def get_json(self, campaign_id: uuid.UUID) -> tuple[dict[str, Any], bytes]:
        """(document, its JSON encoding), from the cache when fresh."""
        hit = self.cached(campaign_id)
        if hit is not None:
            return hit
        doc = self.compute(campaign_id)
        body = json.dumps(doc, separators=(",", ":")).encode()
        if self.ttl_s > 0:
            if len(self._docs) > _MAX_CAMPAIGNS:
                self._docs.clear()
            self._docs[campaign_id] = (time.monotonic() + self.ttl_s, doc, body)
        return doc, body

    def compute(self, campaign_id: uuid.UUID) -> dict[str, Any]:
        """The document, fresh from the database (the accuracy section from its own cache)."""
        try:
            return status_document(self.engine, campaign_id, accuracy_of=self._accuracy_of)
        except LookupError as exc:
            raise NotFoundError(str(exc)) from exc

    def _accuracy_of(self, campaign_id: uuid.UUID, key: Hashable) -> dict[str, Any] | None:
        from orchestrator.campaigns.accuracy import estimate_label_accuracy

        hit = self._accuracy.get(campaign_id)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = accuracy_section(estimate_label_accuracy(self.engine, campaign_id))
        self._accuracy[campaign_id] = (key, value)
        return value
