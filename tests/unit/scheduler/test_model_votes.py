"""The model as one annotator: its vote on each answered item, from the round that picked it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aggregation import MajorityVote
from orchestrator.scheduler.model_votes import MODEL_WORKER, with_model_votes, write_suggestions
from orchestrator.storage.artifacts import as_artifact_dir


def test_model_votes_come_from_the_picking_round_and_only_on_answered_items(
    tmp_path: Path,
) -> None:
    classes = ["cat", "dog", "fox"]
    ids = [f"i{k}" for k in range(5)]
    r1, r2, r0 = tmp_path / "round-1", tmp_path / "round-2", tmp_path / "round-0"
    for d in (r0, r1, r2):
        d.mkdir()
    np.save(r0 / "selected.npy", np.array([4]))  # round 0: no model, no suggestions
    np.save(r1 / "selected.npy", np.array([0, 1]))
    np.save(r2 / "selected.npy", np.array([2]))
    post = np.tile([0.8, 0.1, 0.1], (5, 1))
    write_suggestions(as_artifact_dir(r1), post, {1: 2})  # influence suggested "fox" for row 1
    write_suggestions(as_artifact_dir(r2), np.tile([0.1, 0.8, 0.1], (5, 1)), None)
    frame = pd.DataFrame(
        {
            "task": ["i0", "i0", "i1", "i1", "i2", "i2", "i4"],
            "worker": ["a", "b", "a", "b", "a", "b", "a"],
            "label": ["dog", "cat", "dog", "fox", "cat", "dog", "fox"],
        }
    )
    out = with_model_votes(frame, [as_artifact_dir(d) for d in (r0, r1, r2)], ids, classes)
    model = out[out["worker"] == MODEL_WORKER].set_index("task")["label"].to_dict()
    assert model == {"i0": "cat", "i1": "fox", "i2": "dog"}  # none for i3 (unanswered), i4
    labels = MajorityVote().fit_predict(out).to_dict()
    assert labels == {"i0": "cat", "i1": "fox", "i2": "dog", "i4": "fox"}
    assert len(frame) == 7  # the input is left alone
