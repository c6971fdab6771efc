"""The benchmark's methods: crowdclean, its ablations, and what a user would pick instead.

**Fair information.** A method receives a :class:`MethodInput`: the dataset *without gold
labels* (features, noisy labels, classes), the cell's budget, shared cached work computed from
the same information, and a :class:`~orchestrator.bench.crowd.CrowdAccess` through which it
buys crowd answers (same simulator, same worker pool, same price for everyone) up to its dollar
budget. Nobody gets free gold; crowdclean's validation round is paid from its budget; a
baseline may use every crowd-verified item it paid for. The one exception is ``oracle``, a
reference row, which is told which labels are wrong (it still pays the crowd to re-check them
and takes the crowd's answer).

Methods come in groups that share one purchase; every variant of a group reports the group's
spend (e.g. ``cleanlab_lr`` and ``cleanlab_lr_replace`` re-check the same items):

=====================  ====================================================================
``original``           the delivered labels
``dpm``                the DPM fitted on features + noisy labels, no crowd (argmax)
``random``             re-check uniformly random items; crowd label replaces the noisy one
``verified_only``      a classifier (LR) trained only on ``random``'s crowd-verified items
``uncertainty``        re-check the items of highest DPM posterior entropy (no clusters, one
                       round); labels = DPM argmax, crowd labels where re-checked
``cleanlab_lr``        re-check the lowest cleanlab self-confidence label-quality scores
                       (out-of-fold LR probabilities); crowd label replaces the noisy one
``cleanlab_lr_replace``  the same plus ``find_label_issues`` flags replaced by predictions
``cleanlab_mlp``       the same two with an MLP (``cleanlab_mlp_replace``)
``activelab``          cleanlab ActiveLab: 3 batches, one answer per item per batch (the same
                       dollars buy 3× as many single answers); labels = CROWDLAB consensus of
                       the noisy label (as one annotator) and the crowd answers
``crowdclean``         a whole campaign (validation round, rounds of model → clustered sample →
                       crowd → majority vote → propagation), β, c, p tuned on validation
``crowdclean_noprop``  the same campaign's labels with the propagated labels left out
``crowdclean_argmax``  diagnostic: the same campaign's final model argmax everywhere (no
                       relabel threshold, no propagation), crowd labels where verified
``crowdclean_c1``      a campaign with c = 1 (no clusters in sampling or propagation)
``crowdclean_lean``    diagnostic (not in the default run): a campaign without the 15 % reserve
                       for adaptive extra answers, so the whole budget buys first answers
``oracle``             re-check only truly wrong items (reference ceiling of re-checking)
=====================  ====================================================================

**Class scores for AUC.** Methods with a model report its class probabilities, with one-hot
rows for items whose label came from the crowd (or propagation); label-only methods report
one-hot rows of their labels (see :func:`orchestrator.bench.metrics.macro_auc`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from orchestrator.bench.crowd import CrowdAccess
from orchestrator.bench.metrics import one_hot
from orchestrator.bench.shared import SharedWork, full_proba, make_classifier
from orchestrator.data.dataset import LabeledData
from orchestrator.storage.artifacts import open_artifact_dir

if TYPE_CHECKING:
    from orchestrator.campaigns.cleaned_labels import CleanedLabels
    from orchestrator.db.models import Round
    from orchestrator.storage.artifacts import ArtifactDir


@dataclass(frozen=True)
class MethodOptions:
    """Knobs of the crowdclean campaigns (see ``crowdclean bench --help``)."""

    rounds: int = 2
    # None: the product's ModelConfig defaults (the campaign is measured as shipped).
    beta_grid: tuple[float, ...] | None = None
    search_epochs: int | None = None
    threads: int = 1
    activelab_batches: int = 3


@dataclass(frozen=True)
class MethodInput:
    """Everything a method may use. Deliberately has no gold labels.

    Attributes:
        data: the dataset with ``gold`` all -1 (features, noisy labels, classes, ids).
        crowd: the only way to learn true classes: paid crowd answers.
        shared: cached DPM / cross-validated probabilities on the same information.
        budget_items: items the budget pays for at 3 answers each.
        budget_usd: the dollar budget (fees included).
        seed: seeds the method's own randomness.
        options: campaign knobs.
    """

    data: LabeledData
    crowd: CrowdAccess
    shared: SharedWork
    budget_items: int
    budget_usd: Decimal
    seed: int
    options: MethodOptions = field(default_factory=MethodOptions)

    def __post_init__(self) -> None:
        if (self.data.gold != -1).any():
            raise ValueError("a method's input must not carry gold labels")


@dataclass
class MethodOutput:
    """One method's cleaned labels and what it cost.

    Attributes:
        labels: (n,) int64 cleaned class per item.
        scores: (n, K) class scores for AUC (None: one-hot of ``labels``).
        inspected: (m,) rows shown to the crowd.
        stages: stage name → seconds (shared cached work counted at its measured cost).
        extra: free-form details for the row (chosen β/c/p, counts...).
    """

    labels: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64] | None = None
    inspected: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    stages: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


GroupFn = Callable[..., dict[str, MethodOutput]]


@dataclass(frozen=True)
class MethodGroup:
    """Methods computed together from one purchase. ``uses_gold`` only for ``oracle``."""

    name: str
    variants: tuple[str, ...]
    run: GroupFn
    uses_gold: bool = False


# --------------------------------------------------------------------------- helpers


def _override(
    labels: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], crowd: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    out = np.asarray(labels, dtype=np.int64).copy()
    out[rows] = crowd
    return out


def _scores_with(
    probs: npt.NDArray[np.float64], rows: npt.NDArray[np.int64], labels: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    out = np.asarray(probs, dtype=np.float64).copy()
    out[rows] = one_hot(labels, out.shape[1])
    return out


def _lowest(score: npt.NDArray[np.floating], k: int) -> npt.NDArray[np.int64]:
    """Rows of the ``k`` lowest scores (stable: ties by row)."""
    return np.sort(np.argsort(score, kind="stable")[:k]).astype(np.int64)


def _stages(crowd: CrowdAccess, **other: float) -> dict[str, float]:
    return {**{k: round(v, 3) for k, v in other.items()}, "crowd": round(crowd.seconds, 3)}


# --------------------------------------------------------------------------- groups


def run_original(inp: MethodInput) -> dict[str, MethodOutput]:
    return {"original": MethodOutput(labels=inp.data.noisy_labels.copy())}


def run_dpm(inp: MethodInput) -> dict[str, MethodOutput]:
    post, secs = inp.shared.dpm_posterior()
    return {
        "dpm": MethodOutput(
            labels=post.argmax(1).astype(np.int64), scores=post, stages={"model": round(secs, 3)}
        )
    }


def run_random(inp: MethodInput) -> dict[str, MethodOutput]:
    rng = np.random.default_rng([inp.seed, 101])
    n = inp.data.n_items
    picks = np.sort(rng.choice(n, size=min(inp.budget_items, n), replace=False))
    inp.crowd.label(picks)
    rows, crowd_labels = inp.crowd.verified()
    out = {
        "random": MethodOutput(
            labels=_override(inp.data.noisy_labels, rows, crowd_labels),
            inspected=inp.crowd.inspected(),
            stages=_stages(inp.crowd),
        )
    }
    t0 = time.perf_counter()
    k = inp.data.n_classes
    if len(np.unique(crowd_labels)) >= 2:
        clf = make_classifier("lr", seed=inp.seed, feature_kind=inp.data.feature_kind)
        clf.fit(inp.data.features[rows], crowd_labels)
        probs = full_proba(clf, inp.data.features, k)
    else:  # one class verified (or none): the best a classifier can say is that class
        probs = np.zeros((n, k))
        probs[:, int(crowd_labels[0]) if len(crowd_labels) else 0] = 1.0
    out["verified_only"] = MethodOutput(
        labels=_override(probs.argmax(1), rows, crowd_labels),
        scores=_scores_with(probs, rows, crowd_labels),
        inspected=inp.crowd.inspected(),
        stages=_stages(inp.crowd, fit=time.perf_counter() - t0),
        extra={"n_train": len(rows)},
    )
    return out


def run_uncertainty(inp: MethodInput) -> dict[str, MethodOutput]:
    from orchestrator.sampling.strategies import entropy

    post, secs = inp.shared.dpm_posterior()
    picks = _lowest(-entropy(post), inp.budget_items)
    inp.crowd.label(picks)
    rows, crowd_labels = inp.crowd.verified()
    return {
        "uncertainty": MethodOutput(
            labels=_override(post.argmax(1), rows, crowd_labels),
            scores=_scores_with(post, rows, crowd_labels),
            inspected=inp.crowd.inspected(),
            stages=_stages(inp.crowd, model=secs),
        )
    }


def _import_cleanlab() -> Any:
    try:
        import cleanlab
    except ImportError as exc:
        raise ImportError(
            "the cleanlab baselines need cleanlab: pip install 'crowdclean[cleanlab]'"
        ) from exc
    return cleanlab


def _run_cleanlab(inp: MethodInput, model: str) -> dict[str, MethodOutput]:
    _import_cleanlab()
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    probs, secs = inp.shared.pred_probs(model)
    t0 = time.perf_counter()
    noisy = inp.data.noisy_labels
    quality = get_label_quality_scores(noisy, probs, method="self_confidence")
    issues = find_label_issues(noisy, probs)
    rank_s = time.perf_counter() - t0
    inp.crowd.label(_lowest(quality, inp.budget_items))
    rows, crowd_labels = inp.crowd.verified()
    name = f"cleanlab_{model}"
    replaced = np.where(issues, probs.argmax(1), noisy)
    return {
        name: MethodOutput(
            labels=_override(noisy, rows, crowd_labels),
            inspected=inp.crowd.inspected(),
            stages=_stages(inp.crowd, pred_probs=secs, rank=rank_s),
            extra={"n_flagged": int(issues.sum())},
        ),
        f"{name}_replace": MethodOutput(
            labels=_override(replaced, rows, crowd_labels),
            scores=_scores_with(probs, rows, crowd_labels),
            inspected=inp.crowd.inspected(),
            stages=_stages(inp.crowd, pred_probs=secs, rank=rank_s),
            extra={"n_flagged": int(issues.sum())},
        ),
    }


def run_cleanlab_lr(inp: MethodInput) -> dict[str, MethodOutput]:
    return _run_cleanlab(inp, "lr")


def run_cleanlab_mlp(inp: MethodInput) -> dict[str, MethodOutput]:
    return _run_cleanlab(inp, "mlp")


def _multiannotator_frame(noisy: npt.NDArray[np.int64], answers: list[Any]) -> Any:
    """(n, 1 + workers) frame: the noisy label as annotator ``noisy``, NaN where unanswered."""
    import pandas as pd

    frame = pd.DataFrame({"noisy": noisy.astype(float)})
    if answers:
        all_answers = pd.concat(answers, ignore_index=True)
        # A worker answering the same item twice (two batches) keeps the later answer.
        wide = all_answers.pivot_table(
            index="row", columns="worker", values="label", aggfunc="last"
        )
        wide = wide.reindex(range(len(noisy)))
        wide.columns = [f"w_{c}" for c in wide.columns]
        frame = pd.concat([frame, wide], axis=1)
    return frame


def run_activelab(inp: MethodInput) -> dict[str, MethodOutput]:
    _import_cleanlab()
    from cleanlab.multiannotator import (
        get_active_learning_scores,
        get_label_quality_multiannotator,
    )

    probs, secs = inp.shared.pred_probs("lr")
    noisy = inp.data.noisy_labels
    batches = max(1, inp.options.activelab_batches)
    total = inp.budget_items * 3  # single answers the budget pays for
    per_batch = [total // batches + (1 if b < total % batches else 0) for b in range(batches)]
    rank_s = 0.0
    for size in per_batch:
        if size == 0:
            continue
        t0 = time.perf_counter()
        frame = _multiannotator_frame(noisy, [p.answers for p in inp.crowd.purchases])
        scores, _ = get_active_learning_scores(frame, probs)
        rank_s += time.perf_counter() - t0
        inp.crowd.label(_lowest(np.asarray(scores), size), answers_per_item=1)
    t0 = time.perf_counter()
    frame = _multiannotator_frame(noisy, [p.answers for p in inp.crowd.purchases])
    result = get_label_quality_multiannotator(frame, probs, verbose=False)
    consensus = np.asarray(result["label_quality"]["consensus_label"], dtype=np.int64)
    rank_s += time.perf_counter() - t0
    touched = inp.crowd.inspected()
    return {
        "activelab": MethodOutput(
            labels=consensus,
            scores=_scores_with(probs, touched, consensus[touched]),
            inspected=touched,
            stages=_stages(inp.crowd, pred_probs=secs, rank=rank_s),
            extra={"n_answers_single": int(inp.crowd.n_answers)},
        )
    }


def run_oracle(inp: MethodInput, *, gold: npt.NDArray[np.int64]) -> dict[str, MethodOutput]:
    rng = np.random.default_rng([inp.seed, 102])
    wrong = np.flatnonzero(inp.data.noisy_labels != gold)
    picks = np.sort(rng.permutation(wrong)[: inp.budget_items])
    inp.crowd.label(picks)
    rows, crowd_labels = inp.crowd.verified()
    return {
        "oracle": MethodOutput(
            labels=_override(inp.data.noisy_labels, rows, crowd_labels),
            inspected=inp.crowd.inspected(),
            stages=_stages(inp.crowd),
        )
    }


# --------------------------------------------------------------------------- crowdclean


_EVENT_STAGE = {
    "model_fitted": "model",
    "sampled": "sample",
    "published": "publish",
    "polled": "collect",
    "more_answers": "collect",
    "aggregated": "aggregate",
    "propagated": "propagate",
    "completed": "final_model",
}


def _round_summary(r: Round) -> dict[str, Any]:
    """One round's entry in a campaign row's ``rounds`` detail (from the round's metrics)."""
    return {
        "round": r.number,
        "n": r.n_selected,
        "strategy": r.strategy,
        "c": r.metrics.get("n_clusters"),
        "beta": r.metrics.get("beta"),
        "beta_search": r.metrics.get("beta_search"),
        "propagated": r.metrics.get("propagated"),
        "regions_acted": len(r.metrics.get("propagation_regions") or []),
        "picks": r.metrics.get("picks"),
        "relabel_evidence": r.metrics.get("relabel_evidence"),
    }


def _rounds_and_final(engine: Any, campaign_id: Any) -> tuple[list[dict[str, Any]], ArtifactDir]:
    """Each round's summary, in round order, and the folder of the campaign's final model."""
    from sqlmodel import Session, col, select

    from orchestrator.db.models import Campaign, Round

    with Session(engine) as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        rounds = s.exec(
            select(Round).where(Round.campaign_id == campaign_id).order_by(col(Round.number))
        ).all()
        final = open_artifact_dir(campaign.artifact_dir).child("final")
        return [_round_summary(r) for r in rounds], final


def _labels_without_propagation(
    cleaned: CleanedLabels, post: npt.NDArray[np.float64], original: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """(n,) the cleaned labels had propagation been off: a propagated row falls back to the
    model-relabel rule (``post`` over the threshold), else to its ``original`` label."""
    noprop = cleaned.labels.copy()
    prop = np.flatnonzero(cleaned.sources == "propagated")
    if cleaned.threshold is not None:
        pred, conf = post.argmax(1), post.max(1)
        relabel = (conf >= cleaned.threshold) & (pred != original)
        noprop[prop] = np.where(relabel[prop], pred[prop], original[prop])
    else:
        noprop[prop] = original[prop]
    return noprop


def campaign_outputs(
    engine: Any, data: LabeledData, campaign_id: Any, name: str, stages: dict[str, float]
) -> dict[str, MethodOutput]:
    """The outputs of a finished crowdclean campaign (and, for ``crowdclean``, its variants).

    ``data`` is the gold-free dataset the campaign ran on; ``engine`` its database.
    """
    from orchestrator.campaigns.cleaned_labels import cleaned_labels

    cleaned = cleaned_labels(engine, campaign_id)
    per_round, final = _rounds_and_final(engine, campaign_id)
    post = (
        final.load_npy("posterior.npy")
        if final.exists("posterior.npy")
        else one_hot(cleaned.labels, data.n_classes)
    )
    sources = cleaned.sources
    crowd_rows = np.flatnonzero(sources == "crowd")
    fixed = np.flatnonzero((sources == "crowd") | (sources == "propagated"))
    prop = np.flatnonzero(sources == "propagated")
    extra = {
        "rounds": per_round,
        "relabel_threshold": cleaned.threshold,
        "n_propagated": len(prop),
        "n_model_relabelled": int((sources == "model").sum()),
        "label_sources": {str(k): int((sources == k).sum()) for k in np.unique(sources)},
        # Rows per source, for protocol._score_row's precision against gold (not stored).
        "_rows_by_source": {
            "propagated": prop.tolist(),
            "model": np.flatnonzero(sources == "model").tolist(),
        },
    }
    out = {
        name: MethodOutput(
            labels=cleaned.labels,
            scores=_scores_with(post, fixed, cleaned.labels[fixed]),
            inspected=crowd_rows,
            stages=stages,
            extra=extra,
        )
    }
    if name == "crowdclean":
        # Diagnostics without propagation: the final model's argmax everywhere (no relabel
        # threshold either), and the cleaned labels with the propagated ones left out; both
        # with crowd labels where verified.
        crowd_scores = _scores_with(post, crowd_rows, cleaned.labels[crowd_rows])
        variants = {
            "crowdclean_argmax": _override(post.argmax(1), crowd_rows, cleaned.labels[crowd_rows]),
            "crowdclean_noprop": _labels_without_propagation(cleaned, post, data.noisy_labels),
        }
        for variant, labels in variants.items():
            out[variant] = MethodOutput(
                labels=labels,
                scores=crowd_scores,
                inspected=crowd_rows,
                stages=stages,
                extra={**extra, "n_propagated": 0},
            )
    return out


def _run_campaign(
    inp: MethodInput, name: str, n_clusters: int | None, **overrides: Any
) -> dict[str, MethodOutput]:
    from orchestrator.campaigns.config import CampaignConfig
    from orchestrator.crowd.config import CrowdConfig
    from orchestrator.model.config import ModelConfig

    opts = inp.options
    config = CampaignConfig(
        **overrides,
        rounds=opts.rounds,
        seed=inp.seed,
        poll_interval_s=0.02,
        n_clusters=n_clusters,
        aggregator="majority_vote",  # see orchestrator.bench.crowd.aggregate_answers
        crowd=CrowdConfig(gold_rate=0.0),  # gold-check HITs would be free gold
        model=ModelConfig.model_validate(
            {
                "torch_threads": opts.threads,
                **({} if opts.beta_grid is None else {"beta_grid": list(opts.beta_grid)}),
                **({} if opts.search_epochs is None else {"search_epochs": opts.search_epochs}),
            }
        ),
    )
    stages: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(event: str, _info: dict[str, Any]) -> None:
        now = time.perf_counter()
        stage = _EVENT_STAGE.get(event)
        if stage is not None:
            stages[stage] = round(stages.get(stage, 0.0) + now - last[0], 3)
        last[0] = now

    t0 = time.perf_counter()
    campaign_id = inp.crowd.run_campaign(name, config, progress)
    inp.crowd.seconds += time.perf_counter() - t0
    return campaign_outputs(inp.crowd.engine, inp.data, campaign_id, name, stages)


def run_crowdclean(inp: MethodInput) -> dict[str, MethodOutput]:
    return _run_campaign(inp, "crowdclean", None)


def run_crowdclean_c1(inp: MethodInput) -> dict[str, MethodOutput]:
    return _run_campaign(inp, "crowdclean_c1", 1)


def run_crowdclean_lean(inp: MethodInput) -> dict[str, MethodOutput]:
    # Every dollar on first answers: no reserve for adaptive extra answers (3 per item).
    return _run_campaign(inp, "crowdclean_lean", None, extra_answer_reserve=0.0, max_answers=3)


GROUPS: tuple[MethodGroup, ...] = (
    MethodGroup("original", ("original",), run_original),
    MethodGroup("dpm", ("dpm",), run_dpm),
    MethodGroup("random", ("random", "verified_only"), run_random),
    MethodGroup("uncertainty", ("uncertainty",), run_uncertainty),
    MethodGroup("cleanlab_lr", ("cleanlab_lr", "cleanlab_lr_replace"), run_cleanlab_lr),
    MethodGroup("cleanlab_mlp", ("cleanlab_mlp", "cleanlab_mlp_replace"), run_cleanlab_mlp),
    MethodGroup("activelab", ("activelab",), run_activelab),
    MethodGroup(
        "crowdclean",
        ("crowdclean", "crowdclean_noprop", "crowdclean_argmax"),
        run_crowdclean,
    ),
    MethodGroup("crowdclean_c1", ("crowdclean_c1",), run_crowdclean_c1),
    MethodGroup("crowdclean_lean", ("crowdclean_lean",), run_crowdclean_lean),
    MethodGroup("oracle", ("oracle",), run_oracle, uses_gold=True),
)
METHODS: dict[str, MethodGroup] = {v: g for g in GROUPS for v in g.variants}
"""Method name → the group that computes it."""


def all_groups() -> tuple[MethodGroup, ...]:
    """:data:`GROUPS` and then the seed papers' groups
    (:data:`orchestrator.bench.seed_methods.SEED_GROUPS`, imported here: that module builds on
    this one's types)."""
    from orchestrator.bench.seed_methods import SEED_GROUPS

    return (*GROUPS, *SEED_GROUPS)


def groups_for(methods: list[str]) -> list[MethodGroup]:
    """The groups needed for ``methods`` (in registry order); unknown names raise."""
    groups = all_groups()
    by_variant = {v: g for g in groups for v in g.variants}
    unknown = [m for m in methods if m not in by_variant]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {', '.join(by_variant)}")
    wanted = {by_variant[m].name for m in methods}
    return [g for g in groups if g.name in wanted]
