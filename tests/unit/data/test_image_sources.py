"""Which image references an import accepts; every refusal names the row and the column."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.data.errors import DatasetError
from orchestrator.data.image_column import ImageImportOptions
from orchestrator.data.image_sources import (
    ImageSourceError,
    ImageSourceKind,
    classify_image_source,
)
from orchestrator.data.importer import ColumnMapping, read_dataset_file
from orchestrator.settings import ImageSettings


@pytest.mark.parametrize(
    ("ref", "kind"),
    [
        ("https://cdn.example.com/a.jpg", ImageSourceKind.HTTPS),
        ("HTTPS://cdn.example.com/a.jpg", ImageSourceKind.HTTPS),
        ("s3://bucket/images/a.png", ImageSourceKind.S3),
        ("imgs/a.png", ImageSourceKind.FILE),
        ("/data/a.png", ImageSourceKind.FILE),
        ("C:\\data\\a.png", ImageSourceKind.FILE),
    ],
)
def test_accepted_references(ref: str, kind: ImageSourceKind) -> None:
    assert classify_image_source(ref, allow_loopback_http=False) == kind


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("http://cdn.example.com/a.jpg", "plain http URL"),
        ("http://127.0.0.1:8000/a.png", "ALLOW_LOOPBACK_HTTP"),
        ("ftp://example.com/a.png", "ftp: URLs cannot be shown"),
        ("file:///etc/passwd", "file: URLs cannot be shown"),
        ("javascript:alert(1)", "javascript: URLs cannot be shown"),
        ("data:image/png;base64,AAAA", "data: URLs cannot be shown"),
        ("https:///nohost.png", "has no host"),
        ("s3://bucket-only", "not an s3://bucket/key"),
    ],
)
def test_refused_references_say_why(ref: str, why: str) -> None:
    with pytest.raises(ImageSourceError, match=why):
        classify_image_source(ref, allow_loopback_http=False)


def test_loopback_http_only_under_the_development_setting() -> None:
    for host in ("127.0.0.1:9", "localhost:9", "[::1]:9", "127.8.9.10"):
        ref = f"http://{host}/a.png"
        assert classify_image_source(ref, allow_loopback_http=True) == ImageSourceKind.LOOPBACK_HTTP
    with pytest.raises(ImageSourceError, match="plain http"):
        classify_image_source("http://10.0.0.1/a.png", allow_loopback_http=True)


def _csv(tmp_path: Path, cells: list[str]) -> Path:
    path = tmp_path / "imgs.csv"
    body = "".join(f"i{k},{'ab'[k % 2]},{k},{c}\n" for k, c in enumerate(cells))
    path.write_text("id,label,f,img\n" + body, encoding="utf-8")
    return path


def test_import_refuses_a_bad_reference_naming_row_and_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, ["https://cdn.example.com/a.png", "ftp://x/b.png"])
    mapping = ColumnMapping(image_column="img", feature_columns=("f",))
    with pytest.raises(DatasetError) as info:
        read_dataset_file(path, mapping)
    assert (info.value.row, info.value.column) == (2, "img")
    assert "ftp: URLs cannot be shown" in str(info.value)


def test_display_only_urls_are_stored_as_given_and_not_fetched(tmp_path: Path) -> None:
    # nothing listens on these hosts: a fetch would fail the import
    urls = ["https://images.invalid/a.png", "https://images.invalid/b.png"]
    data = read_dataset_file(
        _csv(tmp_path, urls), ColumnMapping(image_column="img", feature_columns=("f",))
    )
    assert data.image_paths == tuple(urls)
    assert data.features.shape == (2, 1)


def test_an_upload_cannot_name_files_on_the_server(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"\x89PNG")
    path = _csv(tmp_path, ["https://cdn.example.com/x.png", "a.png"])
    with pytest.raises(DatasetError) as info:
        read_dataset_file(
            path,
            ColumnMapping(image_column="img", feature_columns=("f",)),
            images=ImageImportOptions(local_files=False),
        )
    assert (info.value.row, info.value.column) == (2, "img")
    assert "is a file path" in str(info.value)


def test_public_base_url_turns_relative_paths_into_urls(tmp_path: Path) -> None:
    (tmp_path / "pets").mkdir()
    for name in ("a b.png", "c.png"):
        (tmp_path / "pets" / name).write_bytes(b"\x89PNG")
    opts = ImageImportOptions(settings=ImageSettings(public_base_url="https://cdn.example.com/ds"))
    mapping = ColumnMapping(image_column="img", feature_columns=("f",))
    data = read_dataset_file(_csv(tmp_path, ["pets/a b.png", "./pets/c.png"]), mapping, images=opts)
    assert data.image_paths == (
        "https://cdn.example.com/ds/pets/a%20b.png",
        "https://cdn.example.com/ds/pets/c.png",
    )
    (tmp_path / "out.png").write_bytes(b"\x89PNG")
    sub = tmp_path / "sub"
    sub.mkdir()
    path = sub / "x.csv"
    path.write_text("id,label,f,img\na,a,1,../out.png\nb,b,2,../out.png\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="outside the dataset file's folder") as info:
        read_dataset_file(path, mapping, images=opts)
    assert (info.value.row, info.value.column) == (1, "img")


def test_a_local_image_too_large_to_inline_names_the_settings_that_serve_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "small.png").write_bytes(b"\x89PNG" + b"\0" * 1000)
    (tmp_path / "big.png").write_bytes(b"\x89PNG" + b"\0" * 200_000)
    path = _csv(tmp_path, ["small.png", "big.png"])
    with pytest.raises(DatasetError) as info:
        read_dataset_file(path, ColumnMapping(image_column="img", feature_columns=("f",)))
    assert (info.value.row, info.value.column) == (2, "img")
    assert "CROWDCLEAN_IMAGES__BUCKET_URL" in str(info.value)
    # with a bucket configured the file is uploaded at save time instead: no size check here
    opts = ImageImportOptions(settings=ImageSettings(bucket_url="s3://bucket/p"))
    data = read_dataset_file(
        path, ColumnMapping(image_column="img", feature_columns=("f",)), images=opts
    )
    assert data.image_paths is not None and data.image_paths[1] == str(tmp_path / "big.png")
