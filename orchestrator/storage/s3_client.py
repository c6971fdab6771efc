"""The one way the service reaches S3: a boto3 client from the settings, and ``s3://`` URLs.

Artifact storage and image upload both build their client here, so AWS S3, MinIO and the test
suite's loopback server differ only in ``CROWDCLEAN_S3_ENDPOINT_URL``. Credentials and region
come from boto3's default chain (environment, ``~/.aws``, an instance role); nothing here
stores a secret. boto3 is imported when a client is built, not at import time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from orchestrator.storage.errors import StorageError

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

    from orchestrator.settings import Settings

# AWS's rules for new buckets (3-63 characters; lower-case letters, digits, dots, hyphens;
# starts and ends with a letter or digit); MinIO enforces the same.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Url:
    """``s3://bucket/prefix``: a bucket and a key prefix without leading or trailing ``/``."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Url:
        """Split ``s3://bucket[/prefix]``; :class:`StorageError` naming the URL otherwise."""
        parts = urlsplit(url)
        if parts.scheme != "s3":
            raise StorageError(f"{url!r} is not an s3:// URL (expected s3://bucket/prefix)")
        if parts.query or parts.fragment:
            raise StorageError(f"{url!r}: an s3:// URL has no ?query or #fragment")
        bucket = parts.netloc
        if not _BUCKET_RE.match(bucket) or ".." in bucket:
            raise StorageError(
                f"{url!r}: {bucket!r} is not a valid bucket name (3-63 characters: lower-case "
                "letters, digits, '.' and '-', starting and ending with a letter or digit)"
            )
        prefix = parts.path.strip("/")
        if any(seg in ("", ".", "..") for seg in prefix.split("/")) and prefix:
            raise StorageError(f"{url!r}: the key prefix has an empty, '.' or '..' segment")
        return cls(bucket=bucket, prefix=prefix)

    def key(self, relative: str) -> str:
        """The object key of ``relative`` (``a/b.npy``) under this prefix."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


def check_endpoint_url(endpoint_url: str) -> str:
    """``endpoint_url`` if it is ``http(s)://host[:port]``, else :class:`StorageError`."""
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StorageError(
            f"S3 endpoint {endpoint_url!r} is not an http(s)://host[:port] URL "
            "(CROWDCLEAN_S3_ENDPOINT_URL)"
        )
    return endpoint_url


def s3_client(
    endpoint_url: str | None = None,
    *,
    connect_timeout_s: float = 5.0,
    read_timeout_s: float = 60.0,
) -> S3Client:
    """A boto3 S3 client for ``endpoint_url`` (None: AWS S3), credentials from the default chain.

    A custom endpoint gets path-style addressing (``http://host/bucket/key``): MinIO and test
    servers on an IP address cannot serve ``bucket.host`` names. Timeouts in seconds; standard
    retries (3 attempts) so an unreachable endpoint fails within seconds, not minutes.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    if endpoint_url is None:
        return boto3.client("s3", config=config)
    return boto3.client("s3", endpoint_url=check_endpoint_url(endpoint_url), config=config)


def s3_client_from_settings(settings: Settings | None = None) -> S3Client:
    """:func:`s3_client` for ``settings.s3_endpoint_url`` (default: the process settings)."""
    if settings is None:
        from orchestrator.settings import get_settings

        settings = get_settings()
    return s3_client(settings.s3_endpoint_url)


def describe_endpoint(client: S3Client) -> str:
    """The endpoint a client talks to, for error messages (``http://127.0.0.1:9000``)."""
    return str(client.meta.endpoint_url)


def storage_error(exc: Exception, *, client: S3Client, bucket: str, key: str = "") -> StorageError:
    """A :class:`StorageError` that says what failed (no bucket, no key, access denied, no
    connection, no credentials) and where (``s3://bucket/key`` at the endpoint)."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )

    where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
    endpoint = describe_endpoint(client)
    if isinstance(exc, EndpointConnectionError):
        return StorageError(f"cannot reach the S3 endpoint {endpoint} (for {where}): {exc}")
    if isinstance(exc, NoCredentialsError):
        return StorageError(
            f"no AWS credentials for {where} at {endpoint}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or ~/.aws, or an instance role)"
        )
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        missing = code in ("NoSuchBucket", "NoSuchKey", "404")
        if code == "NoSuchBucket" or (missing and not key):
            return StorageError(f"no bucket {bucket!r} at the S3 endpoint {endpoint}")
        if missing:
            return StorageError(f"no object {where} at the S3 endpoint {endpoint}")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return StorageError(f"access to {where} at {endpoint} denied ({code})")
        return StorageError(f"S3 request for {where} at {endpoint} failed: {code} {err}")
    return StorageError(f"S3 request for {where} at {endpoint} failed: {exc!r}")
