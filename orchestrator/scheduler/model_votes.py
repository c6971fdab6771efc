"""The model as one annotator (``CampaignConfig.model_annotator``): each inspected item's
suggested label, read back from the round that picked it.

A model round writes ``suggested.npy`` beside ``selected.npy``: the influence strategy's
suggested label where it made one (CHEF), else the round model's posterior argmax. The
aggregation then appends one answer per answered item by the pseudo-worker
:data:`MODEL_WORKER` (:func:`aggregation.with_model_annotator`); it is never paid, and the
human answer counts (adaptive redundancy's cap, the stored vote counts) leave it out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from orchestrator.storage.artifacts import ArtifactDir

SUGGESTED_FILE = "suggested.npy"
MODEL_WORKER = "__model__"


def write_suggestions(
    out_dir: ArtifactDir, posterior: npt.NDArray[np.float64], suggested: dict[int, int] | None
) -> None:
    """(n,) int64 suggested class per row: ``suggested`` (row → class) over the argmax."""
    labels = np.asarray(posterior.argmax(1), dtype=np.int64)
    for row, cls in (suggested or {}).items():
        labels[int(row)] = int(cls)
    out_dir.save_npy(SUGGESTED_FILE, labels)


def model_labels(
    round_dirs: Iterable[ArtifactDir], item_ids: Sequence[object], classes: Sequence[str]
) -> pd.Series:
    """Series task id (str) → suggested class name for every item a model round picked."""
    out: dict[str, str] = {}
    for d in round_dirs:
        if not (d.exists("selected.npy") and d.exists(SUGGESTED_FILE)):
            continue  # round 0 (no model) or a round not sampled yet
        suggested = d.load_npy(SUGGESTED_FILE)
        for row in d.load_npy("selected.npy"):
            out[str(item_ids[int(row)])] = classes[int(suggested[int(row)])]
    return pd.Series(out, dtype=object)


def with_model_votes(
    frame: pd.DataFrame,
    round_dirs: Iterable[ArtifactDir],
    item_ids: Sequence[object],
    classes: Sequence[str],
) -> pd.DataFrame:
    """``frame`` (``task, worker, label``) plus the model's answer on each answered task."""
    from aggregation import with_model_annotator

    if frame.empty:
        return frame
    labels = model_labels(round_dirs, item_ids, classes)
    if labels.empty:
        return frame
    return with_model_annotator(frame, labels, worker_id=MODEL_WORKER, tasks="answered")
