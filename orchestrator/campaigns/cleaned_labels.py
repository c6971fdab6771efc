"""Decide each item's cleaned label and its provenance, and stream them as export rows.

Precedence, strongest first:

1. ``crowd``: an aggregated crowd label (:class:`VerifiedLabel`).
2. ``propagated``: copied from the nearest verified item of the same latent cluster.
3. ``model``: the final model's class where it differs from the original label, only when
   the campaign's evidence says the model is more often right there than the delivered label
   (``relabel.json``, a one-sided 95 % bound written by the round runner; see
   :mod:`orchestrator.campaigns.evidence`). Otherwise the delivered label stays: never worse
   than doing nothing. Campaigns with a random validation round and no such file use the older
   rule: ``max p(y | x, ŷ) ≥ t`` with ``t`` picked on the validation items. Disabled by the
   campaign option ``model_relabel: false``.
4. ``original``: the label as imported.

Every row also says how likely its *original* label is wrong (``p_label_wrong``, export schema
v2): ``1 - p(y = original | x, ŷ)`` under the posterior the export uses; for a crowd-verified
item the crowd's posterior decides instead (exact when the crowd kept the original label, a
lower bound when it changed it: only the verified label's posterior is stored). Without a
posterior the value is missing (null), not guessed.

Everything is computed chunk by chunk over item positions (:func:`iter_label_chunks`): per
chunk, the item rows, the crowd and propagated labels and the answer counts are joined in the
database for that position range only, and the posterior and cluster arrays are read through
memory maps (the local file, or this host's cached copy of the S3 object). Memory is bounded
by the chunk size, not by the dataset: a million-item export holds one chunk of 10,000 rows at
a time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, distinct, func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

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
from orchestrator.storage.artifacts import ArtifactDir, open_artifact_dir

#: Written by the round runner: {"relabel": bool, ...} (orchestrator.campaigns.evidence).
RELABEL_FILE = "relabel.json"
THRESHOLDS = tuple(np.round(np.arange(0.5, 1.0001, 0.05), 2).tolist())
CHUNK_ITEMS = 10_000
_IN_BATCH = 900  # positions per IN (...) list; stays under SQLite's bound-parameter limit


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


@dataclass(frozen=True)
class LabelContext:
    """Campaign-wide inputs of the precedence rules, small or memory-mapped.

    Attributes:
        posterior: (n, K) model posterior of the latest model (memory-mapped), or None.
        clusters: (n,) latent cluster per item in the last sampled round (memory-mapped), or None.
        threshold: model-relabel threshold (None: no model relabelling).
        rounds: round id → round number.
    """

    campaign: Campaign
    dataset: Dataset
    class_index: dict[str, int]
    rounds: dict[uuid.UUID, int]
    posterior: npt.NDArray[Any] | None
    clusters: npt.NDArray[Any] | None
    threshold: float | None

    @property
    def classes(self) -> list[str]:
        return list(self.dataset.classes)

    @property
    def n_items(self) -> int:
        return int(self.dataset.n_items)


@dataclass(frozen=True)
class LabelChunk:
    """Cleaned labels of a set of items (all arrays (m,), ordered by position).

    ``p_label_wrong`` is the probability that the *original* label is wrong (NaN where there is
    no evidence, i.e. no model posterior and no crowd label): see :func:`label_chunk`.
    """

    positions: npt.NDArray[np.int64]
    external_ids: list[str]
    original: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    sources: npt.NDArray[np.object_]
    confidence: npt.NDArray[np.float64]
    vote_counts: list[dict[str, int]]
    n_workers: npt.NDArray[np.int64]
    rounds: npt.NDArray[np.int64]
    clusters: npt.NDArray[np.int64]
    p_label_wrong: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.positions)

    def rows(self, classes: Sequence[str]) -> list[ExportRow]:
        """The chunk as export rows (schema v2)."""
        names = np.asarray(list(classes), dtype=object)
        votes = [json.dumps(v, sort_keys=True) if v else "{}" for v in self.vote_counts]
        # NaN (no evidence) becomes None: null in JSONL and Parquet, empty in CSV, never a
        # made-up number (and JSON has no NaN).
        p_wrong = np.round(self.p_label_wrong, 6)
        wrong = [None if np.isnan(v) else float(v) for v in p_wrong.tolist()]
        return list(
            map(
                ExportRow,
                self.external_ids,
                names[self.original].tolist(),
                names[self.labels].tolist(),
                [str(s) for s in self.sources],
                np.round(self.confidence, 6).tolist(),
                votes,
                self.n_workers.tolist(),
                self.rounds.tolist(),
                self.clusters.tolist(),
                wrong,
            )
        )


def latest_artifact(engine: Engine, campaign: Campaign, name: str) -> ArtifactDir | None:
    """The artifact folder holding the newest ``name`` (e.g. ``posterior.npy``): the
    campaign's ``final/`` first, then the latest round's; None when no folder has it."""
    if campaign.artifact_dir:
        final = open_artifact_dir(campaign.artifact_dir).child("final")
        if final.exists(name):
            return final
    with Session(engine) as s:
        dirs = s.exec(
            select(Round.artifact_dir)
            .where(Round.campaign_id == campaign.id)
            .order_by(col(Round.number).desc())
        ).all()
    for d in dirs:
        folder = open_artifact_dir(d) if d else None
        if folder is not None and folder.exists(name):
            return folder
    return None


def _last_clusters(engine: Engine, campaign: Campaign) -> npt.NDArray[Any] | None:
    """(n,) cluster of each item in the newest round that clustered (``final/`` has none)."""
    folder = latest_artifact(engine, campaign, "clusters.npy")
    return None if folder is None else folder.load_npy("clusters.npy", mmap=True)


def choose_relabel_threshold(
    posterior: npt.NDArray[np.float64],
    original: npt.NDArray[np.int64],
    truth: npt.NDArray[np.int64],
) -> float:
    """The threshold maximising accuracy on the rows given; ties go to the lower one.

    Candidates: 0 (the plain argmax), :data:`THRESHOLDS`, and 1.01 (never relabel). All inputs
    are (v, K) / (v,) over the validation rows.
    """
    pred = posterior.argmax(axis=1)
    conf = posterior.max(axis=1)
    best_t, best_acc = 0.0, -1.0
    for t in (0.0, *sorted(THRESHOLDS), 1.01):
        labels = np.where((conf >= t) & (pred != original), pred, original)
        acc = float((labels == truth).mean()) if len(truth) else 0.0
        if acc > best_acc + 1e-12:
            best_t, best_acc = t, acc
    return best_t


@dataclass(frozen=True)
class ValidationItems:
    """Crowd-verified validation items: positions, original and crowd class, all (v,)."""

    positions: npt.NDArray[np.int64]
    original: npt.NDArray[np.int64]
    crowd: npt.NDArray[np.int64]


def validation_items(
    engine: Engine, campaign: Campaign, class_index: dict[str, int]
) -> ValidationItems:
    """The campaign's crowd-verified validation items (round 0), ordered by position."""
    with Session(engine) as s:
        rows = s.exec(
            select(Item.position, Item.noisy_label, VerifiedLabel.label)
            .join(Item, col(Item.id) == col(VerifiedLabel.item_id))
            .where(VerifiedLabel.campaign_id == campaign.id, col(VerifiedLabel.is_validation))
            .order_by(col(Item.position))
        ).all()
    return ValidationItems(
        positions=np.asarray([r[0] for r in rows], dtype=np.int64),
        original=np.asarray([class_index[r[1]] for r in rows], dtype=np.int64),
        crowd=np.asarray([class_index[r[2]] for r in rows], dtype=np.int64),
    )


def campaign_and_dataset(s: Session, campaign_id: uuid.UUID) -> tuple[Campaign, Dataset]:
    """The campaign and its dataset (LookupError when there is no such campaign)."""
    campaign = s.get(Campaign, campaign_id)
    if campaign is None:
        raise LookupError(f"no campaign {campaign_id}")
    dataset = s.get(Dataset, campaign.dataset_id)
    assert dataset is not None  # a foreign key
    return campaign, dataset


def label_context(engine: Engine, campaign_id: uuid.UUID) -> LabelContext:
    """Load the campaign-wide inputs (no per-item arrays are read into memory)."""
    with Session(engine, expire_on_commit=False) as s:
        campaign, dataset = campaign_and_dataset(s, campaign_id)
        rounds = {
            r_id: number
            for r_id, number in s.exec(
                select(Round.id, Round.number).where(Round.campaign_id == campaign_id)
            ).all()
        }
    index = {c: k for k, c in enumerate(dataset.classes)}
    n = int(dataset.n_items)
    posterior: npt.NDArray[Any] | None = None
    folder = latest_artifact(engine, campaign, "posterior.npy")
    if folder is not None:
        posterior = folder.load_npy("posterior.npy", mmap=True)
        if posterior.ndim != 2 or posterior.shape[0] != n:
            posterior = None  # a stale artifact of another shape says nothing about these items
    clusters = _last_clusters(engine, campaign)
    if clusters is not None and clusters.shape != (n,):
        clusters = None
    threshold: float | None = None
    decision = latest_artifact(engine, campaign, RELABEL_FILE)
    if posterior is not None and campaign.config.get("model_relabel", True):
        val = validation_items(engine, campaign, index)
        if decision is not None:
            # The campaign's evidence decided (orchestrator.campaigns.evidence writes it).
            threshold = 0.0 if decision.read_json(RELABEL_FILE).get("relabel") else None
        elif len(val.positions):
            threshold = choose_relabel_threshold(
                np.asarray(posterior[val.positions], dtype=np.float64), val.original, val.crowd
            )
    return LabelContext(campaign, dataset, index, rounds, posterior, clusters, threshold)


@dataclass(frozen=True)
class _ChunkRows:
    """The database rows of one chunk: items (position, external id, delivered label), crowd
    labels (position, label, confidence, votes, round), propagated labels (position, label,
    confidence, round) and distinct workers per item (position, count)."""

    items: Sequence[Any]
    verified: Sequence[Any]
    propagated: Sequence[Any]
    workers: Sequence[Any]


def _chunk_rows(engine: Engine, ctx: LabelContext, where: ColumnElement[bool]) -> _ChunkRows:
    """Read a chunk's rows, each table joined to the items matching ``where``."""
    cid = ctx.campaign.id
    ds_id = ctx.dataset.id
    with Session(engine) as s:
        items = s.exec(
            select(Item.position, Item.external_id, Item.noisy_label)
            .where(Item.dataset_id == ds_id, where)
            .order_by(col(Item.position))
        ).all()
        verified = s.execute(  # five columns: past sqlmodel.select's typed overloads
            sa_select(
                col(Item.position),
                col(VerifiedLabel.label),
                col(VerifiedLabel.confidence),
                col(VerifiedLabel.vote_counts),
                col(VerifiedLabel.round_id),
            )
            .join(Item, col(Item.id) == col(VerifiedLabel.item_id))
            .where(col(VerifiedLabel.campaign_id) == cid, col(Item.dataset_id) == ds_id, where)
        ).all()
        propagated = s.exec(
            select(
                Item.position,
                PropagatedLabel.label,
                PropagatedLabel.confidence,
                PropagatedLabel.round_id,
            )
            .join(Item, col(Item.id) == col(PropagatedLabel.item_id))
            .where(PropagatedLabel.campaign_id == cid, Item.dataset_id == ds_id, where)
        ).all()
        workers = s.exec(
            select(Item.position, func.count(distinct(col(Answer.worker_pk))))
            .join(Item, col(Item.id) == col(Answer.item_id))
            .where(Answer.campaign_id == cid, Item.dataset_id == ds_id, where)
            .group_by(col(Item.position))
        ).all()
    return _ChunkRows(items, verified, propagated, workers)


def label_chunk(engine: Engine, ctx: LabelContext, where: ColumnElement[bool]) -> LabelChunk:
    """Apply the precedence rules to the items matching ``where`` (a condition on Item)."""
    rows = _chunk_rows(engine, ctx, where)
    items = rows.items
    m = len(items)
    positions = np.fromiter((r[0] for r in items), dtype=np.int64, count=m)
    row_of = {int(p): j for j, p in enumerate(positions)}
    index = ctx.class_index
    original = np.fromiter((index[r[2]] for r in items), dtype=np.int64, count=m)
    labels = original.copy()
    sources = np.full(m, LabelSource.ORIGINAL.value, dtype=object)
    confidence = np.full(m, np.nan)
    rounds = np.full(m, -1, dtype=np.int64)
    n_workers = np.zeros(m, dtype=np.int64)
    votes: list[dict[str, int]] = [{} for _ in range(m)]
    p_wrong = np.full(m, np.nan)
    if ctx.posterior is not None and m:
        post = np.asarray(ctx.posterior[positions], dtype=np.float64)  # (m, K)
        confidence = post[np.arange(m), original]
        p_wrong = np.clip(1.0 - confidence, 0.0, 1.0)
        if ctx.threshold is not None:
            pred = post.argmax(axis=1)
            conf = post.max(axis=1)
            relabel = (conf >= ctx.threshold) & (pred != original)
            labels[relabel] = pred[relabel]
            sources[relabel] = LabelSource.MODEL.value
            confidence[relabel] = conf[relabel]
    for pos, lab, conf_p, round_id in rows.propagated:
        j = row_of[pos]
        labels[j] = index[lab]
        sources[j] = LabelSource.PROPAGATED.value
        confidence[j] = conf_p
        rounds[j] = ctx.rounds.get(round_id, -1)
    for pos, lab, conf_v, vote_counts, round_id in rows.verified:
        j = row_of[pos]
        labels[j] = index[lab]
        sources[j] = LabelSource.CROWD.value
        confidence[j] = conf_v
        # The crowd's answers outweigh the model's posterior (computed from the features and
        # the original label only). Only the crowd posterior of the verified label is stored:
        # when it is the original label, p(wrong) = 1 - conf exactly; otherwise
        # p(original) <= 1 - conf, so conf is a lower bound of p(wrong), the tightest the
        # stored evidence allows.
        p_wrong[j] = 1.0 - conf_v if index[lab] == original[j] else conf_v
        votes[j] = dict(vote_counts or {})
        rounds[j] = ctx.rounds.get(round_id, -1)
    for pos, count in rows.workers:
        n_workers[row_of[pos]] = int(count)
    clusters = (
        np.asarray(ctx.clusters[positions], dtype=np.int64)
        if ctx.clusters is not None and m
        else np.full(m, -1, dtype=np.int64)
    )
    return LabelChunk(
        positions=positions,
        external_ids=[r[1] for r in items],
        original=original,
        labels=labels,
        sources=sources,
        confidence=np.where(np.isnan(confidence), 1.0, confidence),
        vote_counts=votes,
        n_workers=n_workers,
        rounds=rounds,
        clusters=clusters,
        p_label_wrong=p_wrong,
    )


def iter_label_chunks(
    engine: Engine,
    campaign_id: uuid.UUID,
    *,
    chunk_size: int = CHUNK_ITEMS,
    start: int = 0,
    context: LabelContext | None = None,
) -> Iterator[LabelChunk]:
    """Cleaned labels of every item from position ``start`` on, ``chunk_size`` positions a chunk."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    ctx = context or label_context(engine, campaign_id)
    for lo in range(max(0, start), ctx.n_items, chunk_size):
        where = (col(Item.position) >= lo) & (col(Item.position) < lo + chunk_size)
        yield label_chunk(engine, ctx, where)


def labels_at(engine: Engine, ctx: LabelContext, positions: npt.NDArray[np.int64]) -> LabelChunk:
    """Cleaned labels of the items at ``positions`` ((m,) ints; result ordered by position)."""
    wanted = np.unique(np.asarray(positions, dtype=np.int64))
    parts = [
        label_chunk(engine, ctx, col(Item.position).in_(wanted[k : k + _IN_BATCH].tolist()))
        for k in range(0, len(wanted), _IN_BATCH)
    ]
    if not parts:
        return label_chunk(engine, ctx, col(Item.position) < 0)
    return LabelChunk(
        positions=np.concatenate([p.positions for p in parts]),
        external_ids=[e for p in parts for e in p.external_ids],
        original=np.concatenate([p.original for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        sources=np.concatenate([p.sources for p in parts]),
        confidence=np.concatenate([p.confidence for p in parts]),
        vote_counts=[v for p in parts for v in p.vote_counts],
        n_workers=np.concatenate([p.n_workers for p in parts]),
        rounds=np.concatenate([p.rounds for p in parts]),
        clusters=np.concatenate([p.clusters for p in parts]),
        p_label_wrong=np.concatenate([p.p_label_wrong for p in parts]),
    )


def campaign_export_chunks(
    engine: Engine,
    campaign_id: uuid.UUID,
    *,
    chunk_size: int = CHUNK_ITEMS,
    context: LabelContext | None = None,
) -> Iterator[list[ExportRow]]:
    """Export rows in item order, ``chunk_size`` at a time (the CLI and the API both use this).

    Pass ``context`` (from :func:`label_context`) to fail early, before the first row, when the
    campaign cannot be read.
    """
    ctx = context or label_context(engine, campaign_id)
    for chunk in iter_label_chunks(engine, campaign_id, chunk_size=chunk_size, context=ctx):
        yield chunk.rows(ctx.classes)


def campaign_export_rows(engine: Engine, campaign_id: uuid.UUID) -> Iterator[ExportRow]:
    """Export rows in item order, one at a time (chunks of :data:`CHUNK_ITEMS` underneath)."""
    for rows in campaign_export_chunks(engine, campaign_id):
        yield from rows


def cleaned_labels(engine: Engine, campaign_id: uuid.UUID) -> CleanedLabels:
    """Apply the precedence rules of this module to every item of the campaign's dataset.

    Holds (n,) arrays: fine for reports; exports use :func:`campaign_export_chunks`.
    """
    ctx = label_context(engine, campaign_id)
    n = ctx.n_items
    labels = np.zeros(n, dtype=np.int64)
    sources = np.full(n, LabelSource.ORIGINAL.value, dtype=object)
    confidence = np.ones(n, dtype=np.float64)
    for chunk in iter_label_chunks(engine, campaign_id, context=ctx):
        labels[chunk.positions] = chunk.labels
        sources[chunk.positions] = chunk.sources
        confidence[chunk.positions] = chunk.confidence
    return CleanedLabels(labels, sources.astype(np.str_), confidence, ctx.threshold)
