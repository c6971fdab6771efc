"""What the extra answers bought: each item asked again against its first three answers.

Adaptive redundancy buys answers beyond the first three for items whose vote is unsure, from
the campaign's ``extra_answer_reserve``. Reads the cell folders a ``crowdclean bench`` run
leaves in its ``--workdir`` and writes one JSON line per crowdclean campaign: how many items
got extra answers and how many extra answers they took, how many of those items the majority
of their first three usable answers got wrong in gold (ties go to the first class, as the
bench's majority vote breaks them) and how many the campaign's final label got wrong. Next to
it, what the same money buys instead: ``extra answers / 3`` items at three answers each, and
the wrong labels that many items fix at the campaign's own rate (verified items whose
delivered label was wrong and whose crowd label is right, per verified item).

Run from the repository root after a bench run::

    python -m benchmarks.aggregation.extra_answer_value --workdir WORKDIR [WORKDIR ...] \\
        --out benchmarks/aggregation/extra_answer_value.jsonl
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pandas as pd

from aggregation.majority_vote import MajorityVote
from benchmarks.bench_cells import Cell, write_campaign_rows

FIRST = 3  # answers every item gets before adaptive redundancy may ask again


def _first_votes(cell: Cell, cid: str) -> dict[int, tuple[int, int]]:
    """Pool row → (majority of its first three usable answers, its number of extra answers)."""
    answers: dict[int, list[str]] = defaultdict(list)
    for item_id, label in cell.db.execute(
        "SELECT item_id, label FROM answer WHERE campaign_id = ? AND label IS NOT NULL "
        "ORDER BY created_at, id",
        (cid,),
    ):
        answers[cell.item[item_id]].append(label)
    asked_again = {i: labels for i, labels in answers.items() if len(labels) > FIRST}
    if not asked_again:
        return {}
    frame = pd.DataFrame(
        [(i, w, lab) for i, labels in asked_again.items() for w, lab in enumerate(labels[:FIRST])],
        columns=["task", "worker", "label"],
    )
    classes = [str(c) for c in cell.noisy.classes]
    first = MajorityVote(classes=classes).fit(frame).labels_
    return {
        int(i): (cell.class_index(str(first[i])), len(asked_again[i]) - FIRST) for i in first.index
    }


def campaign_row(cell: Cell, cid: str) -> dict[str, Any]:
    """One campaign's extra answers against what the same money buys as new items."""
    gold, delivered = cell.noisy.gold, cell.noisy.noisy_labels
    final = {
        cell.item[i]: cell.class_index(lab)
        for i, lab in cell.db.execute(
            "SELECT item_id, label FROM verifiedlabel WHERE campaign_id = ?", (cid,)
        )
    }
    first = _first_votes(cell, cid)
    fixed = sum(int(delivered[i] != gold[i] == lab) for i, lab in final.items())
    n_extra = sum(extra for _, extra in first.values())
    rate = fixed / len(final) if final else 0.0
    return {
        "n_verified": len(final),
        "n_fixed_by_crowd": fixed,
        "n_items_asked_again": len(first),
        "n_extra_answers": n_extra,
        "first_three_wrong": sum(int(lab != gold[i]) for i, (lab, _) in first.items()),
        "final_wrong": sum(int(final[i] != gold[i]) for i in first if i in final),
        "same_money_items": round(n_extra / FIRST, 1),
        "same_money_fixes_at_campaign_rate": round(n_extra / FIRST * rate, 1),
    }


def main(argv: list[str] | None = None) -> None:
    rows = write_campaign_rows(
        argv, __doc__.split("\n")[0], lambda cell, cid: [campaign_row(cell, cid)]
    )
    numeric = [k for k in (rows[0] if rows else {}) if k not in ("cell", "campaign")]
    print(json.dumps({k: sum(r[k] for r in rows) for k in numeric}, sort_keys=True))


if __name__ == "__main__":
    main()
