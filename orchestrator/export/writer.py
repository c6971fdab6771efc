"""Streamed writers for cleaned-label exports.

Schema (version ``2``), one record per item:

==================  ========  ===========================================================
column              type      meaning
==================  ========  ===========================================================
item_id             string    the dataset's id of the item
original_label      string    the label as imported (the delivered label)
cleaned_label       string    the label after cleaning
source              string    ``original`` | ``model`` | ``crowd`` | ``propagated``
confidence          float     belief in ``cleaned_label``, 0..1 (model posterior, crowd
                              posterior, or propagation confidence)
vote_counts         string    JSON object label → number of crowd votes (``{}`` if none)
n_workers           int       workers who answered about this item
round               int       round that set the label (-1 for original / model)
cluster             int       latent cluster of the item in the last round (-1 if none)
p_label_wrong       float     probability, 0..1, that ``original_label`` is wrong:
                              ``1 - p(y = original_label | evidence)``; null (empty in
                              CSV) where there is no evidence (no model was fitted)
schema_version      int       ``2``
==================  ========  ===========================================================

``p_label_wrong`` (new in version 2) is about the delivered label, ``1 - confidence`` about the
cleaned one. Version 2 only appends ``p_label_wrong`` before ``schema_version``: the first nine
columns keep their names, types and positions, so a reader of version 1 that selects columns by
name reads version 2 unchanged (``schema_version`` tells the two apart; version 1 files have no
``p_label_wrong``).

Rows are consumed in chunks (lists of :class:`ExportRow`) and encoded chunk by chunk
(:func:`iter_export_bytes`): CSV and JSONL as lines, Parquet as one row group per chunk through
``pyarrow.parquet.ParquetWriter``. An export of any size therefore needs memory for one chunk
only. :func:`write_export` writes those bytes to a temporary name and renames the file when it
is complete; the HTTP API streams the same bytes as the response body.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from itertools import islice
from operator import attrgetter
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 2
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
    # Defaulted (None: no evidence) so that rows built positionally for version 1 still build.
    p_label_wrong: float | None = None
    schema_version: int = SCHEMA_VERSION


EXPORT_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ExportRow))
#: A row as a flat tuple in column order (``dataclasses.astuple`` deep-copies every field:
#: an order of magnitude slower on a million rows).
astuple = attrgetter(*EXPORT_COLUMNS)


def _batches(rows: Iterable[ExportRow]) -> Iterator[list[ExportRow]]:
    it = iter(rows)
    while batch := list(islice(it, _BATCH)):
        yield batch


def write_export(rows: Iterable[ExportRow], path: Path, fmt: ExportFormat | None = None) -> int:
    """Write ``rows`` to ``path`` (format from ``fmt`` or the suffix); returns the row count."""
    path = Path(path)
    fmt = fmt or format_from_suffix(path)
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {EXPORT_FORMATS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    counter = _Counter(_batches(rows))
    try:
        with tmp.open("wb") as fh:
            for block in iter_export_bytes(counter, fmt):
                fh.write(block)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counter.n


class _Counter:
    """Passes chunks through and counts their rows."""

    def __init__(self, chunks: Iterable[Sequence[ExportRow]]) -> None:
        self._chunks = chunks
        self.n = 0

    def __iter__(self) -> Iterator[Sequence[ExportRow]]:
        for chunk in self._chunks:
            self.n += len(chunk)
            yield chunk


def format_from_suffix(path: Path) -> ExportFormat:
    """The format named by a file's suffix: ``.csv``, ``.jsonl`` / ``.ndjson``, ``.parquet``."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "csv":
        return "csv"
    if suffix in ("jsonl", "ndjson"):
        return "jsonl"
    if suffix == "parquet":
        return "parquet"
    raise ValueError(f"cannot tell the export format from {path.name!r}; use {EXPORT_FORMATS}")


_format_from_suffix = format_from_suffix

#: HTTP media type of each format.
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}


def iter_export_bytes(chunks: Iterable[Sequence[ExportRow]], fmt: ExportFormat) -> Iterator[bytes]:
    """Encode chunks of rows as ``fmt``, yielding the file's bytes block by block.

    The concatenation of the blocks is a complete file. Memory: one chunk and its encoding.
    """
    if fmt == "csv":
        yield from _csv_bytes(chunks)
    elif fmt == "jsonl":
        yield from _jsonl_bytes(chunks)
    elif fmt == "parquet":
        yield from _parquet_bytes(chunks)
    else:
        raise ValueError(f"unknown export format {fmt!r}; use one of {EXPORT_FORMATS}")


def _csv_bytes(chunks: Iterable[Sequence[ExportRow]]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(EXPORT_COLUMNS)
    yield buf.getvalue().encode("utf-8")
    for chunk in chunks:
        buf.seek(0)
        buf.truncate()
        writer.writerows(astuple(r) for r in chunk)
        yield buf.getvalue().encode("utf-8")


def _jsonl_bytes(chunks: Iterable[Sequence[ExportRow]]) -> Iterator[bytes]:
    for chunk in chunks:
        yield "".join(
            json.dumps(dict(zip(EXPORT_COLUMNS, astuple(r), strict=True))) + "\n" for r in chunk
        ).encode("utf-8")


class _Drain(io.RawIOBase):
    """A write-only stream that hands out what was written since the last drain.

    ``tell`` keeps counting across drains: the Parquet writer records absolute offsets in
    the footer.
    """

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self._parts.append(data)
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def parquet_schema() -> Any:
    """The pyarrow schema of an export (version :data:`SCHEMA_VERSION`)."""
    import pyarrow as pa

    return pa.schema(
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
            ("p_label_wrong", pa.float64()),  # nullable: null where no model was fitted
            ("schema_version", pa.int32()),
        ]
    )


def _parquet_bytes(chunks: Iterable[Sequence[ExportRow]]) -> Iterator[bytes]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    sink = _Drain()
    n = 0
    writer = pq.ParquetWriter(sink, schema)
    try:
        for chunk in chunks:
            if not chunk:
                continue
            columns = list(zip(*(astuple(r) for r in chunk), strict=True))
            writer.write_table(
                pa.Table.from_arrays(
                    [pa.array(c, type=schema.field(i).type) for i, c in enumerate(columns)],
                    schema=schema,
                )
            )
            n += len(chunk)
            if block := sink.drain():
                yield block
        if n == 0:
            writer.write_table(schema.empty_table())
    finally:
        writer.close()
    yield sink.drain()
