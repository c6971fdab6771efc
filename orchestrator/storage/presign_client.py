"""A boto3 S3 client that presigns with Signature Version 4.

boto3's S3 client presigns GET URLs with the legacy Signature Version 2 by default (an
``Expires`` epoch, no region), which AWS has retired for new buckets and regions. Presigned
image URLs are SigV4 (``X-Amz-Expires``): valid for an explicit number of seconds, at most 7
days. Endpoint and credentials as :func:`orchestrator.storage.s3_client.s3_client_from_settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.storage.s3_client import check_endpoint_url

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

    from orchestrator.settings import Settings


def presigning_s3_client(settings: Settings | None = None) -> S3Client:
    """An S3 client for ``settings.s3_endpoint_url`` (None: AWS) that signs URLs with SigV4."""
    import boto3
    from botocore.config import Config

    if settings is None:
        from orchestrator.settings import get_settings

        settings = get_settings()
    endpoint = settings.s3_endpoint_url
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"} if endpoint else None,
    )
    if endpoint is None:
        return boto3.client("s3", config=config)
    return boto3.client("s3", endpoint_url=check_endpoint_url(endpoint), config=config)
