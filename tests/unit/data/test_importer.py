"""Every kind of bad input is refused with file, row and column named; good input round-trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from orchestrator.data.errors import DatasetError
from orchestrator.data.importer import ColumnMapping, read_dataset_file
from orchestrator.db.models import FeatureKind

FEATS = ColumnMapping(feature_columns=("f1", "f2"), classes=("cat", "dog"))


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def expect_error(
    path: Path, mapping: ColumnMapping, *, row: int | None, column: str | None, words: str
) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        read_dataset_file(path, mapping)
    err = info.value
    assert err.source == str(path)
    assert err.row == row
    assert err.column == column
    assert words in str(err)
    assert str(path) in str(err)
    return err


def test_good_csv_with_gold_and_validation(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.csv",
        "id,label,f1,f2,gold,val\na,cat,0.1,0.2,cat,1\nb,dog,0.3,0.9,,0\nc,dog,0.5,0.4,cat,true\n",
    )
    mapping = ColumnMapping(
        feature_columns=("f1", "f2"), gold_column="gold", validation_column="val"
    )
    data = read_dataset_file(path, mapping)
    assert data.classes == ("cat", "dog")
    assert data.ids.tolist() == ["a", "b", "c"]
    assert data.noisy_labels.tolist() == [0, 1, 1]
    assert data.gold.tolist() == [0, -1, 0]
    assert data.validation.tolist() == [True, False, True]
    assert data.feature_kind == FeatureKind.PIXELS
    np.testing.assert_allclose(data.features[2], [0.5, 0.4])


def test_numeric_labels_sort_numerically(tmp_path: Path) -> None:
    rows = "".join(f"i{k},{k},{k}\n" for k in (10, 2, 1))
    path = write(tmp_path, "n.csv", "id,label,f1\n" + rows)
    data = read_dataset_file(path, ColumnMapping(feature_columns=("f1",)))
    assert data.classes == ("1", "2", "10")
    assert data.feature_kind == FeatureKind.COUNTS


def test_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1\na,cat,1\n")
    expect_error(path, FEATS, row=None, column="f2", words="missing column")


def test_duplicate_id_names_both_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2\na,cat,1,2\nb,dog,1,2\na,dog,3,4\n")
    err = expect_error(path, FEATS, row=3, column="id", words="duplicate id 'a'")
    assert "row 1" in str(err)


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_label(tmp_path: Path, bad: str) -> None:
    path = write(tmp_path, "d.csv", f"id,label,f1,f2\na,cat,1,2\nb,{bad},1,2\n")
    expect_error(path, FEATS, row=2, column="label", words="empty or NaN label")


def test_nan_label_in_parquet(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pd.DataFrame(
        {"id": ["a", "b"], "label": ["cat", None], "f1": [1.0, 2.0], "f2": [0.0, 1.0]}
    ).to_parquet(path)
    expect_error(path, FEATS, row=2, column="label", words="empty or NaN label")


def test_label_outside_declared_classes(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2\na,cat,1,2\nb,bird,1,2\n")
    expect_error(path, FEATS, row=2, column="label", words="'bird' is not one of")


def test_gold_outside_classes(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2,g\na,cat,1,2,cat\nb,dog,1,2,cow\n")
    mapping = ColumnMapping(feature_columns=("f1", "f2"), classes=("cat", "dog"), gold_column="g")
    expect_error(path, mapping, row=2, column="g", words="gold label 'cow'")


def test_validation_without_gold(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2,g,v\na,cat,1,2,cat,1\nb,dog,1,2,,1\n")
    mapping = ColumnMapping(feature_columns=("f1", "f2"), gold_column="g", validation_column="v")
    expect_error(path, mapping, row=2, column="v", words="without a gold label")


def test_non_numeric_feature(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2\na,cat,1,2\nb,dog,1,abc\n")
    expect_error(path, FEATS, row=2, column="f2", words="'abc' is not a finite number")


def test_empty_feature_value(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2\na,cat,,2\n")
    expect_error(path, FEATS, row=1, column="f1", words="not a finite number")


def test_ragged_vector_jsonl(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "label": "cat", "v": [1, 2, 3]},
        {"id": "b", "label": "dog", "v": [1, 2, 3]},
        {"id": "c", "label": "dog", "v": [1, 2]},
    ]
    path = write(tmp_path, "d.jsonl", "\n".join(json.dumps(x) for x in lines))
    expect_error(path, ColumnMapping(vector_column="v"), row=3, column="v", words="ragged vector")


def test_non_numeric_vector_entry(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", 'id,label,v\na,cat,"[1, 2]"\nb,dog,"[1, ""x""]"\n')
    expect_error(path, ColumnMapping(vector_column="v"), row=2, column="v", words="non-numeric")


def test_ragged_csv_row(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2\na,cat,1,2\nb,dog,1,2,9,9\n")
    expect_error(path, FEATS, row=2, column=None, words="malformed CSV")


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_empty_file(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path, "empty" + suffix, "")
    expect_error(path, FEATS, row=None, column=None, words="file is empty")


def test_header_only_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1,f2\n")
    expect_error(path, FEATS, row=None, column=None, words="no data rows")


def test_undecodable_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", b"id,label,f1,f2\na,cat,1,2\nb,d\xffg,1,2\n")
    expect_error(path, FEATS, row=2, column=None, words="not valid UTF-8")


def test_invalid_json_line(tmp_path: Path) -> None:
    path = write(tmp_path, "d.jsonl", '{"id": "a", "label": "cat", "f1": 1, "f2": 2}\n{"id": \n')
    expect_error(path, FEATS, row=2, column=None, words="invalid JSON")


def test_jsonl_line_numbers_skip_blank_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.jsonl",
        '{"id": "a", "label": "cat", "f1": 1, "f2": 2}\n\n'
        '{"id": "b", "label": "", "f1": 1, "f2": 2}\n',
    )
    expect_error(path, FEATS, row=3, column="label", words="empty or NaN label")


def test_corrupt_parquet(tmp_path: Path) -> None:
    path = write(tmp_path, "d.parquet", b"PAR1 this is not parquet")
    expect_error(path, FEATS, row=None, column=None, words="not a readable Parquet")


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "d.xlsx", "x")
    expect_error(path, FEATS, row=None, column=None, words="unsupported file type")


def test_single_class_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,f1\na,cat,1\nb,cat,2\n")
    expect_error(
        path,
        ColumnMapping(feature_columns=("f1",)),
        row=None,
        column="label",
        words="at least two classes",
    )


def test_text_column_becomes_bag_of_words(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", 'id,label,text\na,pos,"good good film"\nb,neg,"bad film"\n')
    data = read_dataset_file(path, ColumnMapping(text_column="text"))
    assert data.feature_kind == FeatureKind.COUNTS
    assert data.features.shape == (2, 3)
    assert data.features.sum(axis=1).tolist() == [3.0, 2.0]
    assert data.texts == ("good good film", "bad film")


def test_markup_in_text_is_kept_verbatim(tmp_path: Path) -> None:
    payload = "<script>alert(1)</script> ]]> & co"
    path = write(
        tmp_path,
        "d.jsonl",
        json.dumps({"id": "x", "label": "a", "t": payload})
        + "\n"
        + json.dumps({"id": "y", "label": "b", "t": "ok"})
        + "\n",
    )
    data = read_dataset_file(path, ColumnMapping(text_column="t"))
    assert data.texts is not None and data.texts[0] == payload


def test_missing_image_file(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "id,label,img,f1\na,cat,nope.png,1\nb,dog,nope.png,1\n")
    mapping = ColumnMapping(image_column="img", feature_columns=("f1",))
    expect_error(path, mapping, row=1, column="img", words="not found")
