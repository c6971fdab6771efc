"""A dataset from in-memory arrays (the Python API's input), checked like an import.

Features: array-like of shape (n, d) — a numpy array, a pandas DataFrame of numeric columns,
nested lists, or a scipy sparse matrix (densified). Arrays of more dimensions (images
(n, h, w)) are flattened per item. Every value must be finite as a 32-bit float. The feature
kind is inferred as an import infers it (:func:`orchestrator.data.feature_matrix.infer_kind`:
all values in [0, 1] → pixels, non-negative integers → counts, else continuous) unless given,
and a given kind's range is checked (pixels in [0, 1], counts >= 0).

Labels: (n,) ints or strings (a numpy array, a pandas Series, a list), no missing value, one
type for all. The class set is ``classes`` when given (a label outside it is an error), else the
categories of a categorical Series, else the distinct labels in the importer's order
(numerically when every label is a number). Every problem raises ``ValueError`` naming it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from orchestrator.data.dataset import UNKNOWN, LabeledData
from orchestrator.data.feature_matrix import infer_kind
from orchestrator.data.importer import sort_classes
from orchestrator.db.models import FeatureKind

FEATURE_KINDS: tuple[str, ...] = ("auto", *(k.value for k in FeatureKind))
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class ArrayDataset:
    """The dataset built from arrays, and what is needed to answer in the caller's terms.

    Attributes:
        data: the dataset (ids are the positions ``"0"`` … ``"n-1"``; no gold).
        class_values: (K,) the caller's class values; index ``k`` is ``data.classes[k]``.
        given: (n,) the labels exactly as passed (their dtype kept).
        index: the rows' index for a result frame (the labels' or the features' pandas index,
            else ``RangeIndex(n)``).
    """

    data: LabeledData
    class_values: list[Any]
    given: npt.NDArray[Any]
    index: pd.Index


def dataset_from_arrays(
    features: Any,
    labels: Any,
    *,
    classes: Sequence[Any] | None = None,
    feature_kind: str | FeatureKind = "auto",
    name: str = "arrays",
) -> ArrayDataset:
    """Check ``features`` (n, d) and ``labels`` (n,), build the dataset; ``ValueError`` if bad."""
    x, column_names = _feature_matrix(features)
    kind = _feature_kind(x, feature_kind, column_names)
    series = _label_series(labels)
    n = x.shape[0]
    if len(series) != n:
        raise ValueError(
            f"features have {n} rows but labels have {len(series)} entries; pass one label per row"
        )
    index = _row_index(features, labels, n)
    class_values = _class_values(series, classes)
    names = [str(v) for v in class_values]
    if len(set(names)) != len(names):
        raise ValueError(f"classes {class_values!r} repeat a name once written as text")
    position = {v: k for k, v in enumerate(class_values)}
    values = series.tolist()
    noisy = np.empty(n, dtype=np.int64)
    for i, v in enumerate(values):
        k = position.get(v)
        if k is None:
            raise ValueError(f"label {v!r} at position {i} is not one of the classes {names}")
        noisy[i] = k
    if len(np.unique(noisy)) < 2:
        raise ValueError(
            f"labels hold a single class ({values[0]!r}): at least two classes must occur to "
            "tell a wrong label from a right one"
        )
    data = LabeledData(
        ids=np.arange(n).astype(np.str_),
        features=x,
        feature_kind=kind,
        noisy_labels=noisy,
        classes=tuple(names),
        gold=np.full(n, UNKNOWN, dtype=np.int64),
        validation=np.zeros(n, dtype=np.bool_),
        name=name,
    )
    return ArrayDataset(data, class_values, series.to_numpy(), index)


def _raw_features(features: Any) -> tuple[Any, list[str] | None]:
    """The features as something numpy can read, and a DataFrame's column names (else None)."""
    if isinstance(features, pd.DataFrame):
        for c in features.columns:
            if not pd.api.types.is_numeric_dtype(features[c]):
                raise ValueError(
                    f"features column {c!r} is not numeric (dtype {features[c].dtype}); encode "
                    "it as numbers first"
                )
        names = [str(c) for c in features.columns]
        return features.to_numpy(dtype=np.float64, na_value=np.nan), names
    if hasattr(features, "toarray"):  # scipy.sparse: the model reads dense rows anyway
        return features.toarray(), None
    return features, None


def _feature_matrix(features: Any) -> tuple[npt.NDArray[np.float32], list[str] | None]:
    """(n, d) float32 features and the column names of a DataFrame (None otherwise)."""
    raw, column_names = _raw_features(features)
    try:
        x = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"features must be numbers of shape (n_items, n_features): {exc}"
        ) from None
    if x.ndim > 2:
        x = x.reshape(x.shape[0], -1)  # images (n, h, w[, c]) become one row per item
    if x.ndim != 2:
        raise ValueError(
            f"features must be 2-D (n_items, n_features), got shape {x.shape}; for a single "
            "feature pass features.reshape(-1, 1)"
        )
    if x.shape[0] == 0:
        raise ValueError("features have no rows: there is nothing to clean")
    if x.shape[1] == 0:
        raise ValueError("features have 0 columns; the model needs at least one feature")
    bad = ~np.isfinite(x)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(
            f"features hold {float(x[i, j])!r} at row {i}, {_column(j, column_names)}; every "
            "value must be a finite number (impute or drop missing values first)"
        )
    big = np.abs(x) > _FLOAT32_MAX
    if big.any():
        i, j = (int(v) for v in np.argwhere(big)[0])
        raise ValueError(
            f"features hold {float(x[i, j])!r} at row {i}, {_column(j, column_names)}, which "
            "is not finite as a 32-bit float (at most about 3.4e38)"
        )
    return np.ascontiguousarray(x, dtype=np.float32), column_names


def _column(j: int, names: list[str] | None) -> str:
    return f"column {names[j]!r}" if names is not None else f"column {j}"


def _feature_kind(
    x: npt.NDArray[np.float32], kind: str | FeatureKind, names: list[str] | None
) -> FeatureKind:
    value = kind.value if isinstance(kind, FeatureKind) else kind
    if value not in FEATURE_KINDS:
        raise ValueError(f"feature_kind must be one of {', '.join(FEATURE_KINDS)}; got {kind!r}")
    if value == "auto":
        return infer_kind(x)
    chosen = FeatureKind(value)
    out_of_range = None
    if chosen == FeatureKind.PIXELS:
        out_of_range = (x < 0) | (x > 1)
    elif chosen == FeatureKind.COUNTS:
        out_of_range = x < 0
    if out_of_range is not None and out_of_range.any():
        i, j = (int(v) for v in np.argwhere(out_of_range)[0])
        need = "in [0, 1]" if chosen == FeatureKind.PIXELS else ">= 0"
        raise ValueError(
            f"feature_kind {value!r} needs values {need}; row {i}, {_column(j, names)} holds "
            f"{float(x[i, j])!r}"
        )
    return chosen


def _label_series(labels: Any) -> pd.Series:
    if isinstance(labels, pd.DataFrame):
        raise ValueError("labels must be one column (a Series or 1-D array), got a DataFrame")
    if isinstance(labels, pd.Series):
        series = labels
    else:
        arr = np.asarray(labels, dtype=object)
        if arr.ndim != 1:
            raise ValueError(f"labels must be 1-D (n_items,), got shape {arr.shape}")
        series = pd.Series(arr, dtype=object)
    missing = series.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ValueError(f"labels hold a missing value ({series.iloc[i]!r}) at position {i}")
    kinds = {_label_type(v) for v in series.tolist()}
    if len(kinds) > 1:
        raise ValueError("labels mix numbers and text (e.g. 1 and '1'); pass them all as one type")
    return series


def _label_type(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, numbers.Number):
        return "number"
    if isinstance(value, str):
        return "text"
    raise ValueError(f"labels must be numbers or strings, got {type(value).__name__} {value!r}")


def _class_values(series: pd.Series, classes: Sequence[Any] | None) -> list[Any]:
    if classes is not None:
        declared = list(classes)
        if len(declared) < 2:
            raise ValueError(f"classes must name at least two classes, got {declared!r}")
        if len(set(declared)) != len(declared):
            raise ValueError(f"classes repeat a value: {declared!r}")
        return declared
    if isinstance(series.dtype, pd.CategoricalDtype):
        return list(series.cat.categories)  # the categorical's own class set and order
    distinct = {v for v in series.tolist()}
    by_name: dict[str, Any] = {str(v): v for v in distinct}
    return [by_name[s] for s in sort_classes(set(by_name))]


def _row_index(features: Any, labels: Any, n: int) -> pd.Index:
    f_index = features.index if isinstance(features, pd.DataFrame) else None
    l_index = labels.index if isinstance(labels, pd.Series) else None
    if f_index is not None and l_index is not None and not f_index.equals(l_index):
        raise ValueError(
            "features and labels have different indexes; align them first "
            "(e.g. labels.loc[features.index]) rather than have rows paired by position"
        )
    index = l_index if l_index is not None else f_index
    return index if index is not None else pd.RangeIndex(n)
