"""Scores of each worker: accuracy, confusion, agreement, spammer detection, gold scoring.

(Not the campaign's quality stop, which is ``orchestrator.campaigns.accuracy``.)

These are the numbers the MTurk layer acts on (blocking, approvals, bonuses), so every
function states exactly what it counts. All take the answers frame of
:mod:`aggregation` (columns ``task``, ``worker``, ``label``; NaN labels dropped;
``duplicates`` policy as there) and a *reference* for the true labels, which is either

* a Series task → label (hard labels: gold, or an aggregator's ``labels_``), or
* a DataFrame task × label of probabilities (an aggregator's ``probas_``; soft counts).

Answers on tasks absent from the reference are not scored (they still count in
``n_answers`` and ``agreement``).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Literal, TypeAlias

import numpy as np
import pandas as pd

from aggregation._answers import (
    DuplicatePolicy,
    EncodedAnswers,
    FloatArray,
    check_answers_frame,
    encode_answers,
    normalize_label_values,
)
from aggregation.proportions import wilson_bounds

Reference: TypeAlias = pd.Series | pd.DataFrame


def _union_classes(*groups: pd.Index) -> pd.Index:
    values: list[Hashable] = []
    seen: set[Hashable] = set()
    for group in groups:
        for v in group:
            if v not in seen:
                seen.add(v)
                values.append(v)
    try:
        return pd.Index(sorted(values))  # type: ignore[type-var]
    except TypeError:
        return pd.Index(values)


def _encode_with_reference(
    frame: pd.DataFrame, reference: Reference, duplicates: DuplicatePolicy
) -> tuple[EncodedAnswers, FloatArray, np.ndarray]:
    """Encode answers on a class set covering the reference.

    Returns:
        enc: encoded answers;
        ref: ``(n_tasks, K)`` reference distribution per task (zeros where unknown);
        has_ref: ``(n_tasks,)`` bool, task is in the reference.
    """
    data = check_answers_frame(frame)
    answer_labels = pd.Index(pd.unique(normalize_label_values(data["label"].dropna())))
    if isinstance(reference, pd.DataFrame):
        if not reference.index.is_unique:
            raise ValueError("reference probabilities have duplicate tasks in their index")
        ref_labels = pd.Index(reference.columns)
    elif isinstance(reference, pd.Series):
        reference = reference[reference.notna()]
        if not reference.index.is_unique:
            raise ValueError("reference labels have duplicate tasks in their index")
        reference = normalize_label_values(reference)
        ref_labels = pd.Index(pd.unique(reference))
    else:
        raise ValueError(
            "reference must be a Series task → label or a DataFrame task × label of "
            f"probabilities, got {type(reference).__name__}"
        )
    classes = _union_classes(answer_labels, ref_labels)
    enc = encode_answers(data, duplicates=duplicates, classes=classes)
    k = enc.n_classes
    pos = np.asarray(enc.tasks.get_indexer(reference.index), dtype=np.int64)
    known = pos >= 0
    ref = np.zeros((enc.n_tasks, k), dtype=np.float64)
    if isinstance(reference, pd.DataFrame):
        mat = reference.reindex(columns=enc.classes).to_numpy(dtype=np.float64, na_value=0.0)
        if (mat < 0).any():
            raise ValueError("reference probabilities must be non-negative")
        sums = mat.sum(axis=1, keepdims=True)
        mat = np.where(sums > 0, mat / np.where(sums > 0, sums, 1.0), 0.0)
        ref[pos[known]] = mat[known]
    else:
        codes = np.asarray(enc.classes.get_indexer(pd.Index(reference)), dtype=np.int64)
        ref[pos[known], codes[known]] = 1.0
    has_ref = np.zeros(enc.n_tasks, dtype=bool)
    has_ref[pos[known]] = True
    return enc, ref, has_ref


def _confusion_array(enc: EncodedAnswers, ref: FloatArray, has_ref: np.ndarray) -> FloatArray:
    """``C[w, y, z]`` = (soft) number of scored answers ``y`` of ``w`` whose truth is ``z``."""
    k = enc.n_classes
    scored = has_ref[enc.task]
    key = enc.worker[scored] * k + enc.label[scored]
    weights = ref[enc.task[scored]]
    out = np.empty((enc.n_workers * k, k), dtype=np.float64)
    for z in range(k):
        out[:, z] = np.bincount(key, weights=weights[:, z], minlength=enc.n_workers * k)
    return out.reshape(enc.n_workers, k, k)


def worker_confusion(
    frame: pd.DataFrame, reference: Reference, *, duplicates: DuplicatePolicy = "last"
) -> pd.DataFrame:
    """Per-worker confusion counts against a reference.

    Args:
        frame: answers frame.
        reference: Series task → label or DataFrame task × label probabilities.
        duplicates: policy for repeated ``(task, worker)`` rows.

    Returns:
        ``(n_workers·K, K)`` DataFrame indexed by ``(worker, label)`` – the label the worker
        gave – with one column per ``true_label``: the number of scored answers (soft counts
        for a probability reference). Same layout as ``DawidSkene.errors_`` but counts, not
        probabilities. ``K`` covers the labels of both the answers and the reference.
    """
    enc, ref, has_ref = _encode_with_reference(frame, reference, duplicates)
    conf = _confusion_array(enc, ref, has_ref)
    k = enc.n_classes
    return pd.DataFrame(
        conf.reshape(enc.n_workers * k, k),
        index=pd.MultiIndex.from_product([enc.workers, enc.classes], names=["worker", "label"]),
        columns=pd.Index(enc.classes, name="true_label"),
    )


def _spammer_scores(conf: FloatArray) -> FloatArray:
    """``(W, K, K)`` confusion (counts or probabilities) → ``(W,)`` spammer scores."""
    n_workers, _, k = conf.shape
    mass = conf.sum(axis=1)  # (W, K_true)
    cols = conf / np.where(mass > 0, mass, 1.0)[:, None, :]
    supported = mass > 0
    tv_sum = np.zeros(n_workers)
    n_pairs = np.zeros(n_workers)
    for z in range(k - 1):
        # total variation between column z and every later column, (W, K - z - 1)
        tv = 0.5 * np.abs(cols[:, :, z : z + 1] - cols[:, :, z + 1 :]).sum(axis=1)
        both = supported[:, z : z + 1] & supported[:, z + 1 :]
        tv_sum += np.where(both, tv, 0.0).sum(axis=1)
        n_pairs += both.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_pairs > 0, 1.0 - tv_sum / np.maximum(n_pairs, 1), np.nan)


def _kappas(conf: FloatArray) -> FloatArray:
    """``(W, K, K)`` confusion counts → ``(W,)`` Cohen's kappa between answers and truth."""
    n = conf.sum(axis=(1, 2))
    safe_n = np.where(n > 0, n, 1.0)
    observed = np.trace(conf, axis1=1, axis2=2) / safe_n
    answers = conf.sum(axis=2) / safe_n[:, None]  # (W, K) how often each label is given
    truths = conf.sum(axis=1) / safe_n[:, None]  # (W, K) how often each class is true
    chance = (answers * truths).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = (observed - chance) / (1.0 - chance)
    return np.where((n > 0) & (chance < 1.0 - 1e-12), kappa, np.nan)


def spammer_score(confusion: pd.DataFrame) -> pd.Series:
    """How much a worker's answers ignore the truth, from their confusion matrix.

    For each worker, let ``P[:, z]`` be the distribution of the labels they give when the
    true class is ``z`` (a column of the confusion matrix, normalised). A spammer – one who
    answers at random, always gives the same label, or follows any pattern unrelated to the
    item – has identical columns. The score is

        ``1 - mean_{z < z'} TV(P[:, z], P[:, z'])``,  ``TV(p, q) = ½ Σ_y |p_y - q_y|``,

    over pairs of true classes that occur among the worker's scored answers. It lies in
    ``[0, 1]``: 1 = answers independent of the truth (spammer), 0 = every true class gets a
    distinct, deterministic answer (a perfect worker *or* a systematic label-swapper – use
    accuracy to tell them apart). For ``K = 2`` it equals ``1 - |sensitivity +
    specificity - 1|`` (Raykar & Yu 2012). Estimated from few answers the columns are noisy
    and the score is biased *downwards* (a random worker with ``n`` answers per class
    scores about ``1 - O(1/sqrt(n))``), so require a minimum number of answers before
    acting on it.

    Args:
        confusion: DataFrame indexed by ``(worker, label)`` with one column per true label,
            counts or probabilities (e.g. :func:`worker_confusion` or ``DawidSkene.errors_``).

    Returns:
        Series worker → score (NaN when fewer than two true classes have any mass).
    """
    if not isinstance(confusion, pd.DataFrame) or confusion.index.nlevels != 2:
        raise ValueError(
            "confusion must be a DataFrame indexed by (worker, label) with one column per "
            "true label"
        )
    workers = pd.Index(pd.unique(confusion.index.get_level_values(0)), name="worker")
    labels = pd.Index(pd.unique(confusion.index.get_level_values(1)))
    full = confusion.reindex(
        pd.MultiIndex.from_product([workers, labels]), fill_value=0.0
    ).to_numpy(dtype=np.float64, na_value=0.0)
    if (full < 0).any():
        raise ValueError("confusion must be non-negative")
    conf = full.reshape(len(workers), len(labels), confusion.shape[1])
    return pd.Series(_spammer_scores(conf), index=workers, name="spammer_score")


def worker_quality(
    frame: pd.DataFrame,
    reference: Reference,
    *,
    spammer_threshold: float = 0.8,
    kappa_threshold: float = 0.1,
    min_answers: int = 10,
    duplicates: DuplicatePolicy = "last",
) -> pd.DataFrame:
    """One row of quality figures per worker.

    Args:
        frame: answers frame.
        reference: Series task → label (hard) or DataFrame task × label (soft), typically
            an aggregator's ``labels_`` / ``probas_`` or gold labels.
        spammer_threshold: flag when ``spammer_score >= spammer_threshold`` ...
        kappa_threshold: ... or when ``kappa <= kappa_threshold`` ...
        min_answers: ... provided the worker has at least this many scored answers.
        duplicates: policy for repeated ``(task, worker)`` rows.

    Returns:
        DataFrame indexed by ``worker`` (sorted) with columns

        * ``n_answers`` – answers given (after NaN/duplicate handling);
        * ``n_scored`` – of those, answers on tasks present in ``reference``;
        * ``accuracy`` – share of scored answers equal to the reference label (for a
          probability reference: mean probability of the given label); NaN if unscored;
        * ``agreement`` – share of (this answer, other worker's answer on the same task)
          pairs that agree; NaN if the worker never shares a task;
        * ``spammer_score`` – see :func:`spammer_score` (from the scored answers);
        * ``kappa`` – Cohen's kappa between the worker's answers and the reference,
          ``(accuracy - chance) / (1 - chance)`` with ``chance = Σ_k P(worker says k)
          P(truth is k)`` over the scored answers: ≈ 0 for any answering that ignores the
          item (random or constant), 1 for a perfect worker, < 0 for systematic swapping;
          NaN when undefined (no scored answer, or a single class everywhere). Being one
          number it stays reliable with few answers per class, where ``spammer_score``
          is biased low (e.g. ``K = 10`` with 50 answers);
        * ``is_spammer`` – ``n_scored >= min_answers`` and (``spammer_score >=
          spammer_threshold`` or ``kappa <= kappa_threshold``). It therefore also flags
          systematic label-swappers (informative but harmful as answers).
    """
    if not 0.0 <= spammer_threshold <= 1.0:
        raise ValueError(f"spammer_threshold must be in [0, 1], got {spammer_threshold!r}")
    if not -1.0 <= kappa_threshold <= 1.0:
        raise ValueError(f"kappa_threshold must be in [-1, 1], got {kappa_threshold!r}")
    if min_answers < 0:
        raise ValueError(f"min_answers must be >= 0, got {min_answers!r}")
    enc, ref, has_ref = _encode_with_reference(frame, reference, duplicates)
    nw, k = enc.n_workers, enc.n_classes
    n_answers = np.bincount(enc.worker, minlength=nw)
    scored = has_ref[enc.task]
    n_scored = np.bincount(enc.worker, weights=scored.astype(np.float64), minlength=nw)
    hit = ref[enc.task, enc.label] if enc.n_answers else np.zeros(0)
    correct = np.bincount(enc.worker, weights=hit, minlength=nw)

    votes = np.bincount(enc.task * k + enc.label, minlength=enc.n_tasks * k).reshape(-1, k)
    per_task = votes.sum(axis=1)
    others = (per_task[enc.task] - 1).astype(np.float64)
    agree = (votes[enc.task, enc.label] - 1).astype(np.float64) if enc.n_answers else others
    pairs = np.bincount(enc.worker, weights=others, minlength=nw)
    agreed = np.bincount(enc.worker, weights=agree, minlength=nw)

    conf = _confusion_array(enc, ref, has_ref)
    spam = _spammer_scores(conf)
    kappa = _kappas(conf)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_scored > 0, correct / np.maximum(n_scored, 1), np.nan)
        agreement = np.where(pairs > 0, agreed / np.maximum(pairs, 1), np.nan)
    is_spammer = (
        (np.nan_to_num(spam, nan=-1.0) >= spammer_threshold)
        | (np.nan_to_num(kappa, nan=np.inf) <= kappa_threshold)
    ) & (n_scored >= min_answers)
    return pd.DataFrame(
        {
            "n_answers": n_answers.astype(np.int64),
            "n_scored": n_scored.astype(np.int64),
            "accuracy": accuracy,
            "agreement": agreement,
            "spammer_score": spam,
            "kappa": kappa,
            "is_spammer": is_spammer,
        },
        index=pd.Index(enc.workers, name="worker"),
    )


def _interval(
    k: FloatArray, n: FloatArray, confidence: float, method: str
) -> tuple[FloatArray, FloatArray]:
    from scipy import stats  # lazily: scipy.stats is slow to import

    alpha = 1.0 - confidence
    if method == "wilson":
        low, high = wilson_bounds(k, n, float(stats.norm.ppf(1.0 - alpha / 2.0)))
    else:  # jeffreys: equal-tailed Beta(k + 1/2, n - k + 1/2) interval
        low = np.where(k > 0, stats.beta.ppf(alpha / 2.0, k + 0.5, n - k + 0.5), 0.0)
        high = np.where(k < n, stats.beta.ppf(1.0 - alpha / 2.0, k + 0.5, n - k + 0.5), 1.0)
    empty = n == 0
    return np.where(empty, 0.0, low), np.where(empty, 1.0, high)


def score_on_gold(
    frame: pd.DataFrame,
    gold: pd.Series,
    *,
    confidence: float = 0.95,
    method: Literal["wilson", "jeffreys"] = "wilson",
    duplicates: DuplicatePolicy = "last",
) -> pd.DataFrame:
    """Score every worker on the gold (known-answer) tasks they answered.

    Args:
        frame: answers frame.
        gold: Series task → correct label; NaN entries are ignored. A gold label that no
            worker gave is fine (every answer to that task is simply wrong).
        confidence: two-sided level of the accuracy interval, in ``(0, 1)``.
        method: ``"wilson"`` (Wilson score interval) or ``"jeffreys"`` (equal-tailed
            Beta(k + ½, n − k + ½) interval, with the usual 0 / 1 ends at k = 0 / n).
        duplicates: policy for repeated ``(task, worker)`` rows.

    Returns:
        DataFrame indexed by ``worker`` (every worker of ``frame``, sorted) with columns
        ``n_gold`` (gold tasks answered), ``n_correct``, ``accuracy`` (NaN when
        ``n_gold == 0``), ``ci_low``, ``ci_high`` (``0`` and ``1`` when ``n_gold == 0``).
        A blocking rule such as ``ci_high < 0.6`` only fires when the
        evidence is strong enough.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if method not in ("wilson", "jeffreys"):
        raise ValueError(f"method must be 'wilson' or 'jeffreys', got {method!r}")
    if not isinstance(gold, pd.Series):
        raise ValueError(f"gold must be a Series task → label, got {type(gold).__name__}")
    enc, ref, has_ref = _encode_with_reference(frame, gold, duplicates)
    nw = enc.n_workers
    scored = has_ref[enc.task].astype(np.float64)
    hit = ref[enc.task, enc.label] if enc.n_answers else np.zeros(0)
    n_gold = np.bincount(enc.worker, weights=scored, minlength=nw).astype(np.float64)
    n_correct = np.bincount(enc.worker, weights=hit, minlength=nw).astype(np.float64)
    low, high = _interval(n_correct, n_gold, confidence, method)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_gold > 0, n_correct / np.maximum(n_gold, 1), np.nan)
    return pd.DataFrame(
        {
            "n_gold": n_gold.astype(np.int64),
            "n_correct": n_correct.astype(np.int64),
            "accuracy": accuracy,
            "ci_low": low,
            "ci_high": high,
        },
        index=pd.Index(enc.workers, name="worker"),
    )
