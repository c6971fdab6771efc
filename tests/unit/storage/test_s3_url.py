"""``s3://`` URLs and endpoint URLs: parsed exactly, refused with a message that names them."""

from __future__ import annotations

import pytest

from orchestrator.storage.errors import StorageError
from orchestrator.storage.s3_client import S3Url, check_endpoint_url


def test_bucket_and_prefix_are_split_and_slashes_trimmed() -> None:
    url = S3Url.parse("s3://my-bucket/crowd/clean/")
    assert (url.bucket, url.prefix) == ("my-bucket", "crowd/clean")
    assert url.key("datasets/x/features.npy") == "crowd/clean/datasets/x/features.npy"
    assert str(url) == "s3://my-bucket/crowd/clean"


def test_bucket_root_has_no_prefix() -> None:
    url = S3Url.parse("s3://my-bucket")
    assert url.prefix == ""
    assert url.key("a.npy") == "a.npy"
    assert str(url) == "s3://my-bucket"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://my-bucket/x", "not an s3:// URL"),
        ("/data/artifacts", "not an s3:// URL"),
        ("s3://My_Bucket/x", "not a valid bucket name"),
        ("s3://ab/x", "not a valid bucket name"),
        ("s3:///x", "not a valid bucket name"),
        ("s3://my-bucket/a//b", "empty, '.' or '..' segment"),
        ("s3://my-bucket/a/../b", "empty, '.' or '..' segment"),
        ("s3://my-bucket/a?versionId=1", r"no \?query"),
    ],
)
def test_bad_urls_are_refused_naming_the_url(url: str, says: str) -> None:
    with pytest.raises(StorageError, match=says) as info:
        S3Url.parse(url)
    assert repr(url) in str(info.value)


@pytest.mark.parametrize("endpoint", ["127.0.0.1:9000", "ftp://minio:9000", "http://"])
def test_endpoint_must_be_http_or_https_with_a_host(endpoint: str) -> None:
    with pytest.raises(StorageError, match="CROWDCLEAN_S3_ENDPOINT_URL"):
        check_endpoint_url(endpoint)
    assert check_endpoint_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000"
