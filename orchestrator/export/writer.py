"""Streamed writers for cleaned-label exports.

Schema (version ``1``), one record per item:

==================  ========  ===========================================================
column              type      meaning
==================  ========  ===========================================================
item_id             string    the dataset's id of the item
original_label      string    the label as imported
cleaned_label       string    the label after cleaning
source              string    ``original`` | ``model`` | ``crowd`` | ``propagated``
confidence          float     belief in ``cleaned_label``, 0..1 (model posterior, crowd
                              posterior, or propagation confidence)
vote_counts         string    JSON object label → number of crowd votes (``{}`` if none)
n_workers           int       workers who answered about this item
round               int       round that set the label (-1 for original / model)
cluster             int       latent cluster of the item in the last round (-1 if none)
schema_version      int       ``1``
==================  ========  ===========================================================

Rows are consumed from an iterator in batches so an export of any size needs bounded memory.
Files are written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from itertools import islice
from pathlib import Path
from typing import Literal

SCHEMA_VERSION = 1
EXPORT_FORMATS = ("csv", "jsonl", "parquet")
ExportFormat = Literal["csv", "jsonl", "parquet"]
_BATCH = 10_000


@dataclass(frozen=True)
class ExportRow:
    """One item of an export; see the module docstring for the meaning of each field."""

    item_id: str
    original_label: str
    cleaned_label: str
    source: str
    confidence: float
    vote_counts: str
    n_workers: int
    round: int
    cluster: int
    schema_version: int = SCHEMA_VERSION


EXPORT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ExportRow))


def _batches(rows: Iterable[ExportRow]) -> Iterator[list[ExportRow]]:
    it = iter(rows)
    while batch := list(islice(it, _BATCH)):
        yield batch


def write_export(rows: Iterable[ExportRow], path: Path, fmt: ExportFormat | None = None) -> int:
    """Write ``rows`` to ``path`` (format from ``fmt`` or the suffix); returns the row count."""
    path = Path(path)
    fmt = fmt or _format_from_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "csv":
            n = _write_csv(rows, tmp)
        elif fmt == "jsonl":
            n = _write_jsonl(rows, tmp)
        elif fmt == "parquet":
            n = _write_parquet(rows, tmp)
        else:
            raise ValueError(f"unknown export format {fmt!r}; use one of {EXPORT_FORMATS}")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def _format_from_suffix(path: Path) -> ExportFormat:
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "csv":
        return "csv"
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix == "parquet":
        return "parquet"
    raise ValueError(f"cannot tell the export format from {path.name!r}; use {EXPORT_FORMATS}")


def _write_csv(rows: Iterable[ExportRow], path: Path) -> int:
    n = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(EXPORT_COLUMNS)
        for batch in _batches(rows):
            writer.writerows(astuple(r) for r in batch)
            n += len(batch)
    return n


def _write_jsonl(rows: Iterable[ExportRow], path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for batch in _batches(rows):
            fh.writelines(
                json.dumps(dict(zip(EXPORT_COLUMNS, astuple(r), strict=True))) + "\n" for r in batch
            )
            n += len(batch)
    return n


def _write_parquet(rows: Iterable[ExportRow], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("item_id", pa.string()),
            ("original_label", pa.string()),
            ("cleaned_label", pa.string()),
            ("source", pa.string()),
            ("confidence", pa.float64()),
            ("vote_counts", pa.string()),
            ("n_workers", pa.int32()),
            ("round", pa.int32()),
            ("cluster", pa.int32()),
            ("schema_version", pa.int32()),
        ]
    )
    n = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in _batches(rows):
            columns = list(zip(*(astuple(r) for r in batch), strict=True))
            writer.write_table(
                pa.Table.from_arrays(
                    [pa.array(c, type=schema.field(i).type) for i, c in enumerate(columns)],
                    schema=schema,
                )
            )
            n += len(batch)
        if n == 0:
            writer.write_table(schema.empty_table())
    return n
