"""Property-based fuzzing of the importer (CSV, JSONL, Parquet) and of the campaign config.

Properties: any file either imports, with ids, labels and texts free of characters XML forbids
and finite features, or is refused with a :class:`DatasetError` (naming the file); nothing else
escapes. Any config either validates or raises pydantic's ``ValidationError``. Seeded
(derandomised) and bounded; ``-m slow`` runs the nightly size.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestrator.campaigns.config import CampaignConfig
from orchestrator.data.errors import DatasetError
from orchestrator.data.importer import ColumnMapping, read_dataset_file

EXAMPLES = 150
NIGHTLY = 2000
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

TEXT = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from('\x00\x0b\x1b\x7f\x85\ufffe\uffff,"\n'),
    max_size=12,
)
CELL = st.one_of(
    TEXT,
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["1e39", "-1e39", "nan", "", "__line__", None]),
    st.lists(st.integers(0, 3), max_size=3),
)
COLUMNS = st.lists(
    st.sampled_from(["id", "label", "x", "y", "text", "__line__", "id "]) | TEXT,
    min_size=1,
    max_size=5,
)
MAPPINGS = st.sampled_from(
    [
        ColumnMapping(feature_columns=("x", "y")),
        ColumnMapping(text_column="text"),
        ColumnMapping(vector_column="x"),
    ]
)


@st.composite
def frames(draw: Any) -> list[dict[str, Any]]:
    """A valid table (unique ids, two classes, finite features, text) with 0-3 hostile edits:
    a cell replaced by a hostile value, or a column renamed to a hostile name."""
    n = draw(st.integers(2, 8))
    rows: list[dict[str, Any]] = [
        {
            "id": f"i{k}",
            "label": "cat" if k % 2 else "dog",
            "x": draw(st.floats(-10, 10)),
            "y": draw(st.floats(0, 1)),
            "text": draw(st.text(alphabet="abc xyz", min_size=1, max_size=8)) + str(k),
        }
        for k in range(n)
    ]
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            row = draw(st.integers(0, n - 1))
            rows[row][draw(st.sampled_from(sorted(rows[0])))] = draw(CELL)
        else:
            old, new = draw(st.sampled_from(sorted(rows[0]))), draw(COLUMNS)[0]
            rows = [{(new if c == old else c): v for c, v in r.items()} for r in rows]
    return rows


def _write(tmp: Path, fmt: str, rows: list[dict[str, Any]]) -> Path:
    path = tmp / f"f.{fmt}"
    if fmt == "jsonl":
        path.write_text(
            "".join(json.dumps(r, allow_nan=True) + "\n" for r in rows),
            encoding="utf-8",
            errors="surrogatepass",
        )
    elif fmt == "csv":
        cols = list(rows[0]) if rows else ["id", "label"]
        buf = io.StringIO()
        buf.write(",".join(cols) + "\n")
        for r in rows:
            buf.write(",".join("" if r[c] is None else str(r[c]) for c in cols) + "\n")
        path.write_bytes(buf.getvalue().encode("utf-8", "surrogatepass"))
    else:
        frame = pd.DataFrame(rows).astype(str) if rows else pd.DataFrame({"id": [], "label": []})
        try:
            frame.to_parquet(path)
        except Exception:  # not representable in Parquet at all: nothing to import
            path.write_bytes(b"PAR1 broken")
    return path


def _check_file(tmp: Path, fmt: str, rows: list[dict[str, Any]], mapping: ColumnMapping) -> None:
    path = _write(tmp, fmt, rows)
    try:
        data = read_dataset_file(path, mapping)
    except DatasetError as exc:
        assert str(exc).startswith(str(path)) or path.name in str(exc), str(exc)
        return
    for value in [*map(str, data.ids), *data.classes, *(data.texts or [])]:
        assert not _NOT_XML.search(value), repr(value)
    assert np.isfinite(np.asarray(data.features, dtype=np.float32)).all()
    assert data.features.shape[0] == data.n_items and data.features.shape[1] > 0


def _fuzz_import(examples: int, tmp_path: Path) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.sampled_from(["csv", "jsonl", "parquet"]), frames(), MAPPINGS)
    def check(fmt: str, rows: list[dict[str, Any]], mapping: ColumnMapping) -> None:
        _check_file(tmp_path, fmt, rows, mapping)

    check()


def test_import_fuzz(tmp_path: Path) -> None:
    _fuzz_import(EXAMPLES, tmp_path)


@pytest.mark.slow
def test_import_fuzz_nightly(tmp_path: Path) -> None:
    _fuzz_import(NIGHTLY, tmp_path)


CONFIG_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | TEXT
    | st.sampled_from(["auto", "uncertainty", "abc", "'; DROP TABLE campaign; --", "50"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)
CONFIG_KEYS = st.sampled_from(sorted(CampaignConfig.model_fields)) | TEXT


def _fuzz_config(examples: int) -> None:
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None)
    @given(
        st.dictionaries(
            CONFIG_KEYS,
            CONFIG_VALUES
            | st.dictionaries(
                st.sampled_from(["lifetime_s", "beta", "epochs", "gold_rate", "x"]) | TEXT,
                CONFIG_VALUES,
                max_size=3,
            ),
            max_size=5,
        )
    )
    def check(raw: dict[str, Any]) -> None:
        try:
            cfg = CampaignConfig.model_validate(raw)
        except ValidationError:
            return
        # Anything accepted must round-trip through its stored JSON form unchanged.
        again = CampaignConfig.model_validate(json.loads(cfg.model_dump_json()))
        assert again == cfg

    check()


def test_config_fuzz() -> None:
    _fuzz_config(EXAMPLES)


@pytest.mark.slow
def test_config_fuzz_nightly() -> None:
    _fuzz_config(NIGHTLY)
