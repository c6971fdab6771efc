"""How good are a campaign's labels now? An estimate with a 95 % interval, for stopping early.

The estimate uses only what the campaign may see: the crowd-verified labels of the validation
round (a stratified random sample, held out of the model's training) stand in for the truth.

* Items with a crowd label are counted as correct (the crowd label is delivered for them).
* For every other item the delivered label is the model's relabelling (where enabled and
  confident) or the original label. Its accuracy ``a`` is measured on the validation items, by
  applying the same rule to them as if they had not been inspected, with a Wilson score
  interval for ``a`` (k agreeing out of n validation items).

So with ``s`` the share of items carrying a crowd label, accuracy ≈ ``s + (1 - s) · a`` and the
interval maps through the same formula. Propagated labels are scored as the model/original
rule would label them, which understates them when propagation helps (it is tuned to); the
relabel threshold is picked on the same validation items, which overstates a little. Nothing
reads the dataset's gold labels.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.db.models import Campaign, Dataset, Item, Round, VerifiedLabel

Z_95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion of ``k`` successes in ``n`` trials, in [0, 1]."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, n], got k={k}, n={n}")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


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


def _latest_posterior(engine: Engine, campaign: Campaign) -> npt.NDArray[np.float64] | None:
    """(n, K) posterior of the newest model: ``final/`` first, then the latest round's."""
    dirs = [str(Path(campaign.artifact_dir) / "final")] if campaign.artifact_dir else []
    with Session(engine) as s:
        dirs += s.exec(
            select(Round.artifact_dir)
            .where(Round.campaign_id == campaign.id)
            .order_by(col(Round.number).desc())
        ).all()
    for d in dirs:
        f = Path(d) / "posterior.npy"
        if d and f.exists():
            return np.asarray(np.load(f), dtype=np.float64)
    return None


def estimate_label_accuracy(engine: Engine, campaign_id: uuid.UUID) -> AccuracyEstimate:
    """The :class:`AccuracyEstimate` of a campaign's current labels (see the module doc)."""
    from orchestrator.export.campaign import choose_relabel_threshold

    with Session(engine, expire_on_commit=False) as s:
        campaign = s.get(Campaign, campaign_id)
        if campaign is None:
            raise LookupError(f"no campaign {campaign_id}")
        dataset = s.get(Dataset, campaign.dataset_id)
        assert dataset is not None
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
