"""Validation and integer encoding of the answers frame shared by every aggregator.

The answers frame has one row per answer and (at least) the columns

* ``task``   – the item that was asked about (any hashable: int, str …),
* ``worker`` – who answered (MTurk worker id, or a pseudo-worker such as the model),
* ``label``  – the answer (int, str, bool … – every row of one frame the same kind).

Rules applied everywhere (documented once here, referenced from the aggregators):

* a missing column raises ``ValueError`` naming it; extra columns are ignored;
* a missing (NaN/None) ``task`` or ``worker`` raises ``ValueError`` (an answer nobody can
  attribute is a bug upstream, not noise);
* a missing ``label`` means "no answer": the row is dropped; a task whose answers are all
  missing disappears from the output;
* a float label column whose values are all integral (what pandas makes of an int column
  with holes) is turned back into ``int64`` so outputs carry the labels the workers gave;
* duplicate ``(task, worker)`` rows follow the ``duplicates`` policy: ``"last"`` (default,
  keep the most recent resubmission, i.e. the last row in frame order), ``"first"``,
  ``"keep"`` (count every row as a separate vote) or ``"error"`` (raise ``ValueError``);
* tasks, workers and classes are numbered in sorted order of their values (order of first
  appearance when the values cannot be sorted, e.g. mixed ``int``/``str``), so outputs
  are indexed by sorted task / worker; the caller can fix the classes with ``classes``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp

DuplicatePolicy: TypeAlias = Literal["last", "first", "keep", "error"]
IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]

REQUIRED_COLUMNS: tuple[str, str, str] = ("task", "worker", "label")
_DUPLICATE_POLICIES: tuple[str, ...] = ("last", "first", "keep", "error")


@dataclass(frozen=True)
class EncodedAnswers:
    """Answers as integer codes, ready for vectorised arithmetic.

    Attributes:
        task: ``(n_answers,)`` task code of every answer, in ``[0, n_tasks)``.
        worker: ``(n_answers,)`` worker code of every answer, in ``[0, n_workers)``.
        label: ``(n_answers,)`` class code of every answer, in ``[0, n_classes)``.
        tasks: ``(n_tasks,)`` task value of each code.
        workers: ``(n_workers,)`` worker value of each code.
        classes: ``(n_classes,)`` label value of each code.
    """

    task: IntArray
    worker: IntArray
    label: IntArray
    tasks: pd.Index
    workers: pd.Index
    classes: pd.Index

    @property
    def n_answers(self) -> int:
        return int(self.task.shape[0])

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def to_frame(self) -> pd.DataFrame:
        """The cleaned answers (after NaN and duplicate handling) with original values."""
        return pd.DataFrame(
            {
                "task": self.tasks.take(self.task),
                "worker": self.workers.take(self.worker),
                "label": self.classes.take(self.label),
            }
        )


def normalize_label_values(values: pd.Series) -> pd.Series:
    """Return ``values`` with integral floats turned back into ``int64``.

    Args:
        values: ``(n,)`` labels without missing values.
    """
    if pd.api.types.is_float_dtype(values.dtype) and len(values) > 0:
        arr = values.to_numpy(dtype=np.float64)
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return pd.Series(arr.astype(np.int64), index=values.index, name=values.name)
    return values


def check_answers_frame(frame: object) -> pd.DataFrame:
    """Check that ``frame`` is a DataFrame with the three answer columns; return just those."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"answers must be a pandas DataFrame with columns {list(REQUIRED_COLUMNS)}, "
            f"got {type(frame).__name__}"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"answers frame is missing column(s) {missing}; "
            f"it has {[str(c) for c in frame.columns]} (need {list(REQUIRED_COLUMNS)})"
        )
    return frame.loc[:, list(REQUIRED_COLUMNS)]


def _factorize(values: pd.Series, *, sort: bool) -> tuple[IntArray, pd.Index]:
    if sort and len(values) and pd.api.types.is_integer_dtype(values.dtype):
        ints = values.to_numpy(dtype=np.int64)
        lo, hi = int(ints.min()), int(ints.max())
        if hi - lo <= 4 * len(ints) + 1024:
            # Compact integer ids (the usual case for task ids): a bitmap beats hashing.
            present = np.zeros(hi - lo + 1, dtype=bool)
            present[ints - lo] = True
            remap = np.cumsum(present) - 1
            present_ids = pd.Index(np.flatnonzero(present) + lo, dtype=values.dtype)
            return remap[ints - lo].astype(np.int64), present_ids
    try:
        codes, uniques = pd.factorize(values, sort=sort)
    except TypeError:
        # Mixed, unorderable values (e.g. 1 and "a"): fall back to first appearance.
        codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(codes, dtype=np.int64), pd.Index(uniques)


def encode_classes(
    values: pd.Series, classes: Sequence[Hashable] | pd.Index | None
) -> tuple[IntArray, pd.Index]:
    """Code label values against ``classes`` (or the sorted distinct values when ``None``).

    Raises:
        ValueError: a value is not among ``classes``, or ``classes`` has duplicates.
    """
    if classes is None:
        return _factorize(values, sort=True)
    index = pd.Index(list(classes)) if not isinstance(classes, pd.Index) else classes
    if not index.is_unique:
        raise ValueError(f"classes must be distinct, got {list(index)}")
    codes = np.asarray(index.get_indexer(pd.Index(values)), dtype=np.int64)
    if (codes < 0).any():
        unknown = pd.unique(values[codes < 0])[:10]
        raise ValueError(
            f"label(s) {list(unknown)} are not among the declared classes {list(index)}"
        )
    return codes, index


def _has_duplicate_pairs(
    task: IntArray, worker: IntArray, tasks: pd.Index, workers: pd.Index
) -> bool:
    """Cheap exact test: a sparse matrix sums repeated (task, worker) cells."""
    ones = np.ones(task.shape[0], dtype=np.int32)
    cells = sp.csr_matrix((ones, (task, worker)), shape=(len(tasks), len(workers)))
    return bool(cells.nnz < task.shape[0])


def encode_answers(
    frame: object,
    *,
    duplicates: DuplicatePolicy = "last",
    classes: Sequence[Hashable] | pd.Index | None = None,
) -> EncodedAnswers:
    """Validate an answers frame and encode it as integer arrays.

    Args:
        frame: answers frame with columns ``task``, ``worker``, ``label`` (see module doc).
        duplicates: policy for repeated ``(task, worker)`` rows (see module doc).
        classes: the full label set, in the order the output columns should have. When
            ``None`` the sorted distinct labels found in ``frame`` are used.

    Returns:
        The encoded answers; empty arrays (and empty indexes) for an empty frame.

    Raises:
        TypeError: ``frame`` is not a DataFrame.
        ValueError: missing column, missing task/worker value, bad ``duplicates`` policy,
            duplicate rows under ``duplicates="error"``, label outside ``classes``.
    """
    if duplicates not in _DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {_DUPLICATE_POLICIES}, got {duplicates!r}")
    data = check_answers_frame(frame)
    for col in ("task", "worker"):
        n_missing = int(data[col].isna().sum())
        if n_missing:
            raise ValueError(f"answers frame has {n_missing} row(s) with a missing {col!r}")
    data = data[data["label"].notna()]

    task, tasks = _factorize(data["task"], sort=True)
    worker, workers = _factorize(data["worker"], sort=True)

    if (
        duplicates != "keep"
        and len(task) > 0
        and _has_duplicate_pairs(task, worker, tasks, workers)
    ):
        key = pd.Series(task * np.int64(len(workers)) + worker)
        if duplicates == "error":
            dup = key.duplicated(keep=False).to_numpy()
            if dup.any():
                first = data.loc[dup, ["task", "worker"]].head(3).to_dict("records")
                raise ValueError(
                    f"answers frame has {int(dup.sum())} rows sharing a (task, worker) pair, "
                    f"e.g. {first}; pass duplicates='last', 'first' or 'keep'"
                )
        else:
            keep = ~key.duplicated(keep=duplicates).to_numpy()
            if not keep.all():
                # Every (task, worker) pair keeps one row, so no task or worker vanishes.
                task, worker, data = task[keep], worker[keep], data[keep]

    label, class_index = encode_classes(normalize_label_values(data["label"]), classes)

    return EncodedAnswers(
        task=task, worker=worker, label=label, tasks=tasks, workers=workers, classes=class_index
    )


def one_hot(codes: IntArray, n_classes: int) -> FloatArray:
    """``(n,)`` class codes → ``(n, n_classes)`` one-hot float matrix."""
    out = np.zeros((codes.shape[0], n_classes), dtype=np.float64)
    out[np.arange(codes.shape[0]), codes] = 1.0
    return out


def argmax_lowest(probas: FloatArray, *, atol: float = 1e-12) -> IntArray:
    """Row-wise argmax that breaks ties towards the lowest column.

    Args:
        probas: ``(n_tasks, n_classes)``.
        atol: values within ``atol`` of the row maximum count as tied (guards against
            last-bit floating point noise turning a real tie into an arbitrary winner).

    Returns:
        ``(n_tasks,)`` column index of the first (lowest) maximal entry of each row.
    """
    if probas.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    best = probas.max(axis=1, keepdims=True)
    return np.asarray(np.argmax(probas >= best - atol, axis=1), dtype=np.int64)


def probas_frame(probas: FloatArray, tasks: pd.Index, classes: pd.Index) -> pd.DataFrame:
    """Wrap a ``(n_tasks, n_classes)`` matrix as the task × label posterior frame."""
    return pd.DataFrame(
        probas,
        index=pd.Index(tasks, name="task"),
        columns=pd.Index(classes, name="label"),
    )


def labels_series(codes: IntArray, tasks: pd.Index, classes: pd.Index) -> pd.Series:
    """Wrap ``(n_tasks,)`` class codes as the task → label Series (named ``agg_label``)."""
    return pd.Series(classes.take(codes), index=pd.Index(tasks, name="task"), name="agg_label")
