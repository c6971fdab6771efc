"""A real S3-compatible server on loopback, started by the tests (moto's server mode).

Not a mock: boto3 speaks HTTP to a werkzeug server on ``127.0.0.1:<free port>`` that implements
the S3 REST API, exactly as it would to MinIO or AWS. Fixtures (registered for every test in
``tests/conftest.py``):

- ``s3_server`` (session): the running server, an :class:`S3Server`.
- ``s3_bucket`` (function): a fresh, empty bucket on it, an :class:`S3Bucket`; for the test's
  duration the environment holds the server's credentials, region and
  ``CROWDCLEAN_S3_ENDPOINT_URL`` (the settings cache is cleared on the way in and out), so
  product code that builds its client from the settings and boto3's default chain reaches it.
  The bucket and its objects are deleted afterwards.

For a subprocess (the CLI, a second scheduler), pass ``{**os.environ, **s3_server.env()}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

ACCESS_KEY_ID = "AKIDS3TESTSERVER"
SECRET_ACCESS_KEY = "s3-test-server-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible server: its endpoint and the credentials it accepts."""

    endpoint_url: str

    def env(self) -> dict[str, str]:
        """Environment that points the product (settings + boto3's default chain) at it."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            # No instance-metadata lookups (a second or more each) when a chain is consulted.
            "AWS_EC2_METADATA_DISABLED": "true",
            "CROWDCLEAN_S3_ENDPOINT_URL": self.endpoint_url,
        }

    def client(self) -> S3Client:
        """A boto3 client for the test's own checks, with explicit credentials."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, name: str | None = None) -> S3Bucket:
        """A new empty bucket (default: a unique ``crowdclean-test-…`` name)."""
        bucket = S3Bucket(self, name or f"crowdclean-test-{uuid.uuid4().hex[:12]}")
        self.client().create_bucket(Bucket=bucket.name)
        return bucket


@dataclass(frozen=True)
class S3Bucket:
    """One bucket on an :class:`S3Server`."""

    server: S3Server
    name: str

    def url(self, prefix: str = "") -> str:
        """``s3://<bucket>/<prefix>`` (``CROWDCLEAN_ARTIFACTS_URL`` and the like)."""
        return f"s3://{self.name}/{prefix.strip('/')}" if prefix else f"s3://{self.name}"

    def client(self) -> S3Client:
        return self.server.client()

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under ``prefix``, sorted."""
        pages = self.client().get_paginator("list_objects_v2")
        found = [
            obj["Key"]
            for page in pages.paginate(Bucket=self.name, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]
        return sorted(found)

    def delete(self) -> None:
        """Delete every object, then the bucket."""
        client = self.client()
        keys = self.keys()
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            client.delete_objects(Bucket=self.name, Delete={"Objects": [{"Key": k} for k in chunk]})
        client.delete_bucket(Bucket=self.name)


@contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """moto's threaded server on a free loopback port, for the ``with`` block."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3-compatible server for the whole test session."""
    with running_s3_server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Bucket]:
    """A fresh bucket, with the environment pointing the product at its server."""
    from orchestrator.settings import get_settings

    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    bucket = s3_server.create_bucket()
    try:
        yield bucket
    finally:
        bucket.delete()
        get_settings.cache_clear()
