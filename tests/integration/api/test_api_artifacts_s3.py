"""The API with ``CROWDCLEAN_ARTIFACTS_URL=s3://…``: uploads and campaigns keep their artifacts
in the bucket (a real S3-compatible server on loopback), and exports read them from there."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from orchestrator.api import create_app
from orchestrator.api.keys import create_api_key
from orchestrator.settings import Settings, get_settings
from tests.factories.s3_server import S3Bucket

CSV = "id,label,x,y\n" + "".join(
    f"i{k},{'cat' if k % 2 else 'dog'},{k / 10:.1f},{(k * 7 % 5) / 5:.1f}\n" for k in range(30)
)


def test_upload_and_campaign_artifacts_go_to_the_bucket(
    sqlite_engine: Engine, s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROWDCLEAN_DATA_DIR", str(tmp_path / "api-host"))  # its cache
    get_settings.cache_clear()
    settings = Settings(
        data_dir=tmp_path / "api-host",
        database_url=str(sqlite_engine.url),
        artifacts_url=s3_bucket.url("api"),
        api={"status_cache_ttl_s": 0.0, "auth_cache_ttl_s": 0.0},
    )
    key = create_api_key(sqlite_engine, "alice")[1]
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        r = client.post(
            "/v1/datasets",
            headers=auth,
            files={"file": ("pets.csv", CSV.encode(), "text/csv")},
            data={"name": "pets", "feature_cols": "x,y"},
        )
        assert r.status_code == 201, r.text
        ds = r.json()
        assert s3_bucket.keys() == [f"api/datasets/{ds['id']}/features.npy"]
        r = client.post(
            "/v1/campaigns",
            headers=auth,
            json={"dataset": "pets", "name": "first", "budget_usd": "5.00"},
        )
        assert r.status_code == 201, r.text
        campaign_id = r.json()["id"]
        # No round yet: the export reads the (absent) model artifacts from the bucket and
        # delivers the original labels.
        r = client.get(f"/v1/campaigns/{campaign_id}/export", headers=auth)
        assert r.status_code == 200, r.text
        lines = r.text.strip().splitlines()
        assert len(lines) == 31 and lines[1].split(",")[:4] == ["i0", "dog", "dog", "original"]
    assert not (tmp_path / "api-host" / "datasets").exists()
