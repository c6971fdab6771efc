"""The benchmark's rows for the seed papers' methods, each one purchase on shared DPM work.

Every method here sees what the other single-purchase rows see (the gold-free dataset, the
shared DPM fit without crowd labels, the same dollars) and spends through the same
:class:`~orchestrator.bench.crowd.CrowdAccess`; labels are the model's argmax with the crowd's
majority where it answered, like ``uncertainty``, unless said otherwise.

=====================  ====================================================================
``entropy_prop``       Kim's entropy-propagation batch (``entropy_propagation``, c = 1)
                       on the DPM posterior and latent vectors
``diffusion_pick``     today's ``diffusion`` strategy (c = 1), for the comparison
``kim_alc``            Kim's ALC whole: the DPM fitted with the robust update
                       (``ModelConfig.robust_update``) and entropy propagation on it
``alc_relabel``        Active Label Cleaning's protocol: items in CE − H order
                       (``label_noise``), each relabelled one answer at a time until two
                       answers agree (at most 5); labels = delivered, agreed crowd label
                       where reached
``random_relabel``     the same protocol in random order (the paper's baseline)
``ce_h``               single-item picks by CE − H (``label_noise``), 3 answers each
``cincer_pairs``       CINCER: ``budget / 2`` suspicious items by CE − H, each with its most
                       incompatible item (Fisher kernel on a linear head over the DPM
                       latents, ``counter_example``); both items of a pair get 3 answers, so
                       a pair costs two items' dollars
``chef_infl``          CHEF's INFL: picks by the influence of a label change on the evidence
                       loss (``influence``; evidence: the items the DPM is ≥ 0.9 sure of)
``chef_model``         the same picks, the suggested label counted as one annotator and two
                       human answers per item, so the same dollars buy 1.5× the items;
                       labels: majority of the three votes (model and humans alike)
``chef_anchored``      ``chef_model`` with the suggestion shown to the workers: each human
                       answer copies the suggestion with probability ``ANCHORING`` (a
                       simulated anchoring effect, seeded), else is the worker's own answer
=====================  ====================================================================

The pair rows buy each pair's two items as two single-item HITs from the simulator, whose
workers judge an item alone: what the measurement covers is CINCER's *choice* of the second
item, not any help the side-by-side view gives a worker.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

from orchestrator.bench.methods import (
    MethodGroup,
    MethodInput,
    MethodOutput,
    _override,
    _scores_with,
    _stages,
)

ANCHORING = 0.3
"""Probability that a worker shown the model's suggestion answers with it (``chef_anchored``)."""

RELABEL_MAX_ANSWERS = 5
"""Answers after which the relabelling protocol gives up on an item (no two agreed)."""


def _graph_strategy(
    inp: MethodInput, name: str, strategy: str, *, robust: bool
) -> dict[str, MethodOutput]:
    from orchestrator.sampling import SamplingConfig, select_items

    shared = inp.shared
    post, secs = shared.dpm_robust() if robust else shared.dpm_posterior()
    latent, _ = shared.dpm_latent(robust=robust)
    t0 = time.perf_counter()
    n = inp.data.n_items
    sel = select_items(
        latent,
        post,
        inp.data.noisy_labels,
        np.zeros(n, dtype=bool),
        inp.budget_items,
        strategy=strategy,
        n_clusters=1,
        rng=np.random.default_rng([inp.seed, 103]),
        config=SamplingConfig(threads=inp.options.threads),
    )
    rank_s = time.perf_counter() - t0
    inp.crowd.label(sel.indices)
    return _model_plus_crowd(inp, name, post, {"model": secs, "rank": rank_s})


def run_entropy_prop(inp: MethodInput) -> dict[str, MethodOutput]:
    return _graph_strategy(inp, "entropy_prop", "entropy_propagation", robust=False)


def run_diffusion_pick(inp: MethodInput) -> dict[str, MethodOutput]:
    return _graph_strategy(inp, "diffusion_pick", "diffusion", robust=False)


def run_kim_alc(inp: MethodInput) -> dict[str, MethodOutput]:
    return _graph_strategy(inp, "kim_alc", "entropy_propagation", robust=True)


def agreed_label(votes: list[int]) -> int | None:
    """The class at least two answers share and no other class ties, else None."""
    if len(votes) < 2:
        return None
    counts = np.bincount(votes)
    top = int(counts.argmax())
    if counts[top] >= 2 and int((counts == counts[top]).sum()) == 1:
        return top
    return None


def relabel_until_agreement(
    inp: MethodInput, order: npt.NDArray[np.int64], *, max_answers: int = RELABEL_MAX_ANSWERS
) -> tuple[dict[int, list[int]], list[tuple[int, int]]]:
    """Active Label Cleaning's sequential relabelling, in batches through the crowd.

    Items are taken in ``order``; each new item gets two answers, an item whose answers do not
    yet agree (:func:`agreed_label`) gets one more per pass, up to ``max_answers``; passes
    alternate between open items and new items until the budget buys no single answer.
    New items per pass: a third of the answers left, so that disagreements are resolved
    before most of the budget is committed to new items.

    Returns:
        row → the answers' classes, and (answers bought so far, row) when each row's label
        was agreed, in that order.
    """
    votes: dict[int, list[int]] = {}
    resolved: list[tuple[int, int]] = []
    pos = 0
    while True:
        left = inp.crowd.affordable_items(1)
        open_rows = [
            r for r, v in votes.items() if agreed_label(v) is None and len(v) < max_answers
        ]
        if open_rows and left > 0:
            batch, per = np.asarray(open_rows[:left], dtype=np.int64), 1
        elif pos < len(order) and left >= 2:
            take = max(1, min(left // 3 if left >= 6 else left // 2, len(order) - pos))
            batch, per = order[pos : pos + take], 2
            pos += take
        else:
            break
        purchase = inp.crowd.label(batch, answers_per_item=per)
        for row, label in zip(purchase.answers["row"], purchase.answers["label"], strict=True):
            was = agreed_label(votes.get(int(row), []))
            votes.setdefault(int(row), []).append(int(label))
            if was is None and agreed_label(votes[int(row)]) is not None:
                resolved.append((inp.crowd.n_answers, int(row)))
    return votes, resolved


def _relabel(inp: MethodInput, name: str, order: npt.NDArray[np.int64]) -> dict[str, Any]:
    votes, resolved = relabel_until_agreement(inp, order)
    labels = inp.data.noisy_labels.copy()
    n_agreed = 0
    for row, v in votes.items():
        agreed = agreed_label(v)
        if agreed is not None:
            labels[row] = agreed
            n_agreed += 1
    answers = [len(v) for v in votes.values()]
    return {
        name: MethodOutput(
            labels=labels,
            inspected=inp.crowd.inspected(),
            stages=_stages(inp.crowd),
            extra={
                "n_agreed": n_agreed,
                "n_relabelled": len(votes),
                "answers_per_item": round(float(np.mean(answers)), 3) if answers else None,
                "resolved_at_answers": [a for a, _ in resolved],
            },
        )
    }


def run_alc_relabel(inp: MethodInput) -> dict[str, MethodOutput]:
    from orchestrator.sampling.strategies import label_noise_score

    post, _ = inp.shared.dpm_posterior()
    score = label_noise_score(post, inp.data.noisy_labels)
    return _relabel(inp, "alc_relabel", np.argsort(-score, kind="stable").astype(np.int64))


def run_random_relabel(inp: MethodInput) -> dict[str, MethodOutput]:
    rng = np.random.default_rng([inp.seed, 104])
    return _relabel(inp, "random_relabel", rng.permutation(inp.data.n_items).astype(np.int64))


def _picks(
    inp: MethodInput, strategy: str, budget: int
) -> tuple[Any, npt.NDArray[np.float64], float, float]:
    """(Selection, DPM posterior, model seconds, ranking seconds) of ``strategy`` on the
    shared DPM fit, c = 1."""
    from orchestrator.sampling import SamplingConfig, select_items

    post, secs = inp.shared.dpm_posterior()
    latent, _ = inp.shared.dpm_latent()
    t0 = time.perf_counter()
    sel = select_items(
        latent,
        post,
        inp.data.noisy_labels,
        np.zeros(inp.data.n_items, dtype=bool),
        budget,
        strategy=strategy,
        n_clusters=1,
        rng=np.random.default_rng([inp.seed, 105]),
        config=SamplingConfig(threads=inp.options.threads),
    )
    return sel, post, secs, time.perf_counter() - t0


def _model_plus_crowd(
    inp: MethodInput,
    name: str,
    post: npt.NDArray[np.float64],
    stages: dict[str, float],
    *,
    verified: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None = None,
    **extra: Any,
) -> dict[str, MethodOutput]:
    """``post``'s argmax with the crowd's labels where it has one (``verified``: rows and
    classes, default the purchased items' verified labels), as the row ``name``."""
    rows, crowd_labels = verified if verified is not None else inp.crowd.verified()
    return {
        name: MethodOutput(
            labels=_override(post.argmax(1), rows, crowd_labels),
            scores=_scores_with(post, rows, crowd_labels),
            inspected=inp.crowd.inspected(),
            stages=_stages(inp.crowd, **stages),
            extra=extra,
        )
    }


def run_ce_h(inp: MethodInput) -> dict[str, MethodOutput]:
    sel, post, secs, rank_s = _picks(inp, "label_noise", inp.budget_items)
    inp.crowd.label(sel.indices)
    return _model_plus_crowd(inp, "ce_h", post, {"model": secs, "rank": rank_s})


def run_cincer_pairs(inp: MethodInput) -> dict[str, MethodOutput]:
    sel, post, secs, rank_s = _picks(inp, "counter_example", inp.budget_items)
    inp.crowd.label(sel.indices)
    pairs = sel.info["pairs"]
    rows, crowd_labels = inp.crowd.verified()
    crowd = dict(zip(rows.tolist(), crowd_labels.tolist(), strict=True))
    noisy = inp.data.noisy_labels
    # A pair "finds" a wrong label when the crowd overturns either delivered label (no gold).
    found = sum(
        1
        for a, b in pairs
        if crowd.get(a, noisy[a]) != noisy[a] or crowd.get(b, noisy[b]) != noisy[b]
    )
    return _model_plus_crowd(
        inp,
        "cincer_pairs",
        post,
        {"model": secs, "rank": rank_s},
        n_pairs=len(pairs),
        pairs_overturned=found,
        counter_overturned=sum(1 for _, b in pairs if crowd.get(b, noisy[b]) != noisy[b]),
    )


def run_chef_infl(inp: MethodInput) -> dict[str, MethodOutput]:
    sel, post, secs, rank_s = _picks(inp, "influence", inp.budget_items)
    inp.crowd.label(sel.indices)
    return _model_plus_crowd(
        inp, "chef_infl", post, {"model": secs, "rank": rank_s}, n_evidence=sel.info["n_evidence"]
    )


def vote_with_model(
    answers: Any, suggested: dict[int, int], n_classes: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(rows, labels): majority over each row's human answers plus the model's suggestion as
    one more answer (``aggregation.with_model_annotator``); ties to the lowest class."""
    import pandas as pd

    from aggregation import MajorityVote, with_model_annotator

    frame = pd.DataFrame(
        {"task": answers["row"], "worker": answers["worker"].astype(str), "label": answers["label"]}
    )
    model = pd.Series({int(r): int(c) for r, c in suggested.items()})
    frame = with_model_annotator(frame, model, tasks="answered")
    labels = MajorityVote(classes=list(range(n_classes))).fit_predict(frame)
    return labels.index.to_numpy(np.int64), labels.to_numpy(np.int64)


def _run_chef_model(inp: MethodInput, name: str, anchoring: float) -> dict[str, MethodOutput]:
    import pandas as pd

    # Two human answers per item: the budget's 3 · b answers buy 1.5 · b items.
    n_items = inp.crowd.affordable_items(2)
    sel, post, secs, rank_s = _picks(inp, "influence", n_items)
    purchase = inp.crowd.label(sel.indices, answers_per_item=2)
    suggested = {int(r): int(c) for r, c in sel.info["suggested"].items()}
    answers = purchase.answers.copy()
    if anchoring > 0:
        rng = np.random.default_rng([inp.seed, 106])
        copy = rng.random(len(answers)) < anchoring
        answers.loc[copy, "label"] = [suggested[int(r)] for r in answers.loc[copy, "row"]]
    rows, labels = vote_with_model(pd.DataFrame(answers), suggested, inp.data.n_classes)
    split = int((answers.groupby("row")["label"].nunique() > 1).sum())
    return _model_plus_crowd(
        inp,
        name,
        post,
        {"model": secs, "rank": rank_s},
        verified=(rows, labels),
        n_picked=len(sel.indices),
        anchoring=anchoring,
        split=split,  # items whose two human answers disagreed, so the model's vote decided
    )


def run_chef_model(inp: MethodInput) -> dict[str, MethodOutput]:
    return _run_chef_model(inp, "chef_model", 0.0)


def run_chef_anchored(inp: MethodInput) -> dict[str, MethodOutput]:
    return _run_chef_model(inp, "chef_anchored", ANCHORING)


SEED_GROUPS: tuple[MethodGroup, ...] = (
    MethodGroup("entropy_prop", ("entropy_prop",), run_entropy_prop),
    MethodGroup("diffusion_pick", ("diffusion_pick",), run_diffusion_pick),
    MethodGroup("kim_alc", ("kim_alc",), run_kim_alc),
    MethodGroup("alc_relabel", ("alc_relabel",), run_alc_relabel),
    MethodGroup("random_relabel", ("random_relabel",), run_random_relabel),
    MethodGroup("ce_h", ("ce_h",), run_ce_h),
    MethodGroup("cincer_pairs", ("cincer_pairs",), run_cincer_pairs),
    MethodGroup("chef_infl", ("chef_infl",), run_chef_infl),
    MethodGroup("chef_model", ("chef_model",), run_chef_model),
    MethodGroup("chef_anchored", ("chef_anchored",), run_chef_anchored),
)
"""The seed papers' groups, after :data:`orchestrator.bench.methods.GROUPS`."""
