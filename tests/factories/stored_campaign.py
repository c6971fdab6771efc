"""A campaign with stored state (rounds, artifacts, crowd answers, labels, money), built directly.

The tests of the API, the exports and the status benchmark need campaigns in every state
without spending minutes on a real run. This writes the same rows and artifacts the round
runner writes (see orchestrator/scheduler/runner.py), seeded, and returns the ground truth
the tests compare against. Real end-to-end runs live in the slow tests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from orchestrator.db import counters
from orchestrator.db.models import (
    Answer,
    Assignment,
    AssignmentStatus,
    Campaign,
    CampaignStatus,
    Dataset,
    FeatureKind,
    Hit,
    HitStatus,
    Item,
    LedgerEntry,
    LedgerKind,
    PropagatedLabel,
    Round,
    RoundStatus,
    VerifiedLabel,
    Worker,
)


@dataclass
class SyntheticCampaign:
    """Ids and the ground truth of a built campaign (positions index every array)."""

    campaign_id: uuid.UUID
    dataset_id: uuid.UUID
    classes: list[str]
    noisy: np.ndarray  # (n,) class index as imported
    posterior: np.ndarray | None  # (n, K)
    clusters: np.ndarray | None  # (n,)
    latent: np.ndarray | None  # (n, d)
    verified: dict[int, int] = field(default_factory=dict)  # position → crowd class
    validation: set[int] = field(default_factory=set)
    verified_round: dict[int, int] = field(default_factory=dict)
    propagated: dict[int, int] = field(default_factory=dict)  # position → class
    workers_per_item: int = 3

    @property
    def n_items(self) -> int:
        return len(self.noisy)


def build_campaign(
    engine: Engine,
    data_dir: Path,
    *,
    n_items: int = 300,
    n_classes: int = 3,
    requester: str = "alice",
    status: CampaignStatus = CampaignStatus.RUNNING,
    n_validation: int = 30,
    n_verified: int = 30,
    n_propagated: int = 60,
    with_model: bool = True,
    latent_dim: int = 4,
    seed: int = 0,
    name: str | None = None,
) -> SyntheticCampaign:
    """Store a campaign after round 1 of ``status``; labels drawn from a seeded generator."""
    rng = np.random.default_rng(seed)
    classes = [f"c{k}" for k in range(n_classes)]
    truth = rng.integers(0, n_classes, n_items)
    flip = rng.random(n_items) < 0.25
    noisy = np.where(flip, (truth + 1) % n_classes, truth)
    tag = uuid.uuid4().hex[:8]
    dataset_id, campaign_id = uuid.uuid4(), uuid.uuid4()
    camp_dir = Path(data_dir) / "campaigns" / str(campaign_id)
    item_ids = [uuid.uuid4() for _ in range(n_items)]
    with Session(engine) as s:
        s.add(
            Dataset(
                id=dataset_id,
                name=name or f"synthetic-{tag}",
                source="synthetic",
                feature_kind=FeatureKind.CONTINUOUS,
                n_items=n_items,
                n_features=latent_dim,
                classes=classes,
                artifact_dir=str(Path(data_dir) / "datasets" / str(dataset_id)),
                fingerprint=tag,
                owner=requester,
            )
        )
        s.flush()
        for lo in range(0, n_items, 20_000):
            s.execute(
                insert(Item),
                [
                    {
                        "id": item_ids[i],
                        "dataset_id": dataset_id,
                        "external_id": f"item-{i:07d}",
                        "position": i,
                        "noisy_label": classes[int(noisy[i])],
                        "gold_label": classes[int(truth[i])],
                        "is_validation": False,
                        "text": f"synthetic item {i}",
                        "image_path": None,
                    }
                    for i in range(lo, min(n_items, lo + 20_000))
                ],
            )
        s.add(
            Campaign(
                id=campaign_id,
                name=f"campaign-{tag}",
                dataset_id=dataset_id,
                budget_usd=Decimal("50.00"),
                requester=requester,
                status=status,
                current_round=1,
                config={"rounds": 3, "model_relabel": True},
                artifact_dir=str(camp_dir),
            )
        )
        s.flush()
        rounds = []
        for number in (0, 1):
            rnd = Round(
                campaign_id=campaign_id,
                number=number,
                status=RoundStatus.COMPLETED,
                artifact_dir=str(camp_dir / f"round-{number}"),
                strategy="stratified_random" if number == 0 else "uncertainty",
            )
            s.add(rnd)
            rounds.append(rnd)
        s.flush()
        s.commit()
        round_ids = [r.id for r in rounds]

    out = SyntheticCampaign(
        campaign_id=campaign_id,
        dataset_id=dataset_id,
        classes=classes,
        noisy=noisy,
        posterior=None,
        clusters=None,
        latent=None,
    )
    order = rng.permutation(n_items)
    val_pos = order[:n_validation]
    ver_pos = order[n_validation : n_validation + n_verified]
    prop_pos = order[n_validation + n_verified : n_validation + n_verified + n_propagated]
    with Session(engine) as s:
        for d, sel in ((0, val_pos), (1, ver_pos)):
            (camp_dir / f"round-{d}").mkdir(parents=True, exist_ok=True)
            np.save(camp_dir / f"round-{d}" / "selected.npy", np.sort(sel).astype(np.int64))
            rnd = s.get(Round, round_ids[d])
            assert rnd is not None
            rnd.n_selected = len(sel)
            rnd.metrics = {
                "accuracy_estimate": 0.7 + 0.1 * d,
                "accuracy_low": 0.6 + 0.1 * d,
                "accuracy_high": 0.8 + 0.1 * d,
                "accuracy_n_validation": len(val_pos),
            }
            s.add(rnd)
        s.commit()
    if with_model:
        # A model that is right about 80 % of the time, confidently so on most of them.
        logits = rng.normal(0, 1, (n_items, n_classes))
        right = rng.random(n_items) < 0.8
        target = np.where(right, truth, rng.integers(0, n_classes, n_items))
        logits[np.arange(n_items), target] += 3.0
        post = np.exp(logits - logits.max(axis=1, keepdims=True))
        post /= post.sum(axis=1, keepdims=True)
        out.posterior = post.astype(np.float64)
        out.latent = (rng.normal(0, 1, (n_items, latent_dim)) + truth[:, None] * 2.0).astype(
            np.float32
        )
        out.clusters = (truth * 2 + rng.integers(0, 2, n_items)).astype(np.int64)
        r1 = camp_dir / "round-1"
        np.save(r1 / "posterior.npy", out.posterior)
        np.save(r1 / "latent.npy", out.latent)
        np.save(r1 / "clusters.npy", out.clusters)

    with Session(engine) as s:
        workers = [Worker(platform_worker_id=f"W{tag.upper()}{k:04d}") for k in range(5)]
        s.add_all(workers)
        s.flush()
        worker_ids = [w.id for w in workers]
        hit_rows, asg_rows, ans_rows, ver_rows, ledger_rows = [], [], [], [], []
        for number, positions in ((0, val_pos), (1, ver_pos)):
            for p in positions:
                p = int(p)
                # crowd is right 90 % of the time
                crowd = int(truth[p]) if rng.random() < 0.9 else int((truth[p] + 1) % n_classes)
                out.verified[p] = crowd
                out.verified_round[p] = number
                if number == 0:
                    out.validation.add(p)
                hit_pk = uuid.uuid4()
                hit_rows.append(
                    {
                        "id": hit_pk,
                        "campaign_id": campaign_id,
                        "round_id": round_ids[number],
                        "item_id": item_ids[p],
                        "unique_request_token": f"tok-{hit_pk.hex}",
                        "status": HitStatus.COMPLETED,
                        "hit_id": f"H{hit_pk.hex[:29].upper()}",
                        "max_assignments": 3,
                        "reward_usd": Decimal("0.05"),
                        "attempt": 0,
                        "is_gold_check": False,
                    }
                )
                votes: dict[str, int] = {}
                for k in range(out.workers_per_item):
                    a_pk = uuid.uuid4()
                    w = worker_ids[(p + k) % len(worker_ids)]
                    lab = classes[crowd] if k < 2 else classes[int(noisy[p])]
                    votes[lab] = votes.get(lab, 0) + 1
                    asg_rows.append(
                        {
                            "id": a_pk,
                            "hit_pk": hit_pk,
                            "worker_pk": w,
                            "assignment_id": f"A{a_pk.hex[:29].upper()}",
                            "status": AssignmentStatus.APPROVED,
                            "answer_xml": "",
                        }
                    )
                    ans_rows.append(
                        {
                            "id": uuid.uuid4(),
                            "campaign_id": campaign_id,
                            "assignment_pk": a_pk,
                            "item_id": item_ids[p],
                            "worker_pk": w,
                            "label": lab,
                        }
                    )
                    ledger_rows.append(
                        {
                            "id": uuid.uuid4(),
                            "campaign_id": campaign_id,
                            "kind": LedgerKind.REWARD,
                            "amount_usd": Decimal("0.05"),
                            "fee_usd": Decimal("0.01"),
                            "idempotency_key": f"reward-{a_pk.hex}",
                            "note": "",
                        }
                    )
                ver_rows.append(
                    {
                        "id": uuid.uuid4(),
                        "campaign_id": campaign_id,
                        "item_id": item_ids[p],
                        "round_id": round_ids[number],
                        "label": classes[crowd],
                        "confidence": 0.9,
                        "n_answers": out.workers_per_item,
                        "vote_counts": votes,
                        "method": "dawid_skene",
                        "is_validation": number == 0,
                    }
                )
        for table, rows in (
            (Hit, hit_rows),
            (Assignment, asg_rows),
            (Answer, ans_rows),
            (VerifiedLabel, ver_rows),
            (LedgerEntry, ledger_rows),
        ):
            if rows:
                s.execute(insert(table), rows)
        prop_rows = []
        for p in prop_pos:
            p = int(p)
            lab = int(truth[p]) if rng.random() < 0.85 else int((truth[p] + 2) % n_classes)
            out.propagated[p] = lab
            src = int(ver_pos[0]) if len(ver_pos) else int(val_pos[0])
            prop_rows.append(
                {
                    "id": uuid.uuid4(),
                    "campaign_id": campaign_id,
                    "item_id": item_ids[p],
                    "round_id": round_ids[1],
                    "source_item_id": item_ids[src],
                    "label": classes[lab],
                    "distance": 0.5,
                    "confidence": 0.7,
                    "cluster": int(out.clusters[p]) if out.clusters is not None else -1,
                }
            )
        if prop_rows:
            s.execute(insert(PropagatedLabel), prop_rows)
        # The rows went in by bulk insert, past the writers that keep the running totals.
        counters.recount(s, campaign_id)
        s.commit()
    return out


def expected_labels(sc: SyntheticCampaign, threshold: float | None) -> tuple[np.ndarray, list[str]]:
    """(n,) cleaned class and (n,) source by the README's precedence, computed independently."""
    labels = sc.noisy.copy()
    sources = ["original"] * sc.n_items
    if sc.posterior is not None and threshold is not None:
        for i in range(sc.n_items):
            k = int(sc.posterior[i].argmax())
            if sc.posterior[i, k] >= threshold and k != sc.noisy[i]:
                labels[i], sources[i] = k, "model"
    for p, k in sc.propagated.items():
        labels[p], sources[p] = k, "propagated"
    for p, k in sc.verified.items():
        labels[p], sources[p] = k, "crowd"
    return labels, sources
