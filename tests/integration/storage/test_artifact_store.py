"""The artifact store both ways: a local directory and a real S3-compatible server on loopback."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from orchestrator.settings import Settings
from orchestrator.storage.artifacts import (
    ArtifactDir,
    artifact_root,
    as_artifact_dir,
    open_artifact_dir,
)
from orchestrator.storage.errors import StorageError
from tests.factories.s3_server import S3Bucket

Opener = Callable[[Path], ArtifactDir]  # host's data dir → the campaign root


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """An artifact root per host (data dir): local under tmp_path, or one shared bucket."""
    if request.param == "local":
        return lambda data_dir: artifact_root(Settings(data_dir=tmp_path / "shared"))
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    url = bucket.url("crowd/clean")
    return lambda data_dir: artifact_root(Settings(data_dir=data_dir, artifacts_url=url))


def test_arrays_and_json_round_trip(store: Opener, tmp_path: Path) -> None:
    folder = store(tmp_path / "host-a").child("campaigns").child("c1").child("round-1")
    post = np.random.default_rng(0).random((50, 3))
    assert not folder.exists("posterior.npy")
    folder.save_npy("posterior.npy", post)
    folder.write_json("relabel.json", {"relabel": True, "gain": 1.5})
    assert folder.exists("posterior.npy") and folder.exists("relabel.json")
    np.testing.assert_array_equal(folder.load_npy("posterior.npy"), post)
    mapped = folder.load_npy("posterior.npy", mmap=True)
    assert isinstance(mapped, np.memmap) and not mapped.flags.writeable
    np.testing.assert_array_equal(mapped, post)
    assert folder.read_json("relabel.json") == {"relabel": True, "gain": 1.5}
    assert folder.name == "round-1"
    assert open_artifact_dir(folder.location) == folder  # the stored location finds it again
    folder.remove()
    assert not folder.exists("posterior.npy")


def test_missing_artifact_names_its_location(store: Opener, tmp_path: Path) -> None:
    folder = store(tmp_path / "host-a").child("datasets").child("d1")
    with pytest.raises(FileNotFoundError, match=r"features\.npy"):
        folder.load_npy("features.npy")
    with pytest.raises(FileNotFoundError, match=r"choice\.json"):
        folder.read_json("choice.json")


def test_a_second_host_reads_the_first_hosts_writes_and_sees_replacements(
    store: Opener, tmp_path: Path
) -> None:
    a = store(tmp_path / "host-a").child("campaigns").child("c1")
    b = open_artifact_dir(a.location, settings=Settings(data_dir=tmp_path / "host-b"))
    a.save_npy("selected.npy", np.arange(5))
    np.testing.assert_array_equal(b.load_npy("selected.npy", mmap=True), np.arange(5))
    # B replaces it (a rerun after A lost its lease); A must not read its own stale copy.
    b.save_npy("selected.npy", np.arange(7))
    np.testing.assert_array_equal(a.load_npy("selected.npy"), np.arange(7))


def test_local_store_is_todays_layout(tmp_path: Path) -> None:
    root = artifact_root(Settings(data_dir=tmp_path / "data"))
    folder = root.child("campaigns").child("c1")
    folder.save_npy("latent.npy", np.zeros((3, 2)))
    assert folder.location == str((tmp_path / "data" / "campaigns" / "c1").resolve())
    assert np.load(Path(folder.location) / "latent.npy").shape == (3, 2)
    assert as_artifact_dir(Path(folder.location)) == folder
    assert not list(Path(folder.location).glob(".*tmp"))  # no temporary file left behind


def test_s3_objects_live_under_the_prefix_and_reads_are_cached_per_host(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "host-a", artifacts_url=s3_bucket.url("pre/fix"))
    folder = artifact_root(settings).child("datasets").child("d1")
    folder.save_npy("features.npy", np.ones((4, 2), dtype=np.float32))
    assert folder.location == f"s3://{s3_bucket.name}/pre/fix/datasets/d1"
    assert s3_bucket.keys() == ["pre/fix/datasets/d1/features.npy"]
    # Host B, empty cache: the first read downloads into its own cache directory.
    host_b = Settings(data_dir=tmp_path / "host-b")
    again = open_artifact_dir(folder.location, settings=host_b)
    assert again.load_npy("features.npy", mmap=True).shape == (4, 2)
    cached = list((tmp_path / "host-b" / "artifact-cache").rglob("features.npy~*"))
    assert len(cached) == 1 and s3_bucket.name in cached[0].parts
    # A new version replaces the cached one (older versions are dropped).
    folder.save_npy("features.npy", np.zeros((4, 2), dtype=np.float32))
    assert float(again.load_npy("features.npy").sum()) == 0.0
    assert len(list((tmp_path / "host-b" / "artifact-cache").rglob("features.npy~*"))) == 1


def test_missing_bucket_is_named_with_the_endpoint(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, artifacts_url="s3://no-such-bucket-x/p")
    root = artifact_root(settings)
    endpoint = s3_bucket.server.endpoint_url
    with pytest.raises(StorageError, match=f"no bucket 'no-such-bucket-x' at .*{endpoint}"):
        root.check()
    folder = root.child("campaigns")
    with pytest.raises(StorageError, match="no bucket 'no-such-bucket-x'"):
        folder.exists("selected.npy")  # "not there" must not hide a missing bucket
    with pytest.raises(StorageError, match="no bucket 'no-such-bucket-x'"):
        folder.save_npy("selected.npy", np.arange(3))


def test_unreachable_endpoint_is_named(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(
        data_dir=tmp_path,
        artifacts_url=s3_bucket.url("p"),
        s3_endpoint_url=f"http://127.0.0.1:{port}",
    )
    with pytest.raises(StorageError, match=f"cannot reach the S3 endpoint http://127.0.0.1:{port}"):
        artifact_root(settings).check()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("gs://bucket/prefix", "unsupported scheme gs://"),
        ("https://minio:9000/bucket", "unsupported scheme https://"),
        ("s3://Bad_Bucket/x", "not a valid bucket name"),
    ],
)
def test_bad_artifacts_url_is_refused_naming_the_setting(
    url: str, says: str, tmp_path: Path
) -> None:
    with pytest.raises(StorageError, match=says) as info:
        artifact_root(Settings(data_dir=tmp_path, artifacts_url=url))
    assert str(info.value).startswith("CROWDCLEAN_ARTIFACTS_URL: ")
