"""What a campaign's region checks and propagation read from its store: the sure crowd labels
that may contradict a region, the latent regions its first model round drew and every
round's region-check draws (``round_picks`` writes both)."""

from __future__ import annotations

import uuid

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.data.dataset import UNKNOWN, LabeledData
from orchestrator.db.models import Round, VerifiedLabel
from orchestrator.scheduler.round_picks import REGION_DRAWS_FILE, REGIONS_FILE
from orchestrator.storage.artifacts import ArtifactDir, open_artifact_dir


def model_round_dirs(
    engine: Engine, campaign_id: uuid.UUID, *, exclude_round: int | None = None
) -> list[ArtifactDir]:
    """The artifact folders of the campaign's model rounds (number > 0), in round order."""
    with Session(engine) as s:
        query = select(Round.artifact_dir).where(Round.campaign_id == campaign_id, Round.number > 0)
        if exclude_round is not None:
            query = query.where(Round.number != exclude_round)
        dirs = s.exec(query.order_by(col(Round.number))).all()
    return [open_artifact_dir(d) for d in dirs]


def first_regions(dirs: list[ArtifactDir]) -> npt.NDArray[np.int64] | None:
    """(n,) the regions of the first round in ``dirs`` that wrote them; None if none did."""
    for d in dirs:
        if d.exists(REGIONS_FILE):
            return np.asarray(d.load_npy(REGIONS_FILE), dtype=np.int64)
    return None


def region_draws(dirs: list[ArtifactDir]) -> npt.NDArray[np.int64]:
    """(w,) sorted rows that the rounds in ``dirs`` drew as region checks."""
    parts = [
        np.asarray(d.load_npy(REGION_DRAWS_FILE), dtype=np.int64)
        for d in dirs
        if d.exists(REGION_DRAWS_FILE)
    ]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def sure_rows(
    engine: Engine,
    campaign_id: uuid.UUID,
    item_ids: list[uuid.UUID],
    data: LabeledData,
    min_confidence: float,
) -> npt.NDArray[np.bool_]:
    """(n,) rows whose crowd label is sure enough to speak for a latent region: confidence at
    least ``min_confidence`` (``propagation_min_confidence``); operator gold always is.

    Why: on a two-class task every crowd mistake points at the same other class, so three
    split-vote mistakes in one region looked like a wrong region (MiniLM movie snippets,
    structural noise: 32 propagated labels, 47 % right).
    """
    pos = {item_id: i for i, item_id in enumerate(item_ids)}
    sure = data.validation & (data.gold != UNKNOWN)
    with Session(engine) as s:
        rows = s.exec(
            select(VerifiedLabel.item_id, VerifiedLabel.confidence).where(
                VerifiedLabel.campaign_id == campaign_id
            )
        ).all()
    for item_id, confidence in rows:
        if confidence >= min_confidence:
            sure[pos[item_id]] = True
    return sure
