"""Which image references an import accepts, and how each one reaches a worker's browser.

An image cell is one of:

* an ``https://`` URL: shown to workers as it is;
* an ``http://`` URL on a loopback host (``localhost``, ``127.0.0.0/8``, ``::1``), only when the
  development setting ``CROWDCLEAN_IMAGES__ALLOW_LOOPBACK_HTTP`` is on (tests, a local
  simulator). Any other ``http://`` URL is refused: MTurk serves HITs over https and browsers
  block plain-http images on an https page, so the worker would see a broken image;
* an ``s3://bucket/key`` object: shown through a presigned GET URL (see
  :mod:`orchestrator.crowd.image_links`);
* a local file path (relative paths are relative to the dataset file): uploaded to the
  configured bucket at import, or turned into a URL under the operator's public base URL, or,
  with neither configured, inlined into the HIT when it fits MTurk's Question size limit.

Anything else (``ftp:``, ``file:``, ``data:``, ``javascript:``, a URL without a host) is
refused at import naming the row and the column.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from urllib.parse import urlsplit


class ImageSourceKind(StrEnum):
    HTTPS = "https"
    LOOPBACK_HTTP = "loopback-http"
    S3 = "s3"
    FILE = "file"


class ImageSourceError(ValueError):
    """An image reference no worker's browser could be shown (the message says why)."""


# A URL scheme of two or more letters ("C:\\img.png" is a Windows path, not a scheme).
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` or a loopback IP address (``127.0.0.0/8``, ``::1``)."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def classify_image_source(value: str, *, allow_loopback_http: bool) -> ImageSourceKind:
    """The kind of the image reference ``value``, or :class:`ImageSourceError` saying why it
    cannot be shown. A value without a scheme is a file path (its existence is not checked)."""
    text = value.strip()
    match = _SCHEME.match(text)
    if match is None:
        return ImageSourceKind.FILE
    scheme = match.group(1).lower()
    parts = urlsplit(text)
    if scheme == "s3":
        if not parts.netloc or not parts.path.strip("/"):
            raise ImageSourceError(f"{text[:80]!r} is not an s3://bucket/key reference")
        return ImageSourceKind.S3
    if scheme not in ("https", "http"):
        raise ImageSourceError(
            f"{scheme}: URLs cannot be shown to workers; give an https URL, an s3://bucket/key "
            "or a file path"
        )
    if not parts.hostname:
        raise ImageSourceError(f"{text[:80]!r} has no host")
    if scheme == "https":
        return ImageSourceKind.HTTPS
    if not is_loopback_host(parts.hostname):
        raise ImageSourceError(
            f"plain http URL {text[:80]!r}: MTurk shows HITs over https and browsers block "
            "http images there; give an https URL"
        )
    if not allow_loopback_http:
        raise ImageSourceError(
            f"http URL on loopback {text[:80]!r} is allowed only for development: set "
            "CROWDCLEAN_IMAGES__ALLOW_LOOPBACK_HTTP=1"
        )
    return ImageSourceKind.LOOPBACK_HTTP


def split_s3(value: str) -> tuple[str, str]:
    """(bucket, key) of an ``s3://bucket/key`` reference."""
    parts = urlsplit(value.strip())
    return parts.netloc, parts.path.lstrip("/")
