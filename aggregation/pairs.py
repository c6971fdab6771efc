"""Pair answers (CINCER's two-item tasks) as ordinary per-item answers."""

from __future__ import annotations

import pandas as pd

PAIR_COLUMNS = ("worker", "first", "second", "first_label", "second_label")


def pair_item_answers(pairs: pd.DataFrame) -> pd.DataFrame:
    """One answers-frame row per item per pair answer, for any aggregator.

    A pair answer says something about both items: the label the worker gives each one (the
    shown label when they left it, their correction when they said it was wrong), so it
    counts as one answer on each item, by the same worker.

    Args:
        pairs: frame with ``worker``, ``first``, ``second`` (the items' task ids),
            ``first_label``, ``second_label``; rows whose labels are missing (unusable
            answers) are dropped. Other columns are ignored.

    Returns:
        frame with ``task``, ``worker``, ``label``: the first items' rows, then the second's.
        A worker who saw an item in two pairs keeps both rows; pass ``duplicates=`` to the
        aggregator to choose (the default keeps the last).

    Raises:
        ValueError: a required column is missing.
    """
    missing = [c for c in PAIR_COLUMNS if c not in pairs.columns]
    if missing:
        raise ValueError(f"pair answers frame lacks columns {missing}")
    parts = [
        pd.DataFrame(
            {"task": pairs[side], "worker": pairs["worker"], "label": pairs[f"{side}_label"]}
        )
        for side in ("first", "second")
    ]
    out = pd.concat(parts, ignore_index=True)
    return out[out["label"].notna()].reset_index(drop=True)
