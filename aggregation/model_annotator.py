"""The model as one more annotator."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Literal

import pandas as pd

from aggregation._answers import check_answers_frame


def with_model_annotator(
    frame: pd.DataFrame,
    model_labels: pd.Series,
    *,
    worker_id: Hashable = "__model__",
    tasks: Literal["answered", "all"] = "answered",
) -> pd.DataFrame:
    """Append the model's suggested label of each task as answers of one pseudo-worker.

    Any aggregator then treats the model like a worker: Dawid–Skene estimates its
    confusion matrix from the tasks it shares with humans (so a bad model is discounted
    automatically), :func:`aggregation.worker_quality` scores it, and
    :class:`aggregation.MajorityVote` can weigh it through ``skills={worker_id: w}``.
    Remember to exclude ``worker_id`` before paying, blocking or bonusing workers.

    Args:
        frame: answers frame (columns ``task``, ``worker``, ``label``; other columns are
            kept and left missing on the new rows).
        model_labels: Series task → label suggested by the model; NaN entries are skipped.
        worker_id: the pseudo-worker's id; must not already be a worker in ``frame``.
        tasks: ``"answered"`` (default) adds the model's answer only to tasks that already
            have a row in ``frame`` (the crowd-inspected items); ``"all"`` adds every task
            of ``model_labels`` (tasks without human answers then get the model's label).

    Returns:
        A new frame: ``frame``'s rows, then one row per added model answer (in
        ``model_labels`` order); the input is not modified.

    Raises:
        ValueError: missing columns, ``worker_id`` already used, duplicate tasks in
            ``model_labels``, unknown ``tasks`` option.
    """
    check_answers_frame(frame)
    if tasks not in ("answered", "all"):
        raise ValueError(f"tasks must be 'answered' or 'all', got {tasks!r}")
    if not isinstance(model_labels, pd.Series):
        raise ValueError(
            f"model_labels must be a Series task → label, got {type(model_labels).__name__}"
        )
    if not model_labels.index.is_unique:
        dup = model_labels.index[model_labels.index.duplicated()][:5]
        raise ValueError(f"model_labels has duplicate task(s) {list(dup)}")
    if (frame["worker"] == worker_id).any():
        raise ValueError(
            f"worker_id {worker_id!r} is already a worker in the answers frame; pick another"
        )
    labels = model_labels[model_labels.notna()]
    if tasks == "answered":
        labels = labels[labels.index.isin(frame["task"].dropna())]
    added = pd.DataFrame(
        {"task": labels.index.to_numpy(), "worker": worker_id, "label": labels.to_numpy()}
    )
    if len(added) == 0:
        return frame.copy()
    if len(frame) == 0:
        return added
    return pd.concat([frame, added], ignore_index=True)
