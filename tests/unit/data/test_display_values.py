"""Tabular and vector items: the named values a worker is shown are chosen at import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.data.display import MAX_DEFAULT_FIELDS
from orchestrator.data.errors import DatasetError
from orchestrator.data.importer import ColumnMapping, read_dataset_file

PENGUINS = (
    "id,label,island,bill_mm,mass_g,gold,check\n"
    "a,Adelie,Biscoe,39.1,3750,Adelie,true\n"
    "b,Gentoo,Dream,47.5,5200,Gentoo,false\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_table_is_every_other_named_column_without_the_answers(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", PENGUINS)
    mapping = ColumnMapping(
        feature_columns=("bill_mm", "mass_g"), gold_column="gold", validation_column="check"
    )
    data = read_dataset_file(path, mapping)
    assert data.display is not None
    # the gold label and the validation flag would tell the worker the answer: never shown
    assert data.display.columns == ("island", "bill_mm", "mass_g")
    assert data.display.values == (("Biscoe", "39.1", "3750"), ("Dream", "47.5", "5200"))


def test_display_cols_choose_and_order_the_table(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", PENGUINS)
    mapping = ColumnMapping(feature_columns=("bill_mm",), display_columns=("mass_g", "island"))
    data = read_dataset_file(path, mapping)
    assert data.display is not None
    assert data.display.columns == ("mass_g", "island")
    assert data.display.values[1] == ("5200", "Dream")


def test_unknown_display_column_is_refused_naming_it(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", PENGUINS)
    with pytest.raises(DatasetError) as info:
        read_dataset_file(
            path, ColumnMapping(feature_columns=("bill_mm",), display_columns=("colour",))
        )
    assert info.value.column == "colour" and "missing column" in str(info.value)


def test_control_character_in_a_display_value_names_row_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", "id,label,x,note\na,u,1,fine\nb,v,2,bad\x0bvalue\n")
    with pytest.raises(DatasetError) as info:
        read_dataset_file(path, ColumnMapping(feature_columns=("x",)))
    assert (info.value.row, info.value.column) == (2, "note")
    assert "U+000B" in str(info.value)


def test_a_list_in_a_mapped_display_column_is_refused(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "label": "u", "x": 1, "tags": "ok"},
        {"id": "b", "label": "v", "x": 2, "tags": ["a", "b"]},
    ]
    path = _write(tmp_path, "p.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(DatasetError) as info:
        read_dataset_file(path, ColumnMapping(feature_columns=("x",), display_columns=("tags",)))
    assert (info.value.row, info.value.column) == (2, "tags")


def test_vector_items_show_their_other_columns_else_their_first_entries(tmp_path: Path) -> None:
    rows = [
        {"id": f"i{k}", "label": "ab"[k % 2], "vec": [k / 10] * 50, "title": f"t{k}"}
        for k in range(4)
    ]
    path = _write(tmp_path, "v.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    with_title = read_dataset_file(path, ColumnMapping(vector_column="vec"))
    assert with_title.display is not None
    assert with_title.display.columns == ("title",)
    assert with_title.display.values[2] == ("t2",)

    bare = [{k: v for k, v in r.items() if k != "title"} for r in rows]
    path = _write(tmp_path, "b.jsonl", "".join(json.dumps(r) + "\n" for r in bare))
    vec = read_dataset_file(path, ColumnMapping(vector_column="vec", feature_kind=None))
    assert vec.display is not None
    assert vec.display.columns[:2] == ("vec[0]", "vec[1]")
    assert len(vec.display.columns) == MAX_DEFAULT_FIELDS
    assert vec.display.omitted == 50 - MAX_DEFAULT_FIELDS
    assert vec.display.values[1][0] == "0.1"


def test_square_pixel_features_are_drawn_not_tabled(tmp_path: Path) -> None:
    header = "id,label," + ",".join(f"p{j}" for j in range(16))
    body = "".join(f"i{k},{k % 2}," + ",".join(["0.5"] * 16) + "\n" for k in range(4))
    path = _write(tmp_path, "px.csv", header + "\n" + body)
    cols = tuple(f"p{j}" for j in range(16))
    assert read_dataset_file(path, ColumnMapping(feature_columns=cols)).display is None


def test_text_items_get_no_default_table(tmp_path: Path) -> None:
    path = _write(tmp_path, "t.csv", "id,label,text,source\na,pos,good film,imdb\nb,neg,bad,rt\n")
    assert read_dataset_file(path, ColumnMapping(text_column="text")).display is None
    shown = read_dataset_file(path, ColumnMapping(text_column="text", display_columns=("source",)))
    assert shown.display is not None and shown.display.values == (("imdb",), ("rt",))


def test_a_display_table_too_large_for_a_hit_is_refused_at_import(tmp_path: Path) -> None:
    big = "x" * 70_000
    path = _write(tmp_path, "p.csv", f"id,label,f,note\na,u,1,ok\nb,v,2,{big}\n")
    with pytest.raises(DatasetError) as info:
        read_dataset_file(path, ColumnMapping(feature_columns=("f",), display_columns=("note",)))
    assert (info.value.row, info.value.column) == (2, "note")
    assert "65535-byte" in str(info.value)


def test_long_default_values_are_cut_not_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.csv", f"id,label,f,note\na,u,1,ok\nb,v,2,{'y' * 5000}\n")
    data = read_dataset_file(path, ColumnMapping(feature_columns=("f",)))
    assert data.display is not None
    assert data.display.values[1][1].endswith("…") and len(data.display.values[1][1]) == 300
