"""The feature matrix of an import, built from the mapped columns and checked.

Features come from, in this order: numeric ``feature_columns``; a ``vector_column`` holding a
list of numbers (a JSON array in CSV); otherwise the ``text_column`` as bag-of-words counts;
otherwise the images at ``image_column`` as 28×28 grey pixels (extra ``images``; see
:mod:`orchestrator.data.image_column`). Refused, with
row and column named: non-finite values in float32, values outside the declared kind's range
(pixels in [0, 1], counts >= 0), 0 features, 2-D vectors, lists or objects where one value
belongs. Used by :mod:`orchestrator.data.importer`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from orchestrator.data.builtin import bag_of_words
from orchestrator.data.errors import DatasetError
from orchestrator.db.models import FeatureKind

if TYPE_CHECKING:
    from orchestrator.data.importer import ColumnMapping


def one_value(value: Any, *, source: str, row: int, column: str) -> Any:
    """``value``, or DatasetError when it is a list or an object where one value belongs."""
    if isinstance(value, list | tuple | dict | np.ndarray):
        kind = "an object" if isinstance(value, dict) else "a list"
        raise DatasetError(f"expected one value, got {kind}", source=source, row=row, column=column)
    return value


def _feature_column_name(mapping: ColumnMapping, j: int) -> str | None:
    if mapping.feature_columns:
        return mapping.feature_columns[j]
    return mapping.vector_column or mapping.text_column or mapping.image_column


def check_features(
    x: np.ndarray, kind: FeatureKind, mapping: ColumnMapping, rows: np.ndarray, source: str
) -> None:
    """0 features, non-finite values (float32 overflow included) or values outside the
    declared kind's range (pixels in [0, 1], counts >= 0) are refused, the first one named."""
    if x.ndim != 2 or x.shape[1] == 0:
        what = (
            f"text column {mapping.text_column!r} yields no word to count"
            if mapping.text_column is not None
            and not mapping.feature_columns
            and mapping.vector_column is None
            else "the features have no column"
        )
        raise DatasetError(
            f"0 features: {what}; the model needs at least one feature",
            source=source,
            column=_feature_column_name(mapping, 0),
        )
    checks: list[tuple[np.ndarray, str]] = [(~np.isfinite(x), _TOO_BIG)]
    if kind == FeatureKind.PIXELS:
        checks.append(((x < 0) | (x > 1), "is outside [0, 1], the range of --kind pixels"))
    elif kind == FeatureKind.COUNTS:
        checks.append((x < 0, "is negative; --kind counts needs counts >= 0"))
    for bad, why in checks:
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            where = "" if mapping.feature_columns else f" (entry {j})"
            raise DatasetError(
                f"feature value {float(x[i, j])!r}{where} {why}",
                source=source,
                row=int(rows[i]),
                column=_feature_column_name(mapping, j),
            )


def build_features(
    frame: pd.DataFrame,
    mapping: ColumnMapping,
    rows: np.ndarray,
    source: str,
    texts: tuple[str, ...] | None,
    image_features: Callable[[], np.ndarray] | None,
) -> tuple[np.ndarray, FeatureKind]:
    """(n, d) float32 features and their kind, from the first mapped source of the module
    docstring's order. ``image_features`` is called (images read or downloaded) only when the
    images are that source."""
    if mapping.feature_columns:
        x = np.empty((len(frame), len(mapping.feature_columns)), dtype=np.float32)
        for j, col in enumerate(mapping.feature_columns):
            x[:, j] = _numeric_column(frame[col], rows, source, col)
        return x, mapping.feature_kind or infer_kind(x)
    if mapping.vector_column is not None:
        x = _vector_column(frame[mapping.vector_column], rows, source, mapping.vector_column)
        return x, mapping.feature_kind or infer_kind(x)
    if texts is not None:
        counts, _ = bag_of_words(list(texts), mapping.vocabulary_size)
        return counts, FeatureKind.COUNTS
    if image_features is not None:
        return image_features(), FeatureKind.PIXELS
    raise DatasetError(
        "no features: map feature columns, a vector column, a text column or an image column",
        source=source,
    )


_FLOAT32_MAX = float(np.finfo(np.float32).max)
_TOO_BIG = "is not finite as a 32-bit float (at most about 3.4e38)"


def _numeric_column(series: pd.Series, rows: np.ndarray, source: str, col: str) -> np.ndarray:
    for value, row in zip(series.tolist(), rows, strict=True):
        one_value(value, source=source, row=int(row), column=col)
    values = pd.to_numeric(series.replace("", np.nan), errors="coerce").to_numpy(dtype=np.float64)
    # The first check that fails names its first bad value.
    checks = [
        (~np.isfinite(values), "is not a finite number"),
        (np.abs(values) > _FLOAT32_MAX, _TOO_BIG),
    ]
    for bad, why in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DatasetError(
                f"feature value {series.iloc[i]!r} {why}",
                source=source,
                row=int(rows[i]),
                column=col,
            )
    return values.astype(np.float32)


def _vector_cell(value: Any, row: int, source: str, col: str) -> Any:
    """One vector cell as a Python list (a JSON string is decoded); refused when it nests."""
    vec = value
    if isinstance(vec, str):
        try:
            vec = json.loads(vec)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"vector is not a JSON list of numbers: {exc.msg}",
                source=source,
                row=row,
                column=col,
            ) from exc
        except RecursionError:
            raise DatasetError(
                "vector nested too deeply to read; it must be a flat list of numbers",
                source=source,
                row=row,
                column=col,
            ) from None
    if isinstance(vec, np.ndarray):
        vec = vec.tolist()
    if isinstance(vec, list) and any(isinstance(v, list | tuple | dict | np.ndarray) for v in vec):
        raise DatasetError(
            "vector must be a flat list of numbers (this one nests lists or objects: "
            "2-D vectors are not features)",
            source=source,
            row=row,
            column=col,
        )
    return vec


def _vector_column(series: pd.Series, rows: np.ndarray, source: str, col: str) -> np.ndarray:
    vectors: list[np.ndarray] = []
    width: int | None = None
    for value, row in zip(series.tolist(), rows, strict=True):
        vec = _vector_cell(value, int(row), source, col)
        if not isinstance(vec, list) or not vec:
            raise DatasetError(
                "vector must be a non-empty list of numbers",
                source=source,
                row=int(row),
                column=col,
            )
        if width is None:
            width = len(vec)
        elif len(vec) != width:
            raise DatasetError(
                f"ragged vector: length {len(vec)}, expected {width} like the first row",
                source=source,
                row=int(row),
                column=col,
            )
        try:
            arr = np.asarray(vec, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DatasetError(
                "vector holds a non-numeric entry", source=source, row=int(row), column=col
            ) from exc
        if not np.isfinite(arr).all():
            raise DatasetError(
                "vector holds NaN or infinity", source=source, row=int(row), column=col
            )
        if (np.abs(arr) > _FLOAT32_MAX).any():
            j = int(np.flatnonzero(np.abs(arr) > _FLOAT32_MAX)[0])
            raise DatasetError(
                f"vector entry {j} ({arr[j]!r}) {_TOO_BIG}",
                source=source,
                row=int(row),
                column=col,
            )
        vectors.append(arr)
    return np.asarray(vectors, dtype=np.float32)


def infer_kind(x: np.ndarray) -> FeatureKind:
    if x.size and x.min() >= 0.0 and x.max() <= 1.0:
        return FeatureKind.PIXELS
    if x.size and x.min() >= 0.0 and np.array_equal(x, np.round(x)):
        return FeatureKind.COUNTS
    return FeatureKind.CONTINUOUS
