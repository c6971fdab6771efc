"""Images given by URL, fetched once from a real HTTP server on loopback to compute features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestrator.data.errors import DatasetError
from orchestrator.data.image_column import SIDE, ImageImportOptions
from orchestrator.data.importer import ColumnMapping, read_dataset_file
from orchestrator.settings import ImageSettings
from tests.factories.image_server import png_bytes, serve_images

DEV = ImageImportOptions(settings=ImageSettings(allow_loopback_http=True, fetch_timeout_s=1.5))
IMAGES = {f"/img/{k}.png": png_bytes(30 * k, pattern=("square", "disc")[k % 2]) for k in range(4)}


def _csv(tmp_path: Path, urls: list[str]) -> Path:
    path = tmp_path / "urls.csv"
    body = "".join(f"i{k},{('square', 'disc')[k % 2]},{u}\n" for k, u in enumerate(urls))
    path.write_text("id,label,url\n" + body, encoding="utf-8")
    return path


def test_url_images_become_grey_pixel_features_fetched_once(tmp_path: Path) -> None:
    with serve_images(IMAGES) as server:
        urls = [server.url(p) for p in IMAGES]
        data = read_dataset_file(
            _csv(tmp_path, urls), ColumnMapping(image_column="url"), images=DEV
        )
        assert sorted(server.requests) == sorted(IMAGES)  # each image once
    assert data.features.shape == (4, SIDE * SIDE)
    assert data.feature_kind.value == "pixels"
    assert 0.0 <= float(data.features.min()) < float(data.features.max()) <= 1.0
    assert not np.allclose(data.features[0], data.features[1])  # a square is not a disc
    assert data.image_paths == tuple(urls)  # shown to workers as given


def test_a_redirect_is_followed_only_to_an_accepted_url(tmp_path: Path) -> None:
    with serve_images(IMAGES) as server:
        ok = [server.url("/redirect/img/0.png"), server.url("/img/1.png")]
        data = read_dataset_file(_csv(tmp_path, ok), ColumnMapping(image_column="url"), images=DEV)
        assert data.features.shape[0] == 2
        bad = [server.url("/img/0.png"), server.url("/to-ftp")]
        with pytest.raises(DatasetError, match="not an image URL") as info:
            read_dataset_file(_csv(tmp_path, bad), ColumnMapping(image_column="url"), images=DEV)
    assert (info.value.row, info.value.column) == (2, "url")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/missing.png", "HTTP 404"),
        ("/slow.png", "took over 1.5 s"),
        ("/huge.png", "over 1048576 bytes"),
    ],
)
def test_a_bad_download_names_its_row(tmp_path: Path, path: str, why: str) -> None:
    opts = ImageImportOptions(
        settings=ImageSettings(
            allow_loopback_http=True, fetch_timeout_s=1.5, fetch_max_bytes=1 << 20
        )
    )
    with serve_images(IMAGES) as server:
        urls = [server.url("/img/0.png"), server.url("/img/1.png"), server.url(path)]
        with pytest.raises(DatasetError, match=why) as info:
            read_dataset_file(_csv(tmp_path, urls), ColumnMapping(image_column="url"), images=opts)
    assert (info.value.row, info.value.column) == (3, "url")


def test_bytes_that_are_no_image_name_their_row(tmp_path: Path) -> None:
    with serve_images({**IMAGES, "/text.png": b"not an image at all"}) as server:
        urls = [server.url("/img/0.png"), server.url("/text.png")]
        with pytest.raises(DatasetError, match="unreadable image") as info:
            read_dataset_file(_csv(tmp_path, urls), ColumnMapping(image_column="url"), images=DEV)
    assert (info.value.row, info.value.column) == (2, "url")


def test_without_the_development_setting_loopback_http_is_refused_before_any_fetch(
    tmp_path: Path,
) -> None:
    with serve_images(IMAGES) as server:
        urls = [server.url("/img/0.png"), server.url("/img/1.png")]
        with pytest.raises(DatasetError, match="ALLOW_LOOPBACK_HTTP") as info:
            read_dataset_file(_csv(tmp_path, urls), ColumnMapping(image_column="url"))
        assert server.requests == []
    assert (info.value.row, info.value.column) == (1, "url")
