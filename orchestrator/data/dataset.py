"""The in-memory form of a dataset that every stage reads.

Labels are integer class indices into ``classes``; ``-1`` means "unknown" in the optional
arrays (``gold``). Rows are aligned: row ``i`` of ``features`` is item ``ids[i]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from orchestrator.db.models import FeatureKind

UNKNOWN = -1


@dataclass(frozen=True)
class DisplayTable:
    """The named values shown for each item.

    Attributes:
        columns: (m,) column names, in the order shown.
        values: (n,) rows of (m,) strings, row ``i`` for item ``i``; "" where a cell is empty.
        omitted: columns (or vector entries) left out of a default table by the cap; shown to
            the worker as a note, so a cut table is not mistaken for the whole item.
    """

    columns: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]
    omitted: int = 0

    def __post_init__(self) -> None:
        m = len(self.columns)
        for i, row in enumerate(self.values):
            if len(row) != m:
                raise ValueError(f"display row {i} has {len(row)} values for {m} columns")


@dataclass(frozen=True)
class LabeledData:
    """A dataset with noisy labels.

    Attributes:
        ids: (n,) item ids, unique strings.
        features: (n, d) float32. Pixels in [0, 1] for ``PIXELS``, non-negative counts for
            ``COUNTS``, anything finite for ``CONTINUOUS``.
        feature_kind: picks the model's data likelihood.
        noisy_labels: (n,) int64 class indices, the labels as delivered (possibly wrong).
        classes: the K class names; index ``k`` in every label array means ``classes[k]``.
        gold: (n,) int64 true class or ``-1`` when unknown. Used for evaluation and for
            operator-supplied gold items; never given to the model as free labels.
        validation: (n,) bool, items the operator marked as validation (gold must be known).
        texts: optional (n,) item texts shown to workers.
        image_paths: optional (n,) images shown to workers: an https (or development
            loopback http) URL, an ``s3://bucket/key`` object, or a local file path.
        display: optional named values shown to workers for items with neither text nor image
            (see :mod:`orchestrator.data.display`).
        name: a short name for reports.
    """

    ids: npt.NDArray[np.str_]
    features: npt.NDArray[np.float32]
    feature_kind: FeatureKind
    noisy_labels: npt.NDArray[np.int64]
    classes: tuple[str, ...]
    gold: npt.NDArray[np.int64]
    validation: npt.NDArray[np.bool_]
    texts: tuple[str, ...] | None = None
    image_paths: tuple[str, ...] | None = None
    name: str = "dataset"
    display: DisplayTable | None = None
    extras: dict[str, object] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        n = len(self.ids)
        k = len(self.classes)
        if self.features.ndim != 2 or self.features.shape[0] != n:
            raise ValueError(f"features must be (n={n}, d), got {self.features.shape}")
        for arr_name in ("noisy_labels", "gold", "validation"):
            arr = getattr(self, arr_name)
            if arr.shape != (n,):
                raise ValueError(f"{arr_name} must be ({n},), got {arr.shape}")
        if n and (self.noisy_labels.min() < 0 or self.noisy_labels.max() >= k):
            raise ValueError(f"noisy_labels must be class indices in [0, {k})")
        if n and (self.gold.min() < UNKNOWN or self.gold.max() >= k):
            raise ValueError(f"gold must be class indices in [0, {k}) or -1")
        if self.texts is not None and len(self.texts) != n:
            raise ValueError(f"texts must have {n} entries, got {len(self.texts)}")
        if self.image_paths is not None and len(self.image_paths) != n:
            raise ValueError(f"image_paths must have {n} entries, got {len(self.image_paths)}")
        if self.display is not None and len(self.display.values) != n:
            raise ValueError(f"display must have {n} rows, got {len(self.display.values)}")

    @property
    def n_items(self) -> int:
        return len(self.ids)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def has_gold(self) -> bool:
        return bool((self.gold != UNKNOWN).any())

    def with_noisy_labels(self, labels: npt.NDArray[np.int64]) -> LabeledData:
        """A copy with other noisy labels (used by noise injection)."""
        return replace(self, noisy_labels=np.asarray(labels, dtype=np.int64))

    def label_accuracy(self, labels: npt.NDArray[np.int64] | None = None) -> float:
        """Share of gold-known items whose label (default: the noisy one) equals gold."""
        labels = self.noisy_labels if labels is None else labels
        known = self.gold != UNKNOWN
        if not known.any():
            raise ValueError(f"dataset {self.name!r} has no gold labels to score against")
        return float((labels[known] == self.gold[known]).mean())
