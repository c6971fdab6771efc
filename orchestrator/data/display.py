"""What a worker is shown of a tabular or vector item: a table of the item's named values.

An item with no text and no image would otherwise reach the worker as a bare id, which nobody
can judge. At import, the values to show are chosen and stored with the items (so the HIT can
be rendered later, on any host, from the database alone):

* ``display_columns`` mapped by the operator (``--display-col``, repeatable): those columns, in
  that order, each value in full (a HIT too large for MTurk is refused by the HIT-size rule);
* otherwise, for items with neither text nor image, every other column of the file in file
  order, except the id, the label, the gold label and the validation flag (a worker shown the
  gold label would only copy it), at most :data:`MAX_DEFAULT_FIELDS` columns, each value cut
  to :data:`MAX_DEFAULT_VALUE_CHARS` characters;
* a vector column with nothing else to show: its first :data:`MAX_DEFAULT_FIELDS` entries,
  named ``vector[0]``, ``vector[1]``, …;
* nothing when the features are square grey pixels: the worker sees them drawn as an image.

Values are shown as the file holds them (CSV cells verbatim; JSONL and Parquet numbers at six
significant digits). Refused, with row and column named: a character no HIT can carry (the rule
of :mod:`orchestrator.data.text`), and a list or object in a mapped display column.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from orchestrator.data.dataset import DisplayTable
from orchestrator.data.errors import DatasetError
from orchestrator.data.feature_matrix import one_value
from orchestrator.data.text import first_unusable_char
from orchestrator.db.models import FeatureKind

if TYPE_CHECKING:
    from orchestrator.data.importer import ColumnMapping

#: Columns of the default table (the operator's ``display_columns`` are not capped).
MAX_DEFAULT_FIELDS = 40
#: Characters of one value in the default table; a longer value ends in "…".
MAX_DEFAULT_VALUE_CHARS = 300


def format_value(value: Any) -> str:
    """One cell as the worker reads it: text as is, numbers compact, empty for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating):
        return str(int(value)) if float(value).is_integer() else format(float(value), ".6g")
    if isinstance(value, list | tuple | dict | np.ndarray):
        raw = value.tolist() if isinstance(value, np.ndarray) else value
        return json.dumps(raw, ensure_ascii=False, default=str)
    return str(value)


def _cut(text: str) -> str:
    if len(text) <= MAX_DEFAULT_VALUE_CHARS:
        return text
    return text[: MAX_DEFAULT_VALUE_CHARS - 1] + "…"


def _column_values(
    frame: pd.DataFrame, column: str, rows: np.ndarray, source: str, *, mapped: bool
) -> tuple[str, ...]:
    out: list[str] = []
    for value, row in zip(frame[column].tolist(), rows, strict=True):
        if mapped:
            one_value(value, source=source, row=int(row), column=column)
        text = format_value(value)
        bad = first_unusable_char(text)
        if bad is not None:
            raise DatasetError(
                f"display value contains a {bad[1]}; remove it (it cannot be shown in a HIT)",
                source=source,
                row=int(row),
                column=column,
            )
        out.append(text if mapped else _cut(text))
    return tuple(out)


def _role_columns(mapping: ColumnMapping) -> set[str]:
    return {
        mapping.id_column,
        mapping.label_column,
        "__line__",
        *mapping.optional_role_columns(),
    }


def _vector_table(features: np.ndarray, name: str) -> DisplayTable:
    d = int(features.shape[1])
    shown = min(d, MAX_DEFAULT_FIELDS)
    columns = tuple(f"{name}[{j}]" for j in range(shown))
    values = tuple(tuple(format_value(float(v)) for v in row[:shown]) for row in features)
    return DisplayTable(columns, values, omitted=d - shown)


def _square_pixels(features: np.ndarray, kind: FeatureKind) -> bool:
    side = round(math.sqrt(features.shape[1]))
    return kind == FeatureKind.PIXELS and side * side == features.shape[1] and side > 1


def read_display(
    frame: pd.DataFrame,
    mapping: ColumnMapping,
    rows: np.ndarray,
    source: str,
    *,
    features: np.ndarray,
    kind: FeatureKind,
) -> DisplayTable | None:
    """The table shown for each item (see the module docstring), or None when the item's text,
    image or pixels are shown instead.

    Args:
        frame: the file's rows, as read.
        rows: (n,) 1-based file row of each frame row, for error messages.
        features: (n, d) the feature matrix already built (its entries are the vector's table).
    """
    if mapping.display_columns:
        columns = tuple(mapping.display_columns)
        cells = [_column_values(frame, c, rows, source, mapped=True) for c in columns]
        return DisplayTable(columns, tuple(zip(*cells, strict=True)))
    if mapping.text_column is not None or mapping.image_column is not None:
        return None
    if mapping.feature_columns and _square_pixels(features, kind):
        return None
    roles = _role_columns(mapping)
    others = [str(c) for c in frame.columns if str(c) not in roles]
    if not others:
        if mapping.vector_column is None or _square_pixels(features, kind):
            return None
        return _vector_table(features, mapping.vector_column)
    shown = others[:MAX_DEFAULT_FIELDS]
    cells = [_column_values(frame, c, rows, source, mapped=False) for c in shown]
    return DisplayTable(
        tuple(shown), tuple(zip(*cells, strict=True)), omitted=len(others) - len(shown)
    )
