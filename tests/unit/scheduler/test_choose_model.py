"""Which model the export uses: the validation items decide between the refit and the last round."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from orchestrator.scheduler.final_model import choose_model


def _model(folder: Path, predicted: list[int], k: int = 3) -> Path:
    folder.mkdir()
    post = np.full((len(predicted), k), 0.1)
    post[np.arange(len(predicted)), predicted] = 0.8
    np.save(folder / "posterior.npy", post)
    return folder


def test_the_more_accurate_model_on_validation_wins(tmp_path: Path) -> None:
    observed = np.array([0, 1, 2, 0, -1, -1])
    validation = np.array([True, True, True, True, False, False])
    refit = _model(tmp_path / "final-fit", [0, 1, 0, 1, 2, 2])  # 2 of 4 validation items
    last = _model(tmp_path / "round-3", [0, 1, 2, 1, 0, 0])  # 3 of 4
    best, scores = choose_model([refit, last], observed, validation)
    assert best == last
    assert scores == {"final-fit": 0.5, "round-3": 0.75}


def test_a_tie_keeps_the_first_candidate(tmp_path: Path) -> None:
    observed = np.array([0, 1, -1])
    validation = np.array([True, True, False])
    refit = _model(tmp_path / "final-fit", [0, 1, 2])
    last = _model(tmp_path / "round-2", [0, 1, 0])
    assert choose_model([refit, last], observed, validation)[0] == refit
    # Without validation items there is no evidence either way: the first one stays.
    none = np.zeros(3, dtype=bool)
    assert choose_model([refit, last], observed, none)[0] == refit
