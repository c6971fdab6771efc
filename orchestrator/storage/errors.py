"""The one error storage code raises: what failed and where (URL, bucket, endpoint)."""

from __future__ import annotations


class StorageError(Exception):
    """A storage location is malformed, missing or unreachable; the message names it."""
