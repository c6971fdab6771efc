"""Import an operator's dataset file (CSV, JSONL or Parquet) with a column mapping.

Everything is validated before anything is written; an error names the file, the row (1-based
data row, header excluded; for JSONL the line) and the column, and nothing is imported.

The feature matrix is built and checked by :mod:`orchestrator.data.feature_matrix`, the HIT
size rule by :mod:`orchestrator.data.hit_size`.

Refused, with row and column named (see :func:`frame_to_dataset`): control characters,
Unicode noncharacters and lone surrogates in ids, labels, gold labels and texts (the rule of
:mod:`orchestrator.data.text`); lists or objects where one value is expected; ids longer than
the database column (:data:`MAX_ID_CHARS`) or too long for the HIT annotation once escaped;
features that are not finite in float32, outside the declared kind's range (pixels in [0, 1],
counts >= 0) or absent (0 features); 2-D vectors; reserved (``__line__``) or repeated column
names; JSON nested deeper than Python can parse.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from orchestrator.data.dataset import UNKNOWN, LabeledData
from orchestrator.data.display import read_display
from orchestrator.data.errors import DatasetError
from orchestrator.data.feature_matrix import build_features, check_features, one_value
from orchestrator.data.hit_size import check_hit_size
from orchestrator.data.image_column import ImageImportOptions, image_pixels, read_image_column
from orchestrator.data.text import first_unusable_char
from orchestrator.db.models import FeatureKind, Item

#: Column names the importer uses itself (the JSONL line number), refused in a file.
RESERVED_COLUMNS = frozenset({"__line__"})
#: Longest id the database stores (``Item.external_id``).
MAX_ID_CHARS: int = Item.model_fields["external_id"].metadata[0].max_length

SUPPORTED_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


@dataclass(frozen=True)
class ColumnMapping:
    """Which column holds what. Only ``id_column`` and ``label_column`` are required.

    Attributes:
        classes: the declared class set; a label outside it is an error. Default: the sorted
            set of noisy labels (numbers sorted numerically).
        feature_kind: the data likelihood; default inferred (all values in [0, 1] → pixels,
            non-negative integers → counts, else continuous).
        display_columns: columns shown to workers as a table of named values, in this order
            (default: see :mod:`orchestrator.data.display`).
    """

    id_column: str = "id"
    label_column: str = "label"
    text_column: str | None = None
    feature_columns: tuple[str, ...] = ()
    vector_column: str | None = None
    image_column: str | None = None
    display_columns: tuple[str, ...] = ()
    gold_column: str | None = None
    validation_column: str | None = None
    classes: tuple[str, ...] | None = None
    feature_kind: FeatureKind | None = None
    vocabulary_size: int = 2000
    extra: dict[str, Any] = field(default_factory=dict)

    def optional_role_columns(self) -> list[str]:
        """The mapped one-column roles other than id and label: text, vector, image, gold,
        validation (in that order, the unmapped ones left out)."""
        optional = (
            self.text_column,
            self.vector_column,
            self.image_column,
            self.gold_column,
            self.validation_column,
        )
        return [c for c in optional if c is not None]

    def required_columns(self) -> list[str]:
        """Every mapped column, in the order a file missing several names the first."""
        return [
            self.id_column,
            self.label_column,
            *self.feature_columns,
            *self.display_columns,
            *self.optional_role_columns(),
        ]


def read_dataset_file(
    path: Path,
    mapping: ColumnMapping,
    *,
    name: str | None = None,
    images: ImageImportOptions | None = None,
) -> LabeledData:
    """Read and validate ``path``; raise :class:`DatasetError` on the first problem found.

    ``images``: how the image column is read (default: the strict defaults of
    :class:`~orchestrator.data.image_column.ImageImportOptions`)."""
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise DatasetError("file not found", source=src)
    fmt = SUPPORTED_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DatasetError(
            f"unsupported file type {path.suffix!r}; use one of {sorted(SUPPORTED_SUFFIXES)}",
            source=src,
        )
    raw = path.read_bytes()
    if not raw.strip():
        raise DatasetError("file is empty", source=src)
    if fmt == "parquet":
        frame = _read_parquet(raw, src)
        _refuse_reserved(frame, src)
    else:
        text = _decode(raw, src, header_lines=1 if fmt == "csv" else 0)
        if fmt == "csv":
            frame = _read_csv(text, src)
            _refuse_reserved(frame, src)
        else:
            frame = _read_jsonl(text, src)
    if frame.empty:
        raise DatasetError("file has a header but no data rows", source=src)
    return frame_to_dataset(frame, mapping, source=src, name=name or path.stem, images=images)


def _decode(raw: bytes, src: str, *, header_lines: int) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetError(
            f"bytes {raw[exc.start : exc.end]!r} at byte offset {exc.start} (line {line}) are not "
            "valid UTF-8; re-save the file as UTF-8",
            source=src,
            row=max(line - header_lines, 1) if header_lines else line,
        ) from exc


def _read_csv(text: str, src: str) -> pd.DataFrame:
    try:
        header = next(csv.reader(io.StringIO(text)), [])
    except csv.Error:
        header = []  # pandas names the problem below
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DatasetError(
                "the header names this column twice; give every column its own name",
                source=src,
                column=name,
            )
        seen.add(name)
    try:
        return pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True
        )
    except pd.errors.EmptyDataError as exc:
        raise DatasetError("file has no header row", source=src) from exc
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+)", str(exc))
        row = int(match.group(1)) - 1 if match else None
        raise DatasetError(f"malformed CSV: {exc}", source=src, row=row) from exc


def _read_jsonl(text: str, src: str) -> pd.DataFrame:
    records: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        obj = _json_object(line, src, lineno)
        obj["__line__"] = lineno
        records.append(obj)
    if not records:
        raise DatasetError("file holds no JSON objects", source=src)
    return pd.DataFrame.from_records(records)


def _json_object(line: str, src: str, lineno: int) -> dict[str, Any]:
    """One JSONL line as an object whose keys and values pandas can hold (DatasetError else)."""
    try:
        obj = json.loads(line, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"invalid JSON: {exc.msg}", source=src, row=lineno) from exc
    except RecursionError:
        raise DatasetError(
            "JSON value nested too deeply to read; flatten it", source=src, row=lineno
        ) from None
    except _DuplicateKeyError as exc:
        raise DatasetError(
            "the object names this key twice", source=src, row=lineno, column=exc.key
        ) from None
    if not isinstance(obj, dict):
        raise DatasetError(
            f"each line must be a JSON object, got {type(obj).__name__}", source=src, row=lineno
        )
    for key, value in obj.items():
        # A lone surrogate (a "\ud800" escape) is no text: pandas cannot even hold it.
        for what, text in (("key", key), ("value", value)):
            if isinstance(text, str) and _SURROGATE.search(text):
                bad = first_unusable_char(text)
                raise DatasetError(
                    f"{what} contains a {bad[1] if bad else 'lone surrogate'}; JSON text "
                    "must not hold unpaired \\ud800-\\udfff escapes",
                    source=src,
                    row=lineno,
                    column=key if what == "value" else None,
                )
    for key in RESERVED_COLUMNS & obj.keys():
        raise DatasetError("reserved column name; rename it", source=src, row=lineno, column=key)
    return obj


_SURROGATE = re.compile("[\ud800-\udfff]")


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _refuse_reserved(frame: pd.DataFrame, src: str) -> None:
    for col in frame.columns:
        if str(col) in RESERVED_COLUMNS:
            raise DatasetError("reserved column name; rename it", source=src, column=str(col))


def _read_parquet(raw: bytes, src: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(raw))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(f"not a readable Parquet file: {exc}", source=src) from exc
    names = [str(n) for n in table.column_names]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise DatasetError(
                "the file names this column twice; give every column its own name",
                source=src,
                column=n,
            )
    return table.to_pandas()


def _row_numbers(frame: pd.DataFrame) -> np.ndarray:
    if "__line__" in frame.columns:
        return frame["__line__"].to_numpy(dtype=np.int64)
    return np.arange(1, len(frame) + 1, dtype=np.int64)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _as_label(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _usable(text: str, *, what: str, source: str, row: int | None, column: str) -> str:
    """``text``, or DatasetError naming the first character no HIT can carry."""
    bad = first_unusable_char(text)
    if bad is not None:
        raise DatasetError(
            f"{what} contains a {bad[1]}; remove it (it cannot be shown in a HIT)",
            source=source,
            row=row,
            column=column,
        )
    return text


def _text_values(
    frame: pd.DataFrame, rows: np.ndarray, source: str, column: str, what: str
) -> list[Any]:
    """The column's values, each one value (not a list or an object) with usable text."""
    values: list[Any] = frame[column].tolist()
    nested = [isinstance(v, list | tuple | dict | np.ndarray) for v in values]
    if any(nested):
        i = nested.index(True)
        one_value(values[i], source=source, row=int(rows[i]), column=column)
    strings = [v if isinstance(v, str) else "" for v in values]
    # One scan of the joined column ("\n" is allowed), then the row, only when something is bad.
    if first_unusable_char("\n".join(strings)) is not None:
        for i, text in enumerate(strings):
            _usable(text, what=what, source=source, row=int(rows[i]), column=column)
    return values


def _plain_short(key: str) -> bool:
    """An id that JSON sends unescaped and that fits the HIT annotation without a check."""
    return (
        len(key) <= 120 and key.isascii() and key.isprintable() and not ('"' in key or "\\" in key)
    )


def sort_classes(values: set[str]) -> tuple[str, ...]:
    """The default class order: numerically when every name is a number, else by name."""
    try:
        return tuple(sorted(values, key=lambda v: (float(v), v)))
    except ValueError:
        return tuple(sorted(values))


def frame_to_dataset(
    frame: pd.DataFrame,
    mapping: ColumnMapping,
    *,
    source: str,
    name: str,
    images: ImageImportOptions | None = None,
) -> LabeledData:
    """Validate a loaded frame against ``mapping`` and build the dataset.

    Columns are checked in a fixed order (ids, labels, classes, gold, validation, text,
    images, features), so a file with several problems always reports the same first one.
    """
    rows = _row_numbers(frame)
    available = [c for c in frame.columns if c != "__line__"]
    for col in mapping.required_columns():
        if col not in frame.columns:
            raise DatasetError(
                f"missing column; the file has {available}", source=source, column=col
            )
    ids = _read_ids(frame, mapping, rows, source)
    labels = _read_labels(frame, mapping, rows, source)
    classes = _resolve_classes(labels, mapping, source)
    index = {c: k for k, c in enumerate(classes)}
    noisy = _encode_labels(labels, index, rows, source, column=mapping.label_column)
    gold = _read_gold(frame, mapping, rows, source, index)
    validation = _read_validation(frame, mapping, rows, source, gold)
    texts = None
    if mapping.text_column is not None:
        text_values = _text_values(frame, rows, source, mapping.text_column, "text")
        texts = tuple("" if _is_missing(v) else str(v) for v in text_values)
    opts = images or ImageImportOptions()
    image_col = None
    if mapping.image_column is not None:
        image_col = read_image_column(
            frame, mapping.image_column, rows, source, opts.settings, local_files=opts.local_files
        )

    def pixels() -> np.ndarray:
        assert image_col is not None
        return image_pixels(image_col, opts.settings, source, s3_reader=opts.s3_reader)

    features, kind = build_features(
        frame, mapping, rows, source, texts, pixels if image_col is not None else None
    )
    check_features(features, kind, mapping, rows, source)
    display = read_display(frame, mapping, rows, source, features=features, kind=kind)
    inline = image_col if opts.settings.bucket_url is None else None
    check_hit_size(
        ids, labels, classes, texts, mapping, rows, source, display=display, inline_images=inline
    )
    return LabeledData(
        ids=np.asarray(ids, dtype=np.str_),
        features=features,
        feature_kind=kind,
        noisy_labels=noisy,
        classes=classes,
        gold=gold,
        validation=validation,
        texts=texts,
        image_paths=image_col.refs if image_col is not None else None,
        name=name,
        display=display,
    )


def _read_ids(
    frame: pd.DataFrame, mapping: ColumnMapping, rows: npt.NDArray[np.int64], source: str
) -> list[str]:
    """The item ids as stored: present, unique, and short enough for the HIT's annotation."""
    from orchestrator.crowd.identity import annotation_fits

    column = mapping.id_column
    ids: list[str] = []
    first_row: dict[str, int] = {}
    for value, row in zip(_text_values(frame, rows, source, column, "id"), rows, strict=True):
        if _is_missing(value):
            raise DatasetError("empty id", source=source, row=int(row), column=column)
        key = _as_label(value)  # its characters were checked by _text_values
        if len(key) > MAX_ID_CHARS:
            raise DatasetError(
                f"id of {len(key)} characters; at most {MAX_ID_CHARS} are stored",
                source=source,
                row=int(row),
                column=column,
            )
        if not _plain_short(key) and not annotation_fits(key):
            raise DatasetError(
                f"id {key[:40]!r}… is too long once escaped for the HIT's 255-character "
                "annotation (non-ASCII characters count 6 each); shorten it, or make it longer "
                "than 120 characters so that it is sent hashed",
                source=source,
                row=int(row),
                column=column,
            )
        if key in first_row:
            raise DatasetError(
                f"duplicate id {key!r} (first seen in row {first_row[key]})",
                source=source,
                row=int(row),
                column=column,
            )
        first_row[key] = int(row)
        ids.append(key)
    return ids


def _read_labels(
    frame: pd.DataFrame, mapping: ColumnMapping, rows: npt.NDArray[np.int64], source: str
) -> list[str]:
    """The delivered label of every row, as a class name (none may be missing)."""
    column = mapping.label_column
    labels: list[str] = []
    for value, row in zip(_text_values(frame, rows, source, column, "label"), rows, strict=True):
        if _is_missing(value):
            raise DatasetError("empty or NaN label", source=source, row=int(row), column=column)
        labels.append(_as_label(value))  # its characters were checked by _text_values
    return labels


def _resolve_classes(labels: list[str], mapping: ColumnMapping, source: str) -> tuple[str, ...]:
    """The declared classes, else the labels seen (:func:`sort_classes`); at least two."""
    for c in mapping.classes or ():
        _usable(
            c, what=f"declared class {c!r}", source=source, row=None, column=mapping.label_column
        )
    classes = mapping.classes if mapping.classes is not None else sort_classes(set(labels))
    if len(classes) < 2:
        raise DatasetError(
            f"need at least two classes, found {list(classes)}",
            source=source,
            column=mapping.label_column,
        )
    if len(set(classes)) != len(classes):
        raise DatasetError(f"declared classes repeat a name: {list(classes)}", source=source)
    return tuple(classes)


def _encode_labels(
    labels: list[str],
    index: dict[str, int],
    rows: npt.NDArray[np.int64],
    source: str,
    *,
    column: str,
) -> npt.NDArray[np.int64]:
    """(n,) class index of each delivered label; a label outside the classes is refused."""
    noisy = np.empty(len(labels), dtype=np.int64)
    for i, (label, row) in enumerate(zip(labels, rows, strict=True)):
        noisy[i] = _class_index(
            label,
            index,
            what="label",
            classes="declared classes",
            source=source,
            row=int(row),
            column=column,
        )
    return noisy


def _class_index(
    label: str,
    index: dict[str, int],
    *,
    what: str,
    classes: str,
    source: str,
    row: int,
    column: str,
) -> int:
    """``label``'s class index; a ``what`` outside the ``classes`` is refused, naming where."""
    try:
        return index[label]
    except KeyError:
        raise DatasetError(
            f"{what} {label!r} is not one of the {classes} {list(index)}",
            source=source,
            row=row,
            column=column,
        ) from None


def _read_gold(
    frame: pd.DataFrame,
    mapping: ColumnMapping,
    rows: npt.NDArray[np.int64],
    source: str,
    index: dict[str, int],
) -> npt.NDArray[np.int64]:
    """(n,) class index of each gold label, ``UNKNOWN`` where there is none."""
    gold = np.full(len(rows), UNKNOWN, dtype=np.int64)
    if mapping.gold_column is None:
        return gold
    values = _text_values(frame, rows, source, mapping.gold_column, "gold label")
    for i, (value, row) in enumerate(zip(values, rows, strict=True)):
        if _is_missing(value):
            continue
        gold[i] = _class_index(
            _as_label(value),
            index,
            what="gold label",
            classes="classes",
            source=source,
            row=int(row),
            column=mapping.gold_column,
        )
    return gold


def _read_validation(
    frame: pd.DataFrame,
    mapping: ColumnMapping,
    rows: npt.NDArray[np.int64],
    source: str,
    gold: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """(n,) validation flags; a validation item needs a gold label."""
    validation = np.zeros(len(rows), dtype=np.bool_)
    col = mapping.validation_column
    if col is None:
        return validation
    for i, (value, row) in enumerate(zip(frame[col].tolist(), rows, strict=True)):
        one_value(value, source=source, row=int(row), column=col)
        flag = _as_flag(value, source=source, row=int(row), column=col)
        if flag and gold[i] == UNKNOWN:
            raise DatasetError(
                "validation item without a gold label"
                + (f" (set {mapping.gold_column!r})" if mapping.gold_column else ""),
                source=source,
                row=int(row),
                column=col,
            )
        validation[i] = flag
    return validation


def _as_flag(value: Any, *, source: str, row: int, column: str) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise DatasetError(
        f"validation flag {value!r} is not one of true/false/1/0/yes/no",
        source=source,
        row=row,
        column=column,
    )


def fingerprint(data: LabeledData) -> str:
    """SHA-256 over ids, labels and features: equal content gives an equal fingerprint."""
    h = hashlib.sha256()
    h.update("\x1f".join(data.ids.tolist()).encode())
    h.update(data.noisy_labels.tobytes())
    h.update(data.gold.tobytes())
    h.update(np.ascontiguousarray(data.features).tobytes())
    h.update("\x1f".join(data.classes).encode())
    return h.hexdigest()
