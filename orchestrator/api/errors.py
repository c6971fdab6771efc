"""Errors the API answers as client errors (no FastAPI here; the API rules and the CLI use them).

Only these (and the domain errors named in :mod:`orchestrator.api.problems`) become 4xx: a
stray ``KeyError`` or ``ValueError`` from a bug must surface as a 500, not as "not found" or
"invalid request".
"""

from __future__ import annotations


class NotFoundError(LookupError):
    """The resource does not exist or is not visible to the caller (404)."""


class ForbiddenError(PermissionError):
    """The caller's key may not do this (403)."""


class InvalidInputError(ValueError):
    """The request names something invalid: a bad cursor, filter or field value (422)."""
