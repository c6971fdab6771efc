"""Local image files are uploaded at import to the configured bucket (a real S3-compatible
server on loopback) and shown to workers through presigned URLs that outlive the HIT."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from orchestrator.crowd.config import CrowdConfig
from orchestrator.crowd.image_links import (
    MAX_PRESIGN_S,
    ImageLinkError,
    PresignedS3Links,
    image_link_lifetime_s,
)
from orchestrator.data.errors import DatasetError
from orchestrator.data.image_upload import image_import_options, image_store_from_settings
from orchestrator.data.importer import ColumnMapping, read_dataset_file
from orchestrator.data.store import load_dataset, save_dataset
from orchestrator.db.models import Item
from orchestrator.settings import get_settings
from orchestrator.storage.presign_client import presigning_s3_client
from tests.factories.image_server import png_bytes
from tests.factories.s3_server import S3Bucket


def _dataset(tmp_path: Path, n: int = 4) -> Path:
    (tmp_path / "pics").mkdir(exist_ok=True)
    lines = ["id,label,img"]
    for k in range(n):
        # a 300 KB photo-like file: far over what a HIT can inline
        data = png_bytes(40 * k, size=64) + bytes(range(256)) * 1200 + bytes([k])
        (tmp_path / "pics" / f"{k}.png").write_bytes(data)
        lines.append(f"i{k},{'ab'[k % 2]},pics/{k}.png")
    path = tmp_path / "pets.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _import(engine: Engine, path: Path, name: str, data_dir: Path) -> None:
    settings = get_settings()
    data = read_dataset_file(
        path,
        ColumnMapping(image_column="img"),
        images=image_import_options(settings, local_files=True),
    )
    store = image_store_from_settings(settings, source=str(path))
    save_dataset(engine, data, name=name, source=str(path), data_dir=data_dir, image_store=store)


def test_local_images_go_to_the_bucket_and_presigned_urls_serve_them(
    sqlite_engine: Engine, s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROWDCLEAN_IMAGES__BUCKET_URL", s3_bucket.url("crowdclean"))
    get_settings.cache_clear()
    path = _dataset(tmp_path)
    _import(sqlite_engine, path, "pets", tmp_path / "art")

    keys = s3_bucket.keys()
    assert len(keys) == 4 and all(k.startswith("crowdclean/images/") for k in keys)
    with Session(sqlite_engine) as s:
        refs = [it.image_path for it in s.exec(select(Item).order_by(Item.position))]  # type: ignore[arg-type]
    assert all(
        r is not None and r.startswith(f"s3://{s3_bucket.name}/crowdclean/images/") for r in refs
    )
    assert load_dataset(sqlite_engine, "pets").features.shape == (4, 784)

    # a second import of the same files uploads nothing new (content-addressed keys)
    _import(sqlite_engine, path, "pets-again", tmp_path / "art")
    assert s3_bucket.keys() == keys

    links = PresignedS3Links(presigning_s3_client())
    valid_for = image_link_lifetime_s(CrowdConfig())
    crowd = CrowdConfig()
    assert valid_for == crowd.lifetime_s + crowd.assignment_duration_s + crowd.auto_approval_delay_s
    url = links.url_for(str(refs[2]), valid_for_s=valid_for)
    assert url.startswith(s3_bucket.server.endpoint_url)
    expires = int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0])
    assert expires == valid_for >= crowd.lifetime_s + crowd.auto_approval_delay_s
    got = httpx.get(url, timeout=10)
    assert got.status_code == 200
    assert got.content == (tmp_path / "pics" / "2.png").read_bytes()
    assert got.headers["content-type"] == "image/png"
    # an https URL or a file needs no link
    assert links.url_for("https://cdn.example.com/a.png", valid_for_s=60).endswith("/a.png")


def test_hits_that_outlive_a_presigned_url_are_refused_with_the_alternative(
    s3_bucket: S3Bucket,
) -> None:
    links = PresignedS3Links(s3_bucket.client())
    long_lived = CrowdConfig(lifetime_s=6 * 24 * 3600, auto_approval_delay_s=2 * 24 * 3600)
    assert image_link_lifetime_s(long_lived) > MAX_PRESIGN_S
    with pytest.raises(ImageLinkError, match="PUBLIC_BASE_URL"):
        links.url_for(f"s3://{s3_bucket.name}/a.png", valid_for_s=image_link_lifetime_s(long_lived))


def test_s3_images_are_read_through_the_client_for_features(
    s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    client = s3_bucket.client()
    lines = ["id,label,img"]
    for k in range(3):
        client.put_object(Bucket=s3_bucket.name, Key=f"in/{k}.png", Body=png_bytes(50 * k))
        lines.append(f"i{k},{'ab'[k % 2]},s3://{s3_bucket.name}/in/{k}.png")
    lines.append(f"i3,b,s3://{s3_bucket.name}/in/missing.png")
    path = tmp_path / "s3.csv"
    path.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    opts = image_import_options(get_settings(), local_files=False)
    data = read_dataset_file(path, ColumnMapping(image_column="img"), images=opts)
    assert data.features.shape == (3, 784)
    assert data.image_paths == tuple(f"s3://{s3_bucket.name}/in/{k}.png" for k in range(3))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no object") as info:
        read_dataset_file(path, ColumnMapping(image_column="img"), images=opts)
    assert (info.value.row, info.value.column) == (4, "img")


def test_a_campaign_whose_hits_outlive_presigned_urls_is_refused_at_creation(
    sqlite_engine: Engine, s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decimal import Decimal

    from orchestrator.campaigns.config import CampaignConfig
    from orchestrator.campaigns.lifecycle import create_campaign

    monkeypatch.setenv("CROWDCLEAN_IMAGES__BUCKET_URL", s3_bucket.url())
    get_settings.cache_clear()
    _import(sqlite_engine, _dataset(tmp_path, n=2), "pets", tmp_path / "art")
    long_lived = CampaignConfig.model_validate(
        {"crowd": {"lifetime_s": 7 * 24 * 3600, "auto_approval_delay_s": 3600}}
    )
    with pytest.raises(DatasetError, match="PUBLIC_BASE_URL"):
        create_campaign(
            sqlite_engine,
            "pets",
            name="c",
            budget_usd=Decimal("5"),
            config=long_lived,
            data_dir=tmp_path / "art",
        )
    made = create_campaign(
        sqlite_engine,
        "pets",
        name="c",
        budget_usd=Decimal("5"),
        config=CampaignConfig(),
        data_dir=tmp_path / "art",
    )
    assert made.status.value == "draft"
