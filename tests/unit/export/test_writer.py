"""Exports in the three formats carry the documented schema and the same rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from orchestrator.campaigns.cleaned_labels import choose_relabel_threshold
from orchestrator.export import EXPORT_COLUMNS, SCHEMA_VERSION, ExportRow, write_export


def rows(n: int) -> list[ExportRow]:
    return [
        ExportRow(
            item_id=f"i{k}",
            original_label="a",
            cleaned_label="b" if k % 2 else "a",
            source="crowd" if k % 2 else "original",
            confidence=0.5 + k / (4 * n),
            vote_counts=json.dumps({"b": 3}) if k % 2 else "{}",
            n_workers=3 * (k % 2),
            round=k % 3,
            cluster=k % 5,
            p_label_wrong=None if k % 7 == 0 else round(k / (2 * n), 6),
        )
        for k in range(n)
    ]


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_formats_round_trip(tmp_path: Path, suffix: str) -> None:
    data = rows(25_001)  # crosses the 10,000-row batch boundary twice
    path = tmp_path / f"out.{suffix}"
    assert write_export(iter(data), path) == len(data)
    if suffix == "csv":
        with path.open(encoding="utf-8") as fh:
            back = list(csv.DictReader(fh))
        assert tuple(back[0].keys()) == EXPORT_COLUMNS
        got = [(r["item_id"], r["cleaned_label"], int(r["n_workers"])) for r in back]
    elif suffix == "jsonl":
        back = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert tuple(back[0].keys()) == EXPORT_COLUMNS
        assert back[7]["schema_version"] == SCHEMA_VERSION
        got = [(r["item_id"], r["cleaned_label"], r["n_workers"]) for r in back]
    else:
        table = pq.read_table(path)
        assert tuple(table.column_names) == EXPORT_COLUMNS
        d = table.to_pydict()
        got = list(zip(d["item_id"], d["cleaned_label"], d["n_workers"], strict=True))
    assert got == [(r.item_id, r.cleaned_label, r.n_workers) for r in data]
    assert not list(tmp_path.glob(".*.tmp"))


#: Schema version 1, in order: version 2 may only append before ``schema_version``.
V1_COLUMNS = (
    "item_id",
    "original_label",
    "cleaned_label",
    "source",
    "confidence",
    "vote_counts",
    "n_workers",
    "round",
    "cluster",
)


def test_schema_v2_adds_p_label_wrong_and_keeps_v1_columns() -> None:
    import pyarrow as pa

    from orchestrator.export.writer import parquet_schema

    assert SCHEMA_VERSION == 2
    assert (*V1_COLUMNS, "p_label_wrong", "schema_version") == EXPORT_COLUMNS
    schema = parquet_schema()
    assert tuple(schema.names) == EXPORT_COLUMNS
    assert schema.field("p_label_wrong").type == pa.float64()
    assert schema.field("p_label_wrong").nullable
    # a row built positionally for version 1 still builds, with no evidence and version 2
    old = ExportRow("i", "a", "a", "original", 1.0, "{}", 0, -1, -1)
    assert old.p_label_wrong is None and old.schema_version == 2


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_p_label_wrong_round_trips_and_none_stays_missing(tmp_path: Path, suffix: str) -> None:
    data = rows(30)
    path = tmp_path / f"out.{suffix}"
    write_export(iter(data), path)
    want = [r.p_label_wrong for r in data]
    assert None in want and any(w is not None for w in want)
    if suffix == "csv":
        with path.open(encoding="utf-8") as fh:
            got = [
                None if r["p_label_wrong"] == "" else float(r["p_label_wrong"])
                for r in csv.DictReader(fh)
            ]
    elif suffix == "jsonl":
        text = path.read_text(encoding="utf-8")
        assert "NaN" not in text  # missing is JSON null, never the non-standard NaN
        got = [json.loads(line)["p_label_wrong"] for line in text.splitlines()]
    else:
        got = pq.read_table(path).column("p_label_wrong").to_pylist()
    assert got == want


def test_version_1_files_still_read_by_column_name(tmp_path: Path) -> None:
    # A consumer written for version 1 selects its columns by name: on a version 2 file it
    # gets the same values, and version 1 files (no p_label_wrong) are told apart by version.
    path = tmp_path / "v2.csv"
    write_export(iter(rows(5)), path)
    with path.open(encoding="utf-8") as fh:
        back = list(csv.DictReader(fh))
    v1_view = [tuple(r[c] for c in V1_COLUMNS) for r in back]
    assert v1_view[1] == ("i1", "a", "b", "crowd", str(0.5 + 1 / 20), '{"b": 3}', "3", "1", "1")
    assert {r["schema_version"] for r in back} == {"2"}


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    def broken():  # type: ignore[no-untyped-def]
        yield from rows(3)
        raise RuntimeError("source died")

    path = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        write_export(broken(), path)
    assert not path.exists()
    assert not list(tmp_path.iterdir())


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot tell the export format"):
        write_export(iter(rows(1)), tmp_path / "out.xlsx")


def test_relabel_threshold_is_validation_best() -> None:
    # Three validation rows: the model is right with 0.95 and 0.75 confidence, wrong with 0.6.
    posterior = np.array([[0.05, 0.95], [0.25, 0.75], [0.6, 0.4]])
    original = np.array([0, 0, 1])
    truth = np.array([1, 1, 1])
    t = choose_relabel_threshold(posterior, original, truth)
    assert 0.6 < t <= 0.75  # relabels the first two, keeps the third
    # When the model's only relabel on validation is wrong, the threshold rises above it.
    assert choose_relabel_threshold(posterior, np.array([1, 1, 1]), np.array([1, 1, 1])) > 0.6
    # ... and to "never" when even its most confident relabel is wrong.
    confident_wrong = np.array([[0.99, 0.01], [0.2, 0.8]])
    assert choose_relabel_threshold(confident_wrong, np.array([1, 1]), np.array([1, 1])) > 0.99


def test_relabel_threshold_ties_go_to_the_argmax() -> None:
    # Validation cannot tell 0 from 0.9 here (both relabel the one wrong label): the posterior
    # already weighs the original label, so its argmax is kept.
    posterior = np.array([[0.05, 0.95], [0.3, 0.7]])
    assert choose_relabel_threshold(posterior, np.array([0, 1]), np.array([1, 1])) == 0.0
    # With no validation rows there is no evidence against the argmax either.
    empty = np.zeros((0, 2))
    assert choose_relabel_threshold(empty, np.zeros(0, np.int64), np.zeros(0, np.int64)) == 0.0
