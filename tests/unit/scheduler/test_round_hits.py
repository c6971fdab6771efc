"""A round's picks as HITs: CINCER's pairs as pair HITs at their first item's place, a pair
whose second item was cut (odd budget) as its first item alone, everything else alone."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np

from orchestrator.scheduler.round_picks import PAIRS_FILE, round_hits
from orchestrator.storage.artifacts import open_artifact_dir


def test_pairs_become_pair_hits_and_the_rest_stay_single(tmp_path: Path) -> None:
    ids = [uuid.UUID(int=i) for i in range(10)]
    folder = open_artifact_dir(str(tmp_path))
    folder.save_npy(PAIRS_FILE, np.array([[2, 7], [4, 1], [5, 9]], dtype=np.int64))
    selected = np.array([0, 1, 2, 4, 5, 7], dtype=np.int64)  # 9 was not picked
    assert round_hits(folder, selected, ids) == [
        ids[0],
        (ids[2], ids[7]),
        (ids[4], ids[1]),
        ids[5],
    ]


def test_a_round_without_pairs_publishes_every_pick_alone(tmp_path: Path) -> None:
    ids = [uuid.UUID(int=i) for i in range(4)]
    folder = open_artifact_dir(str(tmp_path))
    assert round_hits(folder, np.array([3, 1]), ids) == [ids[3], ids[1]]
