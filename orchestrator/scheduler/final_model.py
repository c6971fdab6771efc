"""Which model the export uses: the final refit or the last round's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from orchestrator.storage.artifacts import ArtifactDir, as_artifact_dir

Folder = TypeVar("Folder", Path, ArtifactDir)


def choose_model(
    candidates: Sequence[Folder],
    observed: npt.NDArray[np.int64],
    validation: npt.NDArray[np.bool_],
) -> tuple[Folder, dict[str, float]]:
    """The artifact folder whose ``posterior.npy`` argmax agrees most with the validation labels.

    ``candidates``: artifact folders (or local paths), local or in S3.

    ``observed``: (n,) verified class per item; ``validation``: (n,) mask of validation items.
    Ties go to the earlier candidate. Returns the folder and every candidate's accuracy (0-1)
    keyed by folder name.
    """
    scores: dict[str, float] = {}
    best, best_score = candidates[0], -1.0
    for d in candidates:
        post = as_artifact_dir(d).load_npy("posterior.npy", mmap=True)
        score = (
            float((post[validation].argmax(axis=1) == observed[validation]).mean())
            if validation.any()
            else 0.0
        )
        scores[d.name] = score
        if score > best_score:
            best, best_score = d, score
    return best, scores
