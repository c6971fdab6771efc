"""Local image files of an import, uploaded to the configured bucket (``CROWDCLEAN_IMAGES__
BUCKET_URL=s3://bucket/prefix``) so that every scheduler host can show them to workers.

Objects are content-addressed: ``<prefix>/images/<sha256 of the bytes><suffix>``, uploaded
with their image content type; a file already there (same bytes) is not uploaded again, so a
retried or repeated import costs nothing and an aborted one leaves only objects a later import
reuses. Workers see them through presigned URLs (:mod:`orchestrator.crowd.image_links`).
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.data.errors import DatasetError
from orchestrator.data.image_column import ImageImportOptions, ObjectReader
from orchestrator.data.image_sources import ImageSourceKind, classify_image_source, split_s3
from orchestrator.storage.errors import StorageError
from orchestrator.storage.s3_client import S3Url, storage_error

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

    from orchestrator.settings import Settings


class S3ImageStore:
    """:class:`orchestrator.data.store.ImageStore` on an S3-compatible bucket.

    Args:
        client: a boto3 S3 client.
        location: ``s3://bucket/prefix`` under which ``images/`` is written.
        source: the dataset file, named in errors.
        concurrency: uploads at once.
    """

    def __init__(
        self, client: S3Client, location: S3Url, *, source: str, concurrency: int = 8
    ) -> None:
        self.client = client
        self.location = location
        self.source = source
        self.concurrency = concurrency

    def _upload(self, path: str) -> str:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise DatasetError(f"cannot read image {path}: {exc}", source=self.source) from exc
        mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
        key = self.location.key(f"images/{hashlib.sha256(data).hexdigest()}{p.suffix.lower()}")
        bucket = self.location.bucket
        from botocore.exceptions import ClientError

        try:
            try:
                self.client.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
                    raise
                self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=mime)
        except Exception as exc:
            err = storage_error(exc, client=self.client, bucket=bucket, key=key)
            raise DatasetError(f"uploading image {path}: {err}", source=self.source) from exc
        return f"s3://{bucket}/{key}"

    def store_images(self, refs: Sequence[str]) -> tuple[str, ...]:
        """``refs`` with every local file uploaded and replaced by its ``s3://`` reference."""
        local = sorted(
            {
                r
                for r in refs
                if classify_image_source(r, allow_loopback_http=True) == ImageSourceKind.FILE
            }
        )
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(local)))) as pool:
            stored = dict(zip(local, pool.map(self._upload, local), strict=True))
        return tuple(stored.get(r, r) for r in refs)


def image_store_from_settings(settings: Settings, *, source: str) -> S3ImageStore | None:
    """The bucket store of ``settings.images.bucket_url``, or None when none is configured.

    Raises :class:`DatasetError` when the URL is malformed (it names the setting)."""
    from orchestrator.storage.s3_client import s3_client_from_settings

    url = settings.images.bucket_url
    if url is None:
        return None
    try:
        location = S3Url.parse(url)
    except StorageError as exc:
        raise DatasetError(f"CROWDCLEAN_IMAGES__BUCKET_URL: {exc}", source=source) from None
    return S3ImageStore(
        s3_client_from_settings(settings),
        location,
        source=source,
        concurrency=settings.images.fetch_concurrency,
    )


def s3_object_reader(client: S3Client) -> ObjectReader:
    """A reader of ``s3://bucket/key`` references' bytes through ``client``."""

    def read(ref: str) -> bytes:
        bucket, key = split_s3(ref)
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            return bytes(body.read())
        except Exception as exc:
            raise StorageError(
                str(storage_error(exc, client=client, bucket=bucket, key=key))
            ) from exc

    return read


def image_import_options(settings: Settings, *, local_files: bool) -> ImageImportOptions:
    """How the CLI (``local_files=True``) or the API reads an image column under ``settings``:
    ``s3://`` images are read through the settings' S3 client, built on first use."""
    from orchestrator.storage.s3_client import s3_client_from_settings

    reader: list[ObjectReader] = []

    def read(ref: str) -> bytes:
        if not reader:
            reader.append(s3_object_reader(s3_client_from_settings(settings)))
        return reader[0](ref)

    return ImageImportOptions(settings=settings.images, local_files=local_files, s3_reader=read)
