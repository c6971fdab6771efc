"""The settings-built S3 client against a real S3-compatible server on loopback."""

from __future__ import annotations

import socket

import pytest

from orchestrator.settings import Settings
from orchestrator.storage.errors import StorageError
from orchestrator.storage.s3_client import s3_client, s3_client_from_settings, storage_error
from tests.factories.s3_server import S3Bucket


def test_client_from_settings_reaches_the_bucket_with_default_chain_credentials(
    s3_bucket: S3Bucket,
) -> None:
    client = s3_client_from_settings()  # endpoint and credentials from the environment
    client.put_object(Bucket=s3_bucket.name, Key="probe/hello.txt", Body=b"hello")
    assert s3_bucket.keys() == ["probe/hello.txt"]
    body = s3_bucket.client().get_object(Bucket=s3_bucket.name, Key="probe/hello.txt")["Body"]
    assert body.read() == b"hello"


def test_missing_bucket_and_key_are_named_with_the_endpoint(s3_bucket: S3Bucket) -> None:
    client = s3_client_from_settings()
    with pytest.raises(Exception) as info:
        client.head_bucket(Bucket="no-such-bucket-here")
    err = storage_error(info.value, client=client, bucket="no-such-bucket-here")
    assert "no bucket 'no-such-bucket-here'" in str(err)
    assert s3_bucket.server.endpoint_url in str(err)
    with pytest.raises(Exception) as info:
        client.get_object(Bucket=s3_bucket.name, Key="absent.npy")
    err = storage_error(info.value, client=client, bucket=s3_bucket.name, key="absent.npy")
    assert f"no object s3://{s3_bucket.name}/absent.npy" in str(err)


def test_unreachable_endpoint_is_named(s3_bucket: S3Bucket) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = s3_client(f"http://127.0.0.1:{port}", connect_timeout_s=1)
    with pytest.raises(Exception) as info:
        client.head_bucket(Bucket=s3_bucket.name)
    err = storage_error(info.value, client=client, bucket=s3_bucket.name)
    assert isinstance(err, StorageError)
    assert f"cannot reach the S3 endpoint http://127.0.0.1:{port}" in str(err)


def test_bad_endpoint_setting_is_refused_before_any_request() -> None:
    with pytest.raises(StorageError, match="'minio:9000' is not an http"):
        s3_client_from_settings(Settings(s3_endpoint_url="minio:9000"))
