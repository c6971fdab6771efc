"""An import's image column: each row's image reference checked, and the images read once to
compute the model's features (28×28 grey pixels, extra ``images``).

The rules for a reference are :mod:`orchestrator.data.image_sources`. Every problem is a
:class:`~orchestrator.data.errors.DatasetError` naming the row and the column, and nothing is
imported. Images given by URL are downloaded only when they are the features (no feature,
vector or text column mapped), each at most once, within ``ImageSettings.fetch_max_bytes``
and ``fetch_timeout_s``; a redirect is followed (at most :data:`MAX_REDIRECTS`) only to a
reference the same rules accept. An https host that resolves to a private, loopback or
link-local address is refused (an import over the API must not make the server fetch from its
own network), except loopback under ``allow_loopback_http``.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import numpy as np
import pandas as pd

from orchestrator.data.errors import DatasetError, MissingExtraError
from orchestrator.data.feature_matrix import one_value
from orchestrator.data.image_sources import (
    ImageSourceError,
    ImageSourceKind,
    classify_image_source,
    is_loopback_host,
)
from orchestrator.settings import ImageSettings

#: Side of the square grey image an image becomes as features (d = SIDE² = 784).
SIDE = 28
MAX_REDIRECTS = 5


ObjectReader = Callable[[str], bytes]
"""Reads an ``s3://bucket/key`` reference's bytes."""


@dataclass(frozen=True)
class ImageImportOptions:
    """How an import treats its image column.

    Attributes:
        settings: the image settings (``CROWDCLEAN_IMAGES__…``).
        local_files: accept file paths (the CLI); an upload over the API gives URLs only, as a
            requester must not make the server read its own files.
        s3_reader: reads ``s3://`` references when their pixels are the features.
    """

    settings: ImageSettings = field(default_factory=ImageSettings)
    local_files: bool = True
    s3_reader: ObjectReader | None = None


@dataclass(frozen=True)
class ImageColumn:
    """The checked image references of an import.

    Attributes:
        column: the file's column name.
        refs: (n,) each row's reference as stored: an https / loopback-http URL, an
            ``s3://`` reference, or an absolute local file path.
        kinds: (n,) the kind of each reference.
        rows: (n,) 1-based file row of each item (error messages).
    """

    column: str
    refs: tuple[str, ...]
    kinds: tuple[ImageSourceKind, ...]
    rows: tuple[int, ...]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or not str(value).strip()


def _public_url(base_url: str, written: str) -> str | None:
    """``written`` (a relative path, / or \\ separated) as a URL under ``base_url``; None when
    it climbs out of the dataset file's folder (``..``)."""
    parts = [p for p in written.strip().replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        return None
    return urljoin(base_url.rstrip("/") + "/", quote("/".join(parts)))


def read_image_column(
    frame: pd.DataFrame,
    column: str,
    rows: np.ndarray,
    source: str,
    settings: ImageSettings,
    *,
    local_files: bool = True,
) -> ImageColumn:
    """Check every row's reference; local files must exist (relative to the dataset file).

    With ``settings.public_base_url`` set (and no ``bucket_url``), a relative local path is
    stored as its URL under that base; an absolute path is refused there, having no URL.
    ``local_files=False`` refuses file paths altogether.
    """
    base = Path(source).parent
    refs: list[str] = []
    kinds: list[ImageSourceKind] = []
    by_base_url = settings.public_base_url is not None and settings.bucket_url is None
    for value, row in zip(frame[column].tolist(), rows, strict=True):
        one_value(value, source=source, row=int(row), column=column)
        if _is_missing(value):
            raise DatasetError("empty image reference", source=source, row=int(row), column=column)
        written = str(value).strip()
        try:
            kind = classify_image_source(written, allow_loopback_http=settings.allow_loopback_http)
        except ImageSourceError as exc:
            raise DatasetError(str(exc), source=source, row=int(row), column=column) from None
        ref = written
        if kind == ImageSourceKind.FILE:
            if not local_files:
                raise DatasetError(
                    f"image {written[:80]!r} is a file path; an uploaded dataset must give its "
                    "images as https URLs (import local files with `crowdclean dataset import`)",
                    source=source,
                    row=int(row),
                    column=column,
                )
            p = Path(written)
            p = p if p.is_absolute() else base / p
            if not p.is_file():
                raise DatasetError(
                    f"image {written!r} not found (looked at {p})",
                    source=source,
                    row=int(row),
                    column=column,
                )
            ref = str(p.resolve())
            if by_base_url:
                url = (
                    None
                    if p == Path(written)
                    else _public_url(str(settings.public_base_url), written)
                )
                if url is None:
                    raise DatasetError(
                        f"image {written!r} lies outside the dataset file's folder; with "
                        "CROWDCLEAN_IMAGES__PUBLIC_BASE_URL give paths relative to the dataset "
                        "file, as they are served under that URL",
                        source=source,
                        row=int(row),
                        column=column,
                    )
                ref = url
                kind = classify_image_source(ref, allow_loopback_http=settings.allow_loopback_http)
        refs.append(ref)
        kinds.append(kind)
    return ImageColumn(column, tuple(refs), tuple(kinds), tuple(int(r) for r in rows))


def _check_public_host(url: str, settings: ImageSettings) -> None:
    host = urlsplit(url).hostname or ""
    if is_loopback_host(host):
        if settings.allow_loopback_http:
            return
        raise ImageSourceError(f"{host} is a loopback host (development only)")
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise ImageSourceError(f"cannot resolve host {host!r}: {exc}") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved:
            raise ImageSourceError(f"host {host!r} resolves to the non-public address {addr}")


def fetch_image(url: str, settings: ImageSettings) -> bytes:
    """The body of ``url`` (an accepted image URL), or :class:`ImageSourceError` saying why
    not: an HTTP error, a redirect to a refused reference, more than ``fetch_max_bytes`` bytes
    or more than ``fetch_timeout_s`` seconds in all."""
    import httpx

    deadline = time.monotonic() + settings.fetch_timeout_s
    limit = settings.fetch_max_bytes
    with httpx.Client(timeout=settings.fetch_timeout_s, follow_redirects=False) as client:
        for hop in range(MAX_REDIRECTS + 1):
            try:
                kind = classify_image_source(url, allow_loopback_http=settings.allow_loopback_http)
            except ImageSourceError as exc:
                raise ImageSourceError(
                    f"redirected to {url[:80]!r}, which is not an image URL: {exc}"
                    if hop
                    else str(exc)
                ) from None
            if kind not in (ImageSourceKind.HTTPS, ImageSourceKind.LOOPBACK_HTTP):
                raise ImageSourceError(f"redirected to {url[:80]!r}, which is not an image URL")
            _check_public_host(url, settings)
            with client.stream("GET", url) as resp:
                if resp.is_redirect and "location" in resp.headers:
                    url = urljoin(url, resp.headers["location"])
                    continue
                if resp.status_code != 200:
                    raise ImageSourceError(f"HTTP {resp.status_code} from {url[:80]}")
                declared = int(resp.headers.get("content-length") or 0)
                if declared > limit:
                    raise ImageSourceError(f"image is {declared} bytes; at most {limit} are read")
                body = bytearray()
                for chunk in resp.iter_bytes(1 << 16):
                    body.extend(chunk)
                    if len(body) > limit:
                        raise ImageSourceError(f"image is over {limit} bytes; raise the limit")
                    if time.monotonic() > deadline:
                        raise ImageSourceError(
                            f"download took over {settings.fetch_timeout_s:g} s; raise the limit"
                        )
                return bytes(body)
    raise ImageSourceError(f"more than {MAX_REDIRECTS} redirects")


def grey_pixels(data: bytes) -> np.ndarray:
    """(SIDE²,) float32 grey intensities in [0, 1] of an encoded image (any size Pillow reads).

    Raises ValueError (or OSError) for bytes that are no image Pillow can decode.
    """
    try:
        from PIL import Image
    except ImportError as exc:
        raise MissingExtraError("pillow", "images", "Featurizing images") from exc
    with Image.open(io.BytesIO(data)) as img:
        img.draft("L", (SIDE * 2, SIDE * 2))  # JPEG: decode at a reduced size, far faster
        grey = img.convert("L").resize((SIDE, SIDE))
    return np.asarray(grey, dtype=np.float32).reshape(-1) / 255.0


def _read_bytes(
    ref: str, kind: ImageSourceKind, settings: ImageSettings, s3_reader: ObjectReader | None
) -> bytes:
    if kind == ImageSourceKind.FILE:
        return Path(ref).read_bytes()
    if kind == ImageSourceKind.S3:
        if s3_reader is None:
            raise ImageSourceError("s3:// images need an S3 client (CROWDCLEAN_IMAGES__BUCKET_URL)")
        return s3_reader(ref)
    return fetch_image(ref, settings)


def image_pixels(
    images: ImageColumn,
    settings: ImageSettings,
    source: str,
    *,
    s3_reader: ObjectReader | None = None,
) -> np.ndarray:
    """(n, SIDE²) float32 grey pixels in [0, 1], one row per image, read or downloaded once
    (``fetch_concurrency`` at a time); the first failing row (in file order) is reported."""
    try:
        import PIL  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError("pillow", "images", "Featurizing images") from exc

    def one(i: int) -> np.ndarray | str:
        try:
            return grey_pixels(_read_bytes(images.refs[i], images.kinds[i], settings, s3_reader))
        except ImageSourceError as exc:
            return str(exc)
        except Exception as exc:  # Pillow raises many types (DecompressionBombError included)
            return f"unreadable image {images.refs[i][:120]}: {type(exc).__name__}: {exc}"

    n = len(images.refs)
    with ThreadPoolExecutor(max_workers=min(settings.fetch_concurrency, max(n, 1))) as pool:
        results = list(pool.map(one, range(n)))
    out = np.empty((n, SIDE * SIDE), dtype=np.float32)
    for i, res in enumerate(results):
        if isinstance(res, str):
            raise DatasetError(res, source=source, row=images.rows[i], column=images.column)
        out[i] = res
    return out
