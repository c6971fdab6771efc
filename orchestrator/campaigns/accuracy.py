"""How good are a campaign's labels now? An estimate with a 95 % interval, for stopping early.

The estimate uses only what the campaign may see, and nothing reads the dataset's gold labels.

* **Evidence rounds (the default).** The rounds' picks with their inclusion probabilities give
  a Horvitz–Thompson estimate of how many exported labels are right among the items nobody
  inspected (:func:`orchestrator.campaigns.evidence.accuracy_from_evidence`); items with a crowd
  label count as correct. The exported label of the others is the model's class where the
  campaign's relabel evidence allows it, else the delivered label, exactly as the export does.
* **A random validation round** (``validation_share > 0``, older campaigns). Crowd-verified
  validation items stand in for the truth: with ``s`` the share of items carrying a crowd
  label and ``a`` the accuracy of the model/original rule on the validation items (Wilson
  interval), accuracy ≈ ``s + (1 - s) · a``.

``n_validation`` counts the crowd-answered items the estimate rests on (evidence or validation
items); 0 means no information (the interval is the whole feasible range).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from aggregation.proportions import wilson_interval
from orchestrator.campaigns.cleaned_labels import latest_artifact
from orchestrator.db.models import Campaign, Dataset, Item, Round, VerifiedLabel
from orchestrator.storage.artifacts import open_artifact_dir


@dataclass(frozen=True)
class AccuracyEstimate:
    """Estimated share (0-1) of correct delivered labels with its 95 % interval.

    ``n_validation``: validation items it rests on (0 means no information: the interval is
    the whole feasible range); ``crowd_share``: share of items with a crowd label.
    """

    estimate: float
    low: float
    high: float
    n_validation: int
    crowd_share: float

    def as_dict(self) -> dict[str, float | int]:
        """Plain numbers (for JSON: round metrics, the status endpoint)."""
        return asdict(self)

    def round_metrics(self) -> dict[str, float | int]:
        """What a completed round's metrics carry (the dashboard's accuracy curve reads it):
        ``accuracy_<field>`` for every field but ``crowd_share``."""
        return {f"accuracy_{k}": v for k, v in self.as_dict().items() if k != "crowd_share"}


def _latest_posterior(engine: Engine, campaign: Campaign) -> npt.NDArray[np.float64] | None:
    """(n, K) posterior of the newest model: ``final/`` first, then the latest round's."""
    folder = latest_artifact(engine, campaign, "posterior.npy")
    if folder is None:
        return None
    return np.asarray(folder.load_npy("posterior.npy"), dtype=np.float64)


def _evidence_estimate(
    engine: Engine, campaign: Campaign, dataset: Dataset, rows: list[tuple[int, str, str, bool]]
) -> AccuracyEstimate | None:
    """The estimate from the rounds' evidence, or None when no round drew an evidence slice."""
    from orchestrator.campaigns.evidence import (
        accuracy_from_evidence,
        load_round_evidence,
        relabel_evidence,
    )

    with Session(engine) as s:
        dirs = s.exec(
            select(Round.artifact_dir)
            .where(Round.campaign_id == campaign.id, Round.number > 0)
            .order_by(col(Round.number))
        ).all()
        if not dirs:
            return None
        noisy_names = s.exec(
            select(Item.noisy_label)
            .where(Item.dataset_id == dataset.id)
            .order_by(col(Item.position))
        ).all()
    index = {c: k for k, c in enumerate(dataset.classes)}
    noisy = np.asarray([index[c] for c in noisy_names], dtype=np.int64)
    observed = np.full(len(noisy), -1, dtype=np.int64)
    for pos, _noisy, label, _is_val in rows:
        observed[pos] = index[label]
    folders = [open_artifact_dir(d) for d in dirs if d]
    rounds = [ev for f in folders if (ev := load_round_evidence(f, noisy, observed)) is not None]
    covering = [r for r in rounds if r.covers_pool]
    if not covering:
        return None
    relabel = campaign.config.get("model_relabel", True) and relabel_evidence(rounds).relabel
    acc = accuracy_from_evidence(
        covering[-1], n_items=len(noisy), n_inspected=len(rows), relabel=bool(relabel)
    )
    return AccuracyEstimate(acc.estimate, acc.low, acc.high, acc.n_evidence, acc.crowd_share)


def estimate_label_accuracy(engine: Engine, campaign_id: uuid.UUID) -> AccuracyEstimate:
    """The :class:`AccuracyEstimate` of a campaign's current labels (see the module doc)."""
    from orchestrator.campaigns.cleaned_labels import campaign_and_dataset, choose_relabel_threshold

    with Session(engine, expire_on_commit=False) as s:
        campaign, dataset = campaign_and_dataset(s, campaign_id)
        n_items = int(dataset.n_items)
        rows = s.exec(
            select(
                Item.position, Item.noisy_label, VerifiedLabel.label, VerifiedLabel.is_validation
            )
            .join(VerifiedLabel, col(VerifiedLabel.item_id) == col(Item.id))
            .where(VerifiedLabel.campaign_id == campaign_id)
        ).all()
    n_crowd = len(rows)
    crowd_share = n_crowd / n_items if n_items else 0.0
    val = [(pos, noisy, label) for pos, noisy, label, is_val in rows if is_val]
    if not val:
        from_evidence = _evidence_estimate(engine, campaign, dataset, list(rows))
        if from_evidence is not None:
            return from_evidence
    if not val:
        return AccuracyEstimate(crowd_share, crowd_share, 1.0, 0, crowd_share)
    index = {c: k for k, c in enumerate(dataset.classes)}
    positions = np.asarray([p for p, _, _ in val], dtype=np.int64)
    original = np.asarray([index[o] for _, o, _ in val], dtype=np.int64)
    truth = np.asarray([index[t] for _, _, t in val], dtype=np.int64)
    labels = original
    posterior = _latest_posterior(engine, campaign)
    if (
        posterior is not None
        and posterior.shape[0] == n_items
        and campaign.config.get("model_relabel", True)
    ):
        p_val = posterior[positions]
        threshold = choose_relabel_threshold(p_val, original, truth)
        pred, conf = p_val.argmax(axis=1), p_val.max(axis=1)
        labels = np.where((conf >= threshold) & (pred != original), pred, original)
    k = int((labels == truth).sum())
    n = len(truth)
    lo, hi = wilson_interval(k, n)
    rest = 1 - crowd_share
    return AccuracyEstimate(
        estimate=crowd_share + rest * k / n,
        low=crowd_share + rest * lo,
        high=crowd_share + rest * hi,
        n_validation=n,
        crowd_share=crowd_share,
    )
