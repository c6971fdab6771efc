"""Decide each item's cleaned label and its provenance, and stream them as export rows.

Precedence, strongest first:

1. ``crowd``: an aggregated crowd label (:class:`VerifiedLabel`).
2. ``propagated``: copied from the nearest verified item of the same latent cluster.
3. ``model``: the final model's class, where the model is confident the original label is
   wrong: ``max p(y | x, ŷ) ≥ t`` and the argmax differs from the original label. The threshold
   ``t`` is chosen on the crowd-verified validation items (held out of the model's training)
   as the value that maximises their label accuracy; ties go to the higher, more conservative
   threshold. Disabled by the campaign option ``model_relabel: false``.
4. ``original``: the label as imported.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.data.dataset import UNKNOWN
from orchestrator.db.models import (
    Answer,
    Campaign,
    Dataset,
    Item,
    LabelSource,
    PropagatedLabel,
    Round,
    VerifiedLabel,
)
from orchestrator.export.writer import ExportRow

THRESHOLDS = tuple(np.round(np.arange(0.5, 1.0001, 0.05), 2).tolist())
_PAGE = 10_000


@dataclass(frozen=True)
class CleanedLabels:
    """Per-row outcome (rows ordered by item position).

    Attributes:
        labels: (n,) class index of the cleaned label.
        sources: (n,) :class:`LabelSource` values.
        confidence: (n,) in [0, 1].
        threshold: the model-relabel threshold used (None when disabled or no model).
    """

    labels: npt.NDArray[np.int64]
    sources: npt.NDArray[np.str_]
    confidence: npt.NDArray[np.float64]
    threshold: float | None


def _latest_posterior(engine: Engine, campaign: Campaign) -> npt.NDArray[np.float64] | None:
    final = Path(campaign.artifact_dir) / "final" / "posterior.npy"
    if final.exists():
        return np.asarray(np.load(final), dtype=np.float64)
    with Session(engine) as s:
        dirs = s.exec(
            select(Round.artifact_dir)
            .where(Round.campaign_id == campaign.id)
            .order_by(col(Round.number).desc())
        ).all()
    for d in dirs:
        f = Path(d) / "posterior.npy"
        if f.exists():
            return np.asarray(np.load(f), dtype=np.float64)
    return None


def choose_relabel_threshold(
    posterior: npt.NDArray[np.float64],
    original: npt.NDArray[np.int64],
    truth: npt.NDArray[np.int64],
) -> float:
    """The threshold in :data:`THRESHOLDS` maximising accuracy on the rows given (ties: higher)."""
    pred = posterior.argmax(axis=1)
    conf = posterior.max(axis=1)
    best_t, best_acc = 1.01, float((original == truth).mean()) if len(truth) else 0.0
    for t in sorted(THRESHOLDS, reverse=True):
        labels = np.where((conf >= t) & (pred != original), pred, original)
        acc = float((labels == truth).mean())
        if acc > best_acc + 1e-12:
            best_t, best_acc = t, acc
    return best_t


def cleaned_labels(engine: Engine, campaign_id: uuid.UUID) -> CleanedLabels:
    """Apply the precedence rules of this module to every item of the campaign's dataset."""
    with Session(engine, expire_on_commit=False) as s:
        campaign = s.get(Campaign, campaign_id)
        if campaign is None:
            raise LookupError(f"no campaign {campaign_id}")
        dataset = s.get(Dataset, campaign.dataset_id)
        assert dataset is not None
        items = s.exec(
            select(Item.id, Item.noisy_label)
            .where(Item.dataset_id == dataset.id)
            .order_by(col(Item.position))
        ).all()
        verified = s.exec(
            select(VerifiedLabel).where(VerifiedLabel.campaign_id == campaign_id)
        ).all()
        propagated = s.exec(
            select(PropagatedLabel).where(PropagatedLabel.campaign_id == campaign_id)
        ).all()
    index = {c: k for k, c in enumerate(dataset.classes)}
    pos = {item_id: i for i, (item_id, _) in enumerate(items)}
    n = len(items)
    original = np.asarray([index[lab] for _, lab in items], dtype=np.int64)
    labels = original.copy()
    sources = np.full(n, LabelSource.ORIGINAL.value, dtype=object)
    confidence = np.full(n, np.nan)

    threshold: float | None = None
    posterior = _latest_posterior(engine, campaign)
    if posterior is not None and posterior.shape[0] == n:
        confidence = posterior[np.arange(n), original]
        if campaign.config.get("model_relabel", True):
            truth = np.full(n, UNKNOWN, dtype=np.int64)
            for v in verified:
                if v.is_validation:
                    truth[pos[v.item_id]] = index[v.label]
            val = truth != UNKNOWN
            if val.any():
                threshold = choose_relabel_threshold(posterior[val], original[val], truth[val])
                pred = posterior.argmax(axis=1)
                conf = posterior.max(axis=1)
                relabel = (conf >= threshold) & (pred != original)
                labels[relabel] = pred[relabel]
                sources[relabel] = LabelSource.MODEL.value
                confidence[relabel] = conf[relabel]
    for p in propagated:
        i = pos[p.item_id]
        labels[i] = index[p.label]
        sources[i] = LabelSource.PROPAGATED.value
        confidence[i] = p.confidence
    for v in verified:
        i = pos[v.item_id]
        labels[i] = index[v.label]
        sources[i] = LabelSource.CROWD.value
        confidence[i] = v.confidence
    confidence = np.where(np.isnan(confidence), 1.0, confidence)
    return CleanedLabels(labels, sources.astype(np.str_), confidence, threshold)


def campaign_export_rows(engine: Engine, campaign_id: uuid.UUID) -> Iterator[ExportRow]:
    """Export rows in item order, reading the item table page by page."""
    cleaned = cleaned_labels(engine, campaign_id)
    with Session(engine, expire_on_commit=False) as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        dataset = s.get(Dataset, campaign.dataset_id)
        assert dataset is not None
        rounds = {
            r.id: r.number
            for r in s.exec(select(Round).where(Round.campaign_id == campaign_id)).all()
        }
        verified = {
            v.item_id: v
            for v in s.exec(
                select(VerifiedLabel).where(VerifiedLabel.campaign_id == campaign_id)
            ).all()
        }
        propagated = {
            p.item_id: p
            for p in s.exec(
                select(PropagatedLabel).where(PropagatedLabel.campaign_id == campaign_id)
            ).all()
        }
        workers: dict[uuid.UUID, int] = {}
        for item_id, _worker in s.exec(
            select(Answer.item_id, Answer.worker_pk)
            .where(Answer.campaign_id == campaign_id)
            .distinct()
        ).all():
            workers[item_id] = workers.get(item_id, 0) + 1
    clusters = _last_clusters(engine, campaign_id)
    offset = 0
    while True:
        with Session(engine) as s:
            page = s.exec(
                select(Item)
                .where(Item.dataset_id == dataset.id)
                .order_by(col(Item.position))
                .offset(offset)
                .limit(_PAGE)
            ).all()
        if not page:
            return
        for item in page:
            i = item.position
            v = verified.get(item.id)
            p = propagated.get(item.id)
            rnd = -1
            if v is not None:
                rnd = rounds.get(v.round_id, -1)
            elif p is not None:
                rnd = rounds.get(p.round_id, -1)
            yield ExportRow(
                item_id=item.external_id,
                original_label=item.noisy_label,
                cleaned_label=dataset.classes[int(cleaned.labels[i])],
                source=str(cleaned.sources[i]),
                confidence=round(float(cleaned.confidence[i]), 6),
                vote_counts=json.dumps(v.vote_counts if v is not None else {}, sort_keys=True),
                n_workers=workers.get(item.id, 0),
                round=rnd,
                cluster=int(clusters[i]) if clusters is not None else -1,
            )
        offset += len(page)


def _last_clusters(engine: Engine, campaign_id: uuid.UUID) -> npt.NDArray[np.int64] | None:
    with Session(engine) as s:
        dirs = s.exec(
            select(Round.artifact_dir)
            .where(Round.campaign_id == campaign_id)
            .order_by(col(Round.number).desc())
        ).all()
    for d in dirs:
        f = Path(d) / "clusters.npy"
        if f.exists():
            return np.asarray(np.load(f), dtype=np.int64)
    return None
