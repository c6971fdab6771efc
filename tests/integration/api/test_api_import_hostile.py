"""Unusable uploads are refused the same way on SQLite and PostgreSQL: 422 with row and column,
nothing stored; usable odd text (tabs, non-ASCII) round-trips unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session, select

from orchestrator.data.store import load_dataset
from orchestrator.db.models import Dataset, Item
from tests.integration.api.api_client import Api
from tests.integration.api.test_api import assert_problem


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _rows(**bad: Any) -> list[dict[str, Any]]:
    rows = [
        {"id": f"i{k}", "label": "ab"[k % 2], "x": k / 10, "y": 0.5, "t": "ok"} for k in range(6)
    ]
    rows[3].update(bad)
    return rows


CASES: list[tuple[str, bytes, dict[str, str], int | None, str]] = [
    ("nul-in-id", _jsonl(_rows(id="i\x003")), {}, 4, "id"),
    ("nul-in-label", _jsonl(_rows(label="a\x00")), {}, 4, "label"),
    ("vt-in-text", _jsonl(_rows(t="a\x0bb")), {"text_col": "t"}, 4, "t"),
    (
        "lone-surrogate",
        b'{"id": "a", "label": "a", "x": 1, "y": 1}\n{"id": "b\\udc00"}\n',
        {},
        2,
        "id",
    ),
    ("id-over-512", _jsonl(_rows(id="x" * 513)), {}, 4, "id"),
    ("float32-overflow", _jsonl(_rows(x=1e39)), {}, 4, "x"),
    ("pixels-out-of-range", _jsonl(_rows(x=10)), {"kind": "pixels"}, 4, "x"),
    ("negative-counts", _jsonl(_rows(x=-1)), {"kind": "counts"}, 4, "x"),
    ("object-id", _jsonl(_rows(id={"a": 1})), {}, 4, "id"),
    ("reserved-column", _jsonl(_rows(__line__=9)), {}, 4, "__line__"),
    ("repeated-header", b"id,label,x,x,y\na,a,1,2,3\nb,b,1,2,3\n", {}, None, "x"),
]


@pytest.mark.parametrize(
    ("case", "body", "form", "row", "column"), CASES, ids=[c[0] for c in CASES]
)
def test_unusable_upload_is_422_with_row_and_column_and_stores_nothing(
    api: Api, case: str, body: bytes, form: dict[str, str], row: int | None, column: str
) -> None:
    filename = "d.csv" if case == "repeated-header" else "d.jsonl"
    r = api.post(
        "alice",
        "/v1/datasets",
        files={"file": (filename, body, "application/octet-stream")},
        data={"name": "d", "feature_cols": "x,y", **form},
    )
    problem = assert_problem(r, 422, "invalid-dataset")
    assert (problem["row"], problem["column"]) == (row, column), problem
    assert "Traceback" not in r.text
    with Session(api.engine) as s:
        assert s.exec(select(Dataset)).all() == [] and s.exec(select(Item)).all() == []


def test_tabs_newlines_and_non_ascii_round_trip(api: Api) -> None:
    rows = _rows(id="é-中-✓", t="one\ttwo\nthree — ✓")
    r = api.post(
        "alice",
        "/v1/datasets",
        files={"file": ("d.jsonl", _jsonl(rows), "application/octet-stream")},
        data={"name": "d", "feature_cols": "x,y", "text_col": "t"},
    )
    assert r.status_code == 201, r.text
    back = load_dataset(api.engine, r.json()["id"])
    assert back.ids.tolist()[3] == "é-中-✓"
    assert back.texts is not None and back.texts[3] == "one\ttwo\nthree — ✓"


def test_an_upload_maps_images_by_url_and_display_columns(api: Api) -> None:
    rows = [
        {
            "id": f"i{k}",
            "label": "ab"[k % 2],
            "x": k,
            "img": f"https://cdn.example.com/{k}.png",
            "note": f"n{k}",
            "src": "camera",
        }
        for k in range(4)
    ]
    r = api.post(
        "alice",
        "/v1/datasets",
        files={"file": ("d.jsonl", _jsonl(rows), "application/octet-stream")},
        data={"name": "d", "feature_cols": "x", "image_col": "img", "display_cols": "src,note"},
    )
    assert r.status_code == 201, r.text
    back = load_dataset(api.engine, r.json()["id"])
    assert back.image_paths == tuple(f"https://cdn.example.com/{k}.png" for k in range(4))
    assert back.display is not None and back.display.columns == ("src", "note")
    assert back.display.values[2] == ("camera", "n2")


@pytest.mark.parametrize(
    ("cell", "why"),
    [("/etc/passwd", "is a file path"), ("http://10.0.0.1/a.png", "plain http URL")],
)
def test_an_upload_cannot_name_server_files_or_plain_http(api: Api, cell: str, why: str) -> None:
    rows = [
        {"id": "a", "label": "a", "x": 1, "img": "https://cdn.example.com/a.png"},
        {"id": "b", "label": "b", "x": 2, "img": cell},
    ]
    r = api.post(
        "alice",
        "/v1/datasets",
        files={"file": ("d.jsonl", _jsonl(rows), "application/octet-stream")},
        data={"name": "d", "feature_cols": "x", "image_col": "img"},
    )
    problem = assert_problem(r, 422, "invalid-dataset")
    assert (problem["row"], problem["column"]) == (2, "img"), problem
    assert why in r.text
