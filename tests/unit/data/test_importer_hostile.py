"""Input that imports but cannot be used (or crashed the importer) is refused with row and
column named, in every format that can carry it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from orchestrator.data.errors import DatasetError
from orchestrator.data.importer import MAX_ID_CHARS, ColumnMapping, read_dataset_file
from orchestrator.db.models import FeatureKind
from tests.unit.data.test_importer import FEATS, expect_error, write

TEXT = ColumnMapping(feature_columns=("f1",), text_column="t")


def jsonl(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    return write(tmp_path, "d.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


def two(id_: str = "a", label: str = "cat", t: str = "fine") -> list[dict[str, Any]]:
    return [
        {"id": "ok", "label": "dog", "f1": 0.5, "t": "fine"},
        {"id": id_, "label": label, "f1": 0.25, "t": t},
    ]


# --------------------------------------------------------------------------- characters

BAD_CHARS = ["\x0b", "\x00", "\x1b", "\x7f", "\x85", "\ufffe", "\uffff", "\ufdd0", "\U0001fffe"]


@pytest.mark.parametrize("ch", BAD_CHARS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("column", ["id", "label", "t"])
def test_control_and_noncharacters_are_refused_in_jsonl(
    tmp_path: Path, ch: str, column: str
) -> None:
    rows = two()
    rows[1][column] = f"x{ch}y"
    err = expect_error(jsonl(tmp_path, rows), TEXT, row=2, column=column, words="contains a")
    assert f"U+{ord(ch):04X}" in str(err)


@pytest.mark.parametrize("ch", ["\x0b", "\x1b", "\ufffe"], ids=lambda c: f"U+{ord(c):04X}")
def test_control_characters_are_refused_in_csv_and_parquet(tmp_path: Path, ch: str) -> None:
    path = write(tmp_path, "d.csv", f'id,label,f1,t\na,cat,0.1,fine\nb,dog,0.2,"x{ch}y"\n')
    expect_error(path, TEXT, row=2, column="t", words="control" if ch < " " else "nonchar")
    pq = tmp_path / "d.parquet"
    pd.DataFrame({"id": ["a", f"b{ch}"], "label": ["cat", "dog"], "f1": [0.1, 0.2]}).to_parquet(pq)
    expect_error(pq, ColumnMapping(feature_columns=("f1",)), row=2, column="id", words="U+")


def test_a_lone_surrogate_is_refused_not_a_crash(tmp_path: Path) -> None:
    body = '{"id": "a", "label": "cat", "f1": 0.1, "t": "ok"}\n'
    body += '{"id": "b\\ud800", "label": "dog", "f1": 0.2, "t": "ok"}\n'
    expect_error(write(tmp_path, "d.jsonl", body), TEXT, row=2, column="id", words="surrogate")
    body = body.replace("b\\ud800", "b").replace('"t": "ok"}\n', '"t": "x\\udfff"}\n', 1)
    expect_error(write(tmp_path, "d.jsonl", body), TEXT, row=1, column="t", words="surrogate")


def test_tab_newline_and_ordinary_unicode_stay(tmp_path: Path) -> None:
    rows = two(id_="é-ß-中", label="cat", t="line one\nline\ttwo\r\n — ok ✓")
    data = read_dataset_file(jsonl(tmp_path, rows), TEXT)
    assert data.ids.tolist() == ["ok", "é-ß-中"]
    assert data.texts is not None and data.texts[1] == "line one\nline\ttwo\r\n — ok ✓"


def test_a_declared_class_with_a_control_character_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2\na,cat,0.1,0.2\n")
    mapping = ColumnMapping(feature_columns=("f1", "f2"), classes=("cat", "d\x00g"))
    expect_error(path, mapping, row=None, column="label", words="U+0000")


# --------------------------------------------------------------------------- ids


def test_an_id_longer_than_the_database_column_is_refused(tmp_path: Path) -> None:
    rows = two(id_="x" * (MAX_ID_CHARS + 1))
    expect_error(jsonl(tmp_path, rows), TEXT, row=2, column="id", words=f"at most {MAX_ID_CHARS}")
    read_dataset_file(jsonl(tmp_path, two(id_="x" * MAX_ID_CHARS)), TEXT)  # the limit itself


def test_an_id_that_overflows_the_hit_annotation_once_escaped_is_refused(
    tmp_path: Path,
) -> None:
    rows = two(id_="é" * 26)  # 26 characters, 156 once JSON-escaped
    expect_error(jsonl(tmp_path, rows), TEXT, row=2, column="id", words="255-character")
    read_dataset_file(jsonl(tmp_path, two(id_="é" * 25)), TEXT)
    read_dataset_file(jsonl(tmp_path, two(id_="é" * 121)), TEXT)  # sent hashed: fits


# --------------------------------------------------------------------------- nesting


@pytest.mark.parametrize("value", [{"k": 1}, [1, 2]], ids=["object", "list"])
@pytest.mark.parametrize("column", ["id", "label", "t", "f1"])
def test_a_list_or_object_where_one_value_belongs_is_refused(
    tmp_path: Path, value: Any, column: str
) -> None:
    rows = two()
    rows[1][column] = value
    expect_error(jsonl(tmp_path, rows), TEXT, row=2, column=column, words="expected one value")


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_2d_vector_is_refused_not_a_crash(tmp_path: Path, suffix: str) -> None:
    vectors = [[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]]]
    frame = pd.DataFrame({"id": ["a", "b"], "label": ["cat", "dog"], "v": vectors})
    path = tmp_path / f"d{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        path.write_text(frame.to_json(orient="records", lines=True))
    expect_error(path, ColumnMapping(vector_column="v"), row=1, column="v", words="2-D")


def test_a_2d_vector_in_csv_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", 'id,label,v\na,cat,"[1, 2]"\nb,dog,"[[1], [2]]"\n')
    expect_error(path, ColumnMapping(vector_column="v"), row=2, column="v", words="2-D")


def test_json_nested_200k_levels_is_a_clear_error(tmp_path: Path) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    body = '{"id": "a", "label": "cat", "f1": 1}\n{"id": "b", "label": "dog", "f1": ' + deep + "}\n"
    expect_error(write(tmp_path, "d.jsonl", body), TEXT, row=2, column=None, words="nested")
    path = write(tmp_path, "d.csv", f'id,label,v\na,cat,"[1]"\nb,dog,"{deep}"\n')
    expect_error(path, ColumnMapping(vector_column="v"), row=2, column="v", words="nested")


# --------------------------------------------------------------------------- columns


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_reserved_column_name_is_refused(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame(
        {"id": ["a", "b"], "label": ["cat", "dog"], "f1": [0.1, 0.2], "f2": [0.3, 0.4]}
    )
    frame["__line__"] = ["x", "y"]
    path = tmp_path / f"d{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        path.write_text(frame.to_json(orient="records", lines=True))
    row = 1 if suffix == ".jsonl" else None
    expect_error(path, FEATS, row=row, column="__line__", words="reserved")


def test_a_repeated_csv_header_is_refused_not_renamed(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f1\na,cat,0.1,0.2\nb,dog,0.3,0.4\n")
    expect_error(path, ColumnMapping(feature_columns=("f1",)), row=None, column="f1", words="twice")


def test_a_repeated_jsonl_key_is_refused(tmp_path: Path) -> None:
    body = '{"id": "a", "label": "cat", "f1": 1}\n{"id": "b", "id": "c", "label": "dog", "f1": 1}\n'
    path = write(tmp_path, "d.jsonl", body)
    expect_error(path, ColumnMapping(feature_columns=("f1",)), row=2, column="id", words="twice")


# --------------------------------------------------------------------------- features


def test_a_feature_that_overflows_float32_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2\na,cat,0.1,0.2\nb,dog,1e39,0.4\n")
    expect_error(path, FEATS, row=2, column="f1", words="not finite as a 32-bit float")
    rows = [{"id": "a", "label": "cat", "v": [1, 2]}, {"id": "b", "label": "dog", "v": [1, -1e39]}]
    expect_error(
        jsonl(tmp_path, rows), ColumnMapping(vector_column="v"), row=2, column="v", words="32-bit"
    )


def test_pixels_outside_0_1_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2\na,cat,0.1,0.2\nb,dog,10,0.4\n")
    mapping = ColumnMapping(feature_columns=("f1", "f2"), feature_kind=FeatureKind.PIXELS)
    expect_error(path, mapping, row=2, column="f1", words="outside [0, 1]")


def test_negative_counts_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2\na,cat,1,2\nb,dog,3,-1\n")
    mapping = ColumnMapping(feature_columns=("f1", "f2"), feature_kind=FeatureKind.COUNTS)
    expect_error(path, mapping, row=2, column="f2", words="negative")
    rows = [{"id": "a", "label": "cat", "v": [1, 2]}, {"id": "b", "label": "dog", "v": [-3, 1]}]
    vec = ColumnMapping(vector_column="v", feature_kind=FeatureKind.COUNTS)
    err = expect_error(jsonl(tmp_path, rows), vec, row=2, column="v", words="negative")
    assert "entry 0" in str(err)


def test_continuous_features_may_be_negative_and_large(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2\na,cat,-1e30,2\nb,dog,3,-1\n")
    mapping = ColumnMapping(feature_columns=("f1", "f2"), feature_kind=FeatureKind.CONTINUOUS)
    assert read_dataset_file(path, mapping).features.shape == (2, 2)


def test_a_text_column_without_words_is_refused_as_0_features(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", 'id,label,t\na,pos,"!!"\nb,neg,"?"\n')
    expect_error(path, ColumnMapping(text_column="t"), row=None, column="t", words="0 features")


def test_nothing_is_returned_half_built(tmp_path: Path) -> None:
    # the last row is bad: the error comes, no dataset
    rows = [*two(), {"id": "z", "label": "cat", "f1": 0.1, "t": "bad\x0b"}]
    with pytest.raises(DatasetError):
        read_dataset_file(jsonl(tmp_path, rows), TEXT)


# --------------------------------------------------------------------------- HIT size


def test_a_text_too_large_for_any_hit_is_refused(tmp_path: Path) -> None:
    rows = two(t="word " * 20_000)  # 100 kB of text: MTurk refuses a Question over 64 kB
    expect_error(jsonl(tmp_path, rows), TEXT, row=2, column="t", words="Question limit")
    read_dataset_file(jsonl(tmp_path, two(t="word " * 5_000)), TEXT)  # 25 kB fits


def test_class_names_too_large_for_any_hit_are_refused(tmp_path: Path) -> None:
    rows = two(label="c" * 100_000)
    expect_error(jsonl(tmp_path, rows), TEXT, row=None, column="label", words="class names")
