"""The benchmark's crowd: one cell's simulated MTurk, reached through boto3 like production.

Part of the CLI layer (like :mod:`orchestrator.demo`), so it may start the in-process simulator.
For each benchmark cell (dataset × noise × budget × seed) :class:`BenchCrowd` creates a fresh
SQLite database holding the dataset **without gold labels**, starts the MTurk-compatible
simulator on a loopback port with the cell's worker pool, and connects the production
:class:`~orchestrator.crowd.mturk.MTurkPlatform` to it. Every method of the cell talks to the same
simulator (same worker pool, same answer model), each in its own answer stream (see
:class:`CrowdAccess`):

* crowdclean runs a normal campaign (:meth:`BenchCrowd.run_campaign`, the round runner and its
  MTurk stage, exactly as ``crowdclean demo`` does);
* baselines buy answers with :meth:`BenchCrowd.label_items`: a one-round campaign per request
  that publishes one HIT per item (``answers_per_item`` assignments), waits for the
  assignments, aggregates them by majority vote and approves them. Money is booked in the same
  spend ledger, so every method's ``spend_usd`` comes from the ledger.

Worker pools (:func:`worker_pool`): images are answered by a pool whose honest workers'
accuracies are drawn from Beta(17, 3) (mean 0.85) plus 10 % spammers; movie snippets by workers
whose vote is the sign of one rating drawn from the item's real rating list (a zero rating is a
coin flip) plus 10 % spammers. Spammers answer "the label is correct" half the time and a
random class otherwise, and their approval rate passes the default 95 % qualification.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from orchestrator.data.dataset import UNKNOWN, LabeledData

REWARD_USD = Decimal("0.05")
SPAMMER_SHARE = 0.10


class CrowdBudgetError(RuntimeError):
    """A method asked the crowd for more answers than its dollar budget pays for."""


def without_gold(data: LabeledData) -> LabeledData:
    """A copy of ``data`` whose ``gold`` is all unknown and nothing is marked validation."""
    return replace(
        data,
        gold=np.full(data.n_items, UNKNOWN, dtype=np.int64),
        validation=np.zeros(data.n_items, dtype=np.bool_),
    )


def worker_pool(kind: str, *, n_workers: int = 40) -> dict[str, Any]:
    """``SimulatorConfig.workers`` for the protocol: ``"beta"`` (images) or ``"ratings"``."""
    spammer = {
        "share": SPAMMER_SHARE,
        "accuracy": 0.0,
        "approval_rate": 97,
        "garbage_rate": 0.0,
        "mean_work_s": 3,
    }
    if kind == "beta":
        honest = {"share": 1 - SPAMMER_SHARE, "accuracy": 0.85, "accuracy_beta": (17.0, 3.0)}
    elif kind == "ratings":
        # The real rating is the whole perception: an honest worker reports its sign as is.
        honest = {"share": 1 - SPAMMER_SHARE, "accuracy": 1.0, "accuracy_spread": 0.0}
    else:
        raise ValueError(f"unknown worker pool {kind!r}; use 'beta' or 'ratings'")
    return {"n_workers": n_workers, "kinds": {"diligent": honest, "spammer": spammer}}


@dataclass(frozen=True)
class Purchase:
    """Answers bought for some items.

    Attributes:
        answers: frame with ``row`` (item position), ``worker``, ``label`` (class index).
        labels: (m,) aggregated class per row of ``rows`` (majority vote over ``answers``).
        rows: (m,) item positions that got at least one usable answer.
        spend_usd: money booked in the ledger for this purchase, fees included.
        seconds: wall-clock time of publish → collect → aggregate → approve.
        requested: (r,) item positions published (shown to the crowd).
    """

    answers: pd.DataFrame
    labels: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]
    spend_usd: Decimal
    seconds: float
    requested: npt.NDArray[np.int64]


def aggregate_answers(answers: pd.DataFrame) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(rows, labels) from a ``row``/``worker``/``label`` frame, by majority vote.

    Majority vote, not Dawid–Skene: with 3 answers per item spread over a 40-worker pool each
    worker gives a handful of answers, too few to estimate a K×K confusion matrix; on 100
    digits items full Dawid–Skene (this package's and crowd-kit's alike) recovered 71 % of the
    true classes against 88 % for majority vote. Crowdclean's campaigns use the same rule
    (``aggregator="majority_vote"``) so that every method aggregates alike.
    """
    from aggregation import MajorityVote

    if answers.empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    frame = pd.DataFrame(
        {"task": answers["row"].astype(int), "worker": answers["worker"], "label": answers["label"]}
    )
    proba = MajorityVote().fit_predict_proba(frame)
    rows = np.asarray(proba.index, dtype=np.int64)
    labels = np.asarray(proba.columns[proba.to_numpy().argmax(axis=1)], dtype=np.int64)
    return rows, labels


class BenchCrowd:
    """One cell's simulator, database and MTurk platform (use as a context manager).

    Args:
        data: the cell's dataset; its gold labels become the simulator's oracle (the world the
            workers look at) and are stripped from the copy stored in the database.
        workdir: a directory for the database, artifacts and simulator state (emptied first).
        pool: ``"beta"`` or ``"ratings"`` (see :func:`worker_pool`).
        ratings: per-item real rating lists (``"ratings"`` pool only).
        seed: seeds the worker pool and every answer draw.
        time_factor: simulated worker delays are multiplied by this (real seconds).
    """

    def __init__(
        self,
        data: LabeledData,
        workdir: Path,
        *,
        pool: str = "beta",
        ratings: list[npt.NDArray[np.int64]] | None = None,
        seed: int = 0,
        time_factor: float = 0.0002,
        poll_interval_s: float = 0.02,
        max_wait_s: float = 600.0,
    ) -> None:
        self.data = data
        self.public = without_gold(data)
        self.workdir = Path(workdir)
        self.pool = pool
        self.ratings = ratings
        self.seed = seed
        self.time_factor = time_factor
        self.poll_interval_s = poll_interval_s
        self.max_wait_s = max_wait_s
        self._stack = ExitStack()
        self._n_requests = 0

    def __enter__(self) -> BenchCrowd:
        from orchestrator.crowd.mturk import MTurkPlatform
        from orchestrator.data.store import item_ids_by_position, save_dataset
        from orchestrator.db.engine import make_engine
        from orchestrator.db.migrate import upgrade
        from orchestrator.scheduler.platform_stage import PlatformStage
        from orchestrator.simulator import SimulatorConfig, run_simulator

        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True)
        self.engine = make_engine(f"sqlite:///{(self.workdir / 'bench.db').resolve()}")
        upgrade(self.engine)
        self.dataset = save_dataset(
            self.engine,
            self.public,
            name=f"bench-{self.public.name}",
            source=f"builtin:{self.public.name}",
            data_dir=self.workdir,
        )
        self.item_ids: list[uuid.UUID] = item_ids_by_position(self.engine, self.dataset.id)
        sim_kwargs: dict[str, Any] = {
            "seed": self.seed,
            "time_factor": self.time_factor,
            "state_path": self.workdir / "simulator.db",
            "workers": worker_pool(self.pool),
        }
        ids = [str(i) for i in self.data.ids]
        if self.pool == "ratings":
            if self.ratings is None:
                raise ValueError("the 'ratings' pool needs the items' rating lists")
            # Ratings above 0 mean positive; classes are named, so the order is by name.
            sim_kwargs["rating_distributions"] = {
                k: [float(r) for r in rs] for k, rs in zip(ids, self.ratings, strict=True)
            }
            sim_kwargs["rating_labels"] = ("negative", "positive")
            sim_kwargs["rating_ties"] = "coin"
        else:
            sim_kwargs["oracle"] = {
                k: self.data.classes[int(g)] for k, g in zip(ids, self.data.gold, strict=True)
            }
        self.sim = self._stack.enter_context(run_simulator(SimulatorConfig(**sim_kwargs)))
        self.platform = MTurkPlatform.connect(
            endpoint_url=self.sim.endpoint_url,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            max_requests_per_second=500.0,  # loopback simulator; MTurk keeps the default 5
        )
        self.stage = PlatformStage(self.engine, self.platform, data=self.public)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self.engine.dispose()

    # ------------------------------------------------------------------ campaigns

    def _campaign(self, name: str, budget_usd: Decimal, config: Any) -> uuid.UUID:
        from orchestrator.campaigns.lifecycle import create_campaign, transition
        from orchestrator.db.models import CampaignStatus

        campaign = create_campaign(
            self.engine,
            self.dataset.id,
            name=name,
            budget_usd=budget_usd,
            config=config,
            data_dir=self.workdir,
        )
        transition(self.engine, campaign.id, CampaignStatus.RUNNING)
        return campaign.id

    def spend_usd(self, campaign_id: uuid.UUID) -> Decimal:
        """Money the ledger holds for the campaign (reserved or paid), fees included."""
        from orchestrator.crowd.ledger import spend_usd

        amount, fee = spend_usd(self.engine, campaign_id)
        return amount + fee

    def run_campaign(
        self,
        name: str,
        budget_usd: Decimal,
        config: Any,
        progress: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> uuid.UUID:
        """Create, start and drive a crowdclean campaign to completion; returns its id."""
        from orchestrator.scheduler.runner import RoundRunner

        campaign_id = self._campaign(name, budget_usd, config)
        RoundRunner(self.engine, self.stage, progress=progress).run(campaign_id, sleep=time.sleep)
        return campaign_id

    def label_items(
        self, rows: npt.NDArray[np.int64], *, answers_per_item: int = 3, tag: str = "label"
    ) -> Purchase:
        """Publish one HIT per row, wait for its answers, aggregate and approve them."""
        from sqlmodel import Session

        from orchestrator.bench.metrics import answers_cost_usd
        from orchestrator.campaigns.config import CampaignConfig
        from orchestrator.campaigns.lifecycle import transition
        from orchestrator.crowd.config import CrowdConfig
        from orchestrator.db.models import CampaignStatus, Round

        t0 = time.perf_counter()
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        empty = pd.DataFrame({"row": [], "worker": [], "label": []})
        if rows.size == 0:
            return Purchase(empty, rows, rows, Decimal("0.00"), 0.0, rows)
        self._n_requests += 1
        config = CampaignConfig(
            rounds=1,
            seed=self.seed,
            poll_interval_s=self.poll_interval_s,
            extra_answer_reserve=0.0,
            assignments_per_item=answers_per_item,
            reward_usd=REWARD_USD,
            crowd=CrowdConfig(gold_rate=0.0),
        )
        budget = answers_cost_usd(rows.size * answers_per_item, REWARD_USD)
        campaign_id = self._campaign(f"bench-{tag}-{self._n_requests}", budget, config)
        with Session(self.engine, expire_on_commit=False) as s:
            rnd = Round(campaign_id=campaign_id, number=0)
            rnd.artifact_dir = str(self.workdir / "labels" / f"{campaign_id}")
            s.add(rnd)
            s.commit()
            s.refresh(rnd)
        self.stage.publish(campaign_id, rnd.id, [self.item_ids[int(i)] for i in rows])
        deadline = time.monotonic() + self.max_wait_s
        while self.stage.poll(campaign_id, rnd.id).outstanding_hits > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"crowd answers for {tag} not complete after {self.max_wait_s} s"
                )
            time.sleep(self.poll_interval_s)
        pos = {item_id: i for i, item_id in enumerate(self.item_ids)}
        index = {c: k for k, c in enumerate(self.public.classes)}
        got = self.stage.answers(campaign_id)
        answers = pd.DataFrame(
            {
                "row": [pos[a.item_id] for a in got],
                "worker": [a.worker for a in got],
                "label": [index[a.label] for a in got],
            }
        )
        agg_rows, labels = aggregate_answers(answers)
        self.stage.settle(campaign_id)
        transition(self.engine, campaign_id, CampaignStatus.COMPLETED)
        return Purchase(
            answers, labels, agg_rows, self.spend_usd(campaign_id), time.perf_counter() - t0, rows
        )


class CrowdAccess:
    """What a method may ask of the crowd: buy answers for rows, within its dollar budget.

    Gold labels are not reachable from here; the only way to learn about an item's true class
    is to pay for crowd answers on it. Each access starts its own answer stream on the cell's
    simulator, so what a method's k-th HIT gets does not depend on the methods run before it
    (:meth:`~orchestrator.simulator.store.SimStore.new_answer_stream`).
    """

    def __init__(self, crowd: BenchCrowd, budget_usd: Decimal, method: str) -> None:
        crowd.sim.state.new_answer_stream()
        self._crowd = crowd
        self.budget_usd = budget_usd
        self.method = method
        self.spent_usd = Decimal("0.00")
        self.n_answers = 0
        self.seconds = 0.0
        self.purchases: list[Purchase] = []

    def affordable_items(self, answers_per_item: int = 3) -> int:
        """Items the rest of the budget pays for at ``answers_per_item`` answers each."""
        from orchestrator.bench.metrics import answers_cost_usd

        per_item = answers_cost_usd(answers_per_item, REWARD_USD)
        return int((self.budget_usd - self.spent_usd) // per_item)

    def label(self, rows: npt.NDArray[np.int64], *, answers_per_item: int = 3) -> Purchase:
        """Buy ``answers_per_item`` answers for each row (raises past the budget)."""
        from orchestrator.bench.metrics import answers_cost_usd

        rows = np.unique(np.asarray(rows, dtype=np.int64))
        cost = answers_cost_usd(rows.size * answers_per_item, REWARD_USD)
        if self.spent_usd + cost > self.budget_usd:
            raise CrowdBudgetError(
                f"{self.method}: {rows.size} items × {answers_per_item} answers cost ${cost}, "
                f"only ${self.budget_usd - self.spent_usd} of ${self.budget_usd} left"
            )
        p = self._crowd.label_items(rows, answers_per_item=answers_per_item, tag=self.method)
        self.spent_usd += p.spend_usd
        self.n_answers += len(p.answers)
        self.seconds += p.seconds
        self.purchases.append(p)
        return p

    def verified(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(rows, labels) aggregated over every answer bought so far (majority vote)."""
        if not self.purchases:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return aggregate_answers(pd.concat([p.answers for p in self.purchases], ignore_index=True))

    def inspected(self) -> npt.NDArray[np.int64]:
        """(m,) rows shown to the crowd at least once."""
        if not self.purchases:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate([p.requested for p in self.purchases]))

    @property
    def engine(self) -> Any:
        """The cell's database (it holds no gold labels): campaigns' results are read here."""
        return self._crowd.engine

    def run_campaign(
        self,
        name: str,
        config: Any,
        progress: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> uuid.UUID:
        """Run a crowdclean campaign capped at the rest of this method's budget."""
        cap = self.budget_usd - self.spent_usd
        campaign_id = self._crowd.run_campaign(name, cap, config, progress)
        spent = self._crowd.spend_usd(campaign_id)
        if spent > cap:  # the ledger's hard cap makes this impossible; say so loudly if not
            raise CrowdBudgetError(f"{self.method}: campaign spent ${spent} over its ${cap} cap")
        self.spent_usd += spent
        self.n_answers += len(self._crowd.stage.answers(campaign_id))
        return campaign_id
