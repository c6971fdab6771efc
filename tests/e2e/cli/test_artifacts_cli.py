"""The CLI with ``CROWDCLEAN_ARTIFACTS_URL=s3://…`` against a real S3-compatible server.

In-process (typer's runner) with the environment a user would set: interpreter start-ups would
cost seconds each on two cores.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from orchestrator.settings import get_settings
from tests.factories.s3_server import S3Bucket

Invoke = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_bucket: S3Bucket) -> Iterator[Invoke]:
    from orchestrator.cli import _mount_optional, app
    from orchestrator.db.engine import get_engine

    _mount_optional()
    monkeypatch.setenv("CROWDCLEAN_DATABASE_URL", f"sqlite:///{tmp_path / 'cc.db'}")
    monkeypatch.setenv("CROWDCLEAN_DATA_DIR", str(tmp_path / "data"))

    def invoke(*args: str, artifacts_url: str | None = None) -> Result:
        if artifacts_url is not None:
            monkeypatch.setenv("CROWDCLEAN_ARTIFACTS_URL", artifacts_url)
        get_settings.cache_clear()
        get_engine.cache_clear()
        return CliRunner().invoke(app, list(args))

    yield invoke
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_check_creates_the_bucket_when_asked(run: Invoke, s3_bucket: S3Bucket) -> None:
    url = "s3://crowdclean-new-bucket/artifacts"
    missing = run("artifacts", "check", artifacts_url=url)
    assert missing.exit_code == 2
    assert "no bucket 'crowdclean-new-bucket' at the S3 endpoint" in missing.output
    assert s3_bucket.server.endpoint_url in missing.output
    made = run("artifacts", "check", "--create-bucket", artifacts_url=url)
    assert made.exit_code == 0, made.output
    assert json.loads(made.output) == {"location": url, "ok": True, "created_bucket": True}
    again = run("artifacts", "check", "--create-bucket", artifacts_url=url)
    assert json.loads(again.output)["created_bucket"] is False
    client = s3_bucket.client()
    client.delete_bucket(Bucket="crowdclean-new-bucket")


def test_bad_url_is_named(run: Invoke) -> None:
    bad = run("artifacts", "check", artifacts_url="gs://bucket/x")
    assert bad.exit_code == 2
    assert "CROWDCLEAN_ARTIFACTS_URL" in bad.output and "gs://" in bad.output


def test_dataset_import_goes_to_the_bucket_and_the_scheduler_refuses_a_missing_one(
    run: Invoke, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    assert run("db", "upgrade").exit_code == 0
    made = run("dataset", "builtin", "digits", artifacts_url=s3_bucket.url("art"))
    assert made.exit_code == 0, made.output
    ds = json.loads(made.output.strip().splitlines()[-1])
    assert s3_bucket.keys() == [f"art/datasets/{ds['id']}/features.npy"]
    assert not (tmp_path / "data" / "datasets").exists()
    refused = run("scheduler", "--once", artifacts_url="s3://no-such-bucket-y/art")
    assert refused.exit_code == 2
    assert "artifact storage: no bucket 'no-such-bucket-y'" in refused.output
