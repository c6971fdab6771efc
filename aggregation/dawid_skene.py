"""Dawid–Skene and one-coin Dawid–Skene, vectorised EM in numpy/scipy.sparse.

Model (Dawid & Skene 1979). Task ``t`` has a latent true class ``z_t ~ Categorical(prior)``.
Worker ``w`` answering ``t`` gives class ``y`` with probability ``E[w, y, z_t]`` – one
``K × K`` confusion ("error") matrix per worker whose *columns* (true class) sum to 1.

EM, all in log space:

* initial posterior: the (unweighted) majority-vote shares of each task, gold tasks clamped;
* M-step: expected confusion counts ``C[w, y, z] = Σ_{answers (t, w, y)} T[t, z]`` are one
  sparse × dense product (answers incidence matrix, ``(n_workers·K) × n_tasks``, times the
  posterior ``T``, ``n_tasks × K``); the prior is the mean posterior;
* E-step: ``log T[t] ∝ log prior + Σ_{answers of t} log E[w, y, :]`` is the transposed
  sparse product, followed by a row-wise log-sum-exp normalisation;
* loss: the log-likelihood of the answers per answer under the parameters of the latest
  M-step, ``Σ_t log Σ_z prior_z Π_{answers of t} E[w,y,z] / n_answers`` (gold tasks count
  their gold class only). It is the log-sum-exp of the next E-step's logits, so it comes
  for free and each iteration costs two sparse products. EM never decreases it (up to the
  clipping below; with pseudo-counts EM maximises the posterior instead). EM stops after
  ``n_iter`` iterations or as soon as the loss improves by less than ``tol``.

  crowd-kit 1.4 stops on a different quantity (an ELBO in which the log prior is counted
  once per answer), so with the same ``tol`` the two may stop a few iterations apart;
  with the same number of iterations (``tol=-inf``) the posteriors agree to ~1e-10.

Cost per iteration: ``O(n_answers · K + n_workers · K²)`` time; memory
``O(n_answers + n_tasks · K + n_workers · K²)``.

Numerical guards: confusion entries the worker can produce (labels they gave, or any
label when pseudo-counts are used) are clipped at ``1e-10`` before the column
normalisation; a column with no mass (no posterior weight on that true class among the
worker's tasks) becomes uniform over the labels the worker gave, i.e. carries no
evidence. Prior entries are clipped at ``1e-10``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from aggregation._answers import (
    DuplicatePolicy,
    EncodedAnswers,
    FloatArray,
    IntArray,
    encode_answers,
    normalize_label_values,
)
from aggregation._base import BaseAggregator, normalize_rows, vote_counts

_EPS = 1e-10
InitialErrorsStrategy = Literal["addition", "assign", "prior"]
_STRATEGIES: tuple[str, ...] = ("addition", "assign", "prior")


class _Design:
    """Sparse incidence matrices of the answers (built once per fit).

    ``task_by_wl``: ``(n_tasks, n_workers·K)`` CSR, entry ``(t, w·K + y)`` = number of
    times worker ``w`` answered ``y`` on task ``t``; ``wl_by_task`` is its transpose.
    """

    def __init__(self, enc: EncodedAnswers) -> None:
        k = enc.n_classes
        self.n_workers = enc.n_workers
        self.k = k
        col = enc.worker * k + enc.label
        ones = np.ones(enc.n_answers, dtype=np.float64)
        self.task_by_wl = sp.csr_matrix(
            (ones, (enc.task, col)), shape=(enc.n_tasks, enc.n_workers * k)
        )
        self.wl_by_task = self.task_by_wl.T.tocsr()
        self.observed = np.zeros((enc.n_workers, k), dtype=bool)
        self.observed[enc.worker, enc.label] = True

    def expected_counts(self, posteriors: FloatArray) -> FloatArray:
        """``C[w, y, z] = Σ_{answers (t, w, y)} posteriors[t, z]``, shape ``(W, K, K)``."""
        flat = self.wl_by_task @ posteriors
        return np.asarray(flat, dtype=np.float64).reshape(self.n_workers, self.k, self.k)

    def answers_loglik(self, log_errors: FloatArray) -> FloatArray:
        """``L[t, z] = Σ_{answers (t, w, y)} log_errors[w, y, z]``, shape ``(n_tasks, K)``."""
        flat = log_errors.reshape(self.n_workers * self.k, self.k)
        return np.asarray(self.task_by_wl @ flat, dtype=np.float64)


def _posterior_and_loglik(logits: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Row-wise softmax of ``(n_tasks, K)`` logits and the row log-sum-exp, ``(n_tasks,)``."""
    top = logits.max(axis=1, keepdims=True)
    post = logits - top
    np.exp(post, out=post)
    # Row sums as a matrix-vector product: much faster than sum(axis=1) for small K.
    total = post @ np.ones(post.shape[1])
    post /= total[:, None]
    return post, top.ravel() + np.log(total)


def _gold_codes(true_labels: pd.Series | None, enc: EncodedAnswers) -> tuple[IntArray, IntArray]:
    """Positions of gold tasks present in ``enc`` and the class code of their gold label."""
    empty = np.zeros(0, dtype=np.int64)
    if true_labels is None:
        return empty, empty
    if not isinstance(true_labels, pd.Series):
        raise ValueError(
            f"true_labels must be a pandas Series task → label, got {type(true_labels).__name__}"
        )
    gold = true_labels[true_labels.notna()]
    if not gold.index.is_unique:
        dup = gold.index[gold.index.duplicated()][:5]
        raise ValueError(f"true_labels has duplicate task(s) {list(dup)}")
    gold = normalize_label_values(gold)
    codes = np.asarray(enc.classes.get_indexer(pd.Index(gold)), dtype=np.int64)
    if (codes < 0).any():
        unknown = pd.unique(gold[codes < 0])[:10]
        raise ValueError(
            f"true_labels contains label(s) {list(unknown)} that are not among the classes "
            f"{list(enc.classes)}; pass classes= to declare the full label set"
        )
    pos = np.asarray(enc.tasks.get_indexer(gold.index), dtype=np.int64)
    present = pos >= 0
    return pos[present], codes[present]


def _errors_array(initial_errors: pd.DataFrame, enc: EncodedAnswers) -> tuple[FloatArray, IntArray]:
    """``initial_errors`` frame → ``(n_workers, K, K)`` array and the worker codes it covers."""
    if not isinstance(initial_errors, pd.DataFrame) or initial_errors.index.nlevels != 2:
        raise ValueError(
            "initial_errors must be a DataFrame indexed by (worker, label) with one column "
            "per true label"
        )
    values = initial_errors.to_numpy(dtype=np.float64)
    if np.isnan(values).any() or (values < 0).any():
        raise ValueError("initial_errors must hold non-negative numbers (found NaN or negative)")
    k = enc.n_classes
    col_codes = np.asarray(enc.classes.get_indexer(initial_errors.columns), dtype=np.int64)
    if (col_codes < 0).any():
        bad = list(initial_errors.columns[col_codes < 0][:10])
        raise ValueError(f"initial_errors has true-label column(s) {bad} not among the classes")
    obs_values = normalize_label_values(pd.Series(initial_errors.index.get_level_values(1)))
    obs_codes = np.asarray(enc.classes.get_indexer(pd.Index(obs_values)), dtype=np.int64)
    if (obs_codes < 0).any():
        bad = list(pd.unique(obs_values[obs_codes < 0])[:10])
        raise ValueError(f"initial_errors has label(s) {bad} not among the classes")
    w_codes = np.asarray(
        enc.workers.get_indexer(initial_errors.index.get_level_values(0)), dtype=np.int64
    )
    known = np.flatnonzero(w_codes >= 0)  # workers absent from the answers are ignored
    out = np.zeros((enc.n_workers, k, k), dtype=np.float64)
    for j, true_code in enumerate(col_codes):
        np.add.at(out, (w_codes[known], obs_codes[known], true_code), values[known, j])
    return out, np.unique(w_codes[known])


class _DawidSkeneEM(BaseAggregator):
    """The EM loop shared by :class:`DawidSkene` and :class:`OneCoinDawidSkene`."""

    priors_: pd.Series
    errors_: pd.DataFrame
    skills_: pd.Series
    n_iter_: int
    loss_history_: list[float]

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-5,
        *,
        smoothing: float = 0.0,
        duplicates: DuplicatePolicy = "last",
        classes: Sequence[Hashable] | pd.Index | None = None,
    ) -> None:
        super().__init__(duplicates=duplicates, classes=classes)
        self.n_iter = n_iter
        self.tol = tol
        self.smoothing = smoothing

    # -- hooks -------------------------------------------------------------------------
    def _m_step(
        self, design: _Design, enc: EncodedAnswers, post: FloatArray, pseudo: FloatArray | None
    ) -> tuple[FloatArray, FloatArray]:
        """Return ``(errors, log_errors)``, both ``(n_workers, K, K)``."""
        raise NotImplementedError

    def _skills(self, errors: FloatArray, priors: FloatArray) -> FloatArray:
        """Per-worker skill: expected accuracy ``Σ_z prior_z · E[w, z, z]``."""
        return np.asarray(np.einsum("wzz,z->w", errors, priors), dtype=np.float64)

    # -- main loop ---------------------------------------------------------------------
    def _check_params(self) -> None:
        if not (isinstance(self.n_iter, int | np.integer) and self.n_iter >= 0):
            raise ValueError(f"n_iter must be a non-negative integer, got {self.n_iter!r}")
        if np.isnan(self.tol):
            raise ValueError("tol must be a number (a negative value runs all n_iter iterations)")
        if not self.smoothing >= 0:
            raise ValueError(f"smoothing must be >= 0, got {self.smoothing!r}")

    def _fit_em(
        self,
        frame: pd.DataFrame,
        true_labels: pd.Series | None,
        initial_errors: pd.DataFrame | None,
        strategy: InitialErrorsStrategy,
    ) -> None:
        self._check_params()
        enc = encode_answers(frame, duplicates=self.duplicates, classes=self.classes)
        gold_pos, gold_cls = _gold_codes(true_labels, enc)
        k = enc.n_classes
        self.loss_history_ = []
        self.n_iter_ = 0

        if enc.n_answers == 0 or k == 1:
            post = np.ones((enc.n_tasks, k), dtype=np.float64)
            self._store(enc, post, np.ones(k), np.ones((enc.n_workers, k, k)), None)
            return

        design = _Design(enc)
        first_pseudo: FloatArray | None = None
        every_pseudo: FloatArray | None = None
        assigned: tuple[FloatArray, IntArray] | None = None
        if initial_errors is not None:
            arr, covered = _errors_array(initial_errors, enc)
            if strategy == "addition":
                first_pseudo = arr
            elif strategy == "prior":
                first_pseudo = every_pseudo = arr
            else:
                assigned = (arr, covered)

        def clamp(p: FloatArray) -> FloatArray:
            if len(gold_pos):
                p[gold_pos] = 0.0
                p[gold_pos, gold_cls] = 1.0
            return p

        ones_tasks = np.full(enc.n_tasks, 1.0 / enc.n_tasks)

        def class_priors(p: FloatArray) -> FloatArray:
            return np.maximum(ones_tasks @ p, _EPS)  # mean posterior, as a fast gemv

        post = clamp(normalize_rows(vote_counts(enc)))
        priors = class_priors(post)
        errors, log_errors = self._m_step(design, enc, post, first_pseudo)
        if assigned is not None:
            arr, covered = assigned
            sub = arr[covered]
            sums = sub.sum(axis=1, keepdims=True)
            # A column without mass in the given matrix keeps the data-driven estimate.
            sub = np.where(sums > 0, sub / np.where(sums > 0, sums, 1.0), errors[covered])
            errors[covered] = sub
            # A given zero is taken as "almost never" (clipped), like estimated cells.
            log_errors[covered] = np.log(np.maximum(sub, _EPS))
        logits = np.log(priors) + design.answers_loglik(log_errors)
        post_next, _ = _posterior_and_loglik(logits)

        loss = -np.inf
        for it in range(1, self.n_iter + 1):
            post = clamp(post_next)  # E-step with the current parameters
            priors = class_priors(post)
            errors, log_errors = self._m_step(design, enc, post, every_pseudo)
            logits = np.log(priors) + design.answers_loglik(log_errors)
            # The next E-step and the log-likelihood of the new parameters share the work.
            post_next, loglik = _posterior_and_loglik(logits)
            if len(gold_pos):
                loglik[gold_pos] = logits[gold_pos, gold_cls]
            new_loss = float(loglik.sum() / enc.n_answers)
            self.loss_history_.append(new_loss)
            self.n_iter_ = it
            if new_loss - loss < self.tol:
                break
            loss = new_loss
        if self.n_iter == 0:
            post = clamp(post_next)
        self._store(enc, post, priors, errors, design)

    def _store(
        self,
        enc: EncodedAnswers,
        post: FloatArray,
        priors: FloatArray,
        errors: FloatArray,
        design: _Design | None,
    ) -> None:
        k = enc.n_classes
        self._set_posteriors(post, enc)
        self.priors_ = pd.Series(
            priors / priors.sum() if k else priors,
            index=pd.Index(enc.classes, name="label"),
            name="prior",
        )
        self.errors_ = pd.DataFrame(
            errors.reshape(enc.n_workers * k, k),
            index=pd.MultiIndex.from_product([enc.workers, enc.classes], names=["worker", "label"]),
            columns=pd.Index(enc.classes, name="true_label"),
        )
        self.skills_ = pd.Series(
            self._skills(errors, self.priors_.to_numpy(dtype=np.float64)),
            index=pd.Index(enc.workers, name="worker"),
            name="skill",
        )


class DawidSkene(_DawidSkeneEM):
    """Dawid–Skene EM with one confusion matrix per worker (see module docstring).

    Args:
        n_iter: maximum number of EM iterations (each = one E-step + one M-step). The
            returned posteriors come from the last E-step, the parameters from the last
            M-step (as in crowd-kit).
        tol: stop when the per-answer log-likelihood improves by less than ``tol`` (also
            when it decreases). ``-inf`` runs exactly ``n_iter`` iterations.
        smoothing: symmetric Dirichlet pseudo-count added to every cell of every worker's
            expected confusion counts at every M-step (MAP-EM). ``0`` = maximum likelihood,
            as crowd-kit.
        initial_errors_strategy: how :meth:`fit`'s ``initial_errors`` is used:
            ``"addition"`` – counts added to the first M-step only (crowd-kit's
            ``addition``); ``"prior"`` – counts added at every M-step (a per-worker
            Dirichlet prior, e.g. from past campaigns); ``"assign"`` – the given matrices
            (counts or probabilities, columns are normalised) replace the first estimate of
            the workers they cover; the other workers start from the majority-vote estimate.
        duplicates: policy for repeated ``(task, worker)`` rows (see :mod:`aggregation`).
        classes: full label set / column order (default: sorted labels in the data).

    Fitted attributes:
        labels_: ``(n_tasks,)`` Series task → label (ties → first class of ``classes_``).
        probas_: ``(n_tasks, K)`` DataFrame of posteriors ``P(z_t = k | answers)``.
        classes_: ``(K,)`` Index of labels.
        priors_: ``(K,)`` Series label → prior class probability.
        errors_: ``(n_workers·K, K)`` DataFrame indexed by ``(worker, label)`` (the label
            the worker gives) with columns ``true_label``: ``errors_.loc[(w, y), z] =
            P(worker w answers y | true class z)``; each worker's columns sum to 1. Rows of
            labels the worker never gave are 0 unless pseudo-counts are used.
        skills_: ``(n_workers,)`` Series worker → expected accuracy ``Σ_z prior_z E[w,z,z]``.
        n_iter_: EM iterations run.
        loss_history_: per-answer log-likelihood after each iteration (see module doc).

    Degenerate input: an empty frame gives empty attributes (``n_iter_ == 0``); a single
    class gives probability 1 for it; a single worker yields that worker's answers
    (EM cannot tell them wrong); NaN labels are dropped; gold tasks absent from the frame
    are ignored.

    Raises:
        ValueError: bad parameters, malformed answers (see :mod:`aggregation`), a gold or
            ``initial_errors`` label outside the classes.
    """

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-5,
        *,
        smoothing: float = 0.0,
        initial_errors_strategy: InitialErrorsStrategy = "addition",
        duplicates: DuplicatePolicy = "last",
        classes: Sequence[Hashable] | pd.Index | None = None,
    ) -> None:
        super().__init__(n_iter, tol, smoothing=smoothing, duplicates=duplicates, classes=classes)
        self.initial_errors_strategy = initial_errors_strategy

    def fit(
        self,
        frame: pd.DataFrame,
        true_labels: pd.Series | None = None,
        initial_errors: pd.DataFrame | None = None,
    ) -> DawidSkene:
        """Run EM on ``frame``.

        Args:
            frame: answers (columns ``task``, ``worker``, ``label``).
            true_labels: optional gold labels, Series task → label. Those tasks' posteriors
                are clamped to the gold label at every step. Every non-missing gold label
                must be one of the classes (``ValueError`` otherwise).
            initial_errors: optional confusion matrices, DataFrame indexed by
                ``(worker, label)`` (the label given) with one column per true label,
                used according to ``initial_errors_strategy``. Workers absent from
                ``frame`` are ignored.

        Returns:
            self
        """
        if self.initial_errors_strategy not in _STRATEGIES:
            raise ValueError(
                f"initial_errors_strategy must be one of {_STRATEGIES}, "
                f"got {self.initial_errors_strategy!r}"
            )
        self._fit_em(frame, true_labels, initial_errors, self.initial_errors_strategy)
        return self

    def fit_predict(
        self,
        frame: pd.DataFrame,
        true_labels: pd.Series | None = None,
        initial_errors: pd.DataFrame | None = None,
    ) -> pd.Series:
        """Fit and return ``labels_``."""
        return self.fit(frame, true_labels, initial_errors).labels_

    def fit_predict_proba(
        self,
        frame: pd.DataFrame,
        true_labels: pd.Series | None = None,
        initial_errors: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Fit and return ``probas_``."""
        return self.fit(frame, true_labels, initial_errors).probas_

    def _m_step(
        self, design: _Design, enc: EncodedAnswers, post: FloatArray, pseudo: FloatArray | None
    ) -> tuple[FloatArray, FloatArray]:
        counts = design.expected_counts(post)
        support = np.broadcast_to(design.observed[:, :, None], counts.shape)
        if pseudo is not None:
            counts += pseudo
            support = support | (pseudo > 0)
        if self.smoothing > 0:
            counts += self.smoothing
            support = np.ones_like(support)
        errors = np.where(support, np.maximum(counts, _EPS), 0.0)
        errors /= errors.sum(axis=1, keepdims=True)
        log_errors = np.log(np.where(support, errors, 1.0))
        return errors, log_errors


class OneCoinDawidSkene(_DawidSkeneEM):
    """Dawid–Skene with a single accuracy per worker ("one coin").

    ``E[w, y, z] = s_w`` if ``y == z`` else ``(1 - s_w) / (K - 1)``. The M-step sets
    ``s_w = (c_w + a + m·μ) / (n_w + 2a + m)`` clipped to ``[1e-10, 1 - 1e-10]``, where
    ``c_w = Σ_{answers (t, w, y)} T[t, y]`` is the worker's expected number of correct
    answers under the current posterior and ``n_w`` their number of answers;
    ``a = smoothing`` is a symmetric Beta(a, a) prior; ``m = prior_strength`` pseudo-answers
    at the crowd's pooled accuracy ``μ = (Σ_w c_w + 1) / (Σ_w n_w + 2)`` (an empirical-Bayes
    Beta(m·μ, m·(1-μ)) prior, re-estimated at every M-step). With ``a = m = 0`` this is
    crowd-kit's maximum likelihood. Everything else (initialisation, loss, stopping, ties,
    degenerate input, gold clamping) is as in :class:`DawidSkene`.

    Why the pooled prior: a worker seen on one or two items who agrees with the current
    posterior gets ``s_w → 1`` under maximum likelihood, and EM then turns even a 1-1-1
    split into certainty (30 items × 3 answers from 60 workers, 10 classes: posteriors of
    1.0 on split items). With ``m`` pseudo-answers such a worker stays near the crowd's
    accuracy until their own answers outweigh the prior, so a split stays uncertain and a
    unanimous vote is confident but not certain. ``m`` is in answers: a worker with
    ``n_w = m`` answers is trusted half on their own record, half on the crowd's.

    Args:
        n_iter, tol, duplicates, classes: as :class:`DawidSkene`.
        smoothing: ``a`` above (symmetric Beta pseudo-count, ``>= 0``).
        prior_strength: ``m`` above (pseudo-answers at the pooled accuracy, ``>= 0``).

    Fitted attributes: as :class:`DawidSkene`; ``skills_`` is ``s_w`` itself and
    ``errors_`` the implied confusion matrices.
    """

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-5,
        *,
        smoothing: float = 0.0,
        prior_strength: float = 0.0,
        duplicates: DuplicatePolicy = "last",
        classes: Sequence[Hashable] | pd.Index | None = None,
    ) -> None:
        super().__init__(n_iter, tol, smoothing=smoothing, duplicates=duplicates, classes=classes)
        self.prior_strength = prior_strength

    def _check_params(self) -> None:
        super()._check_params()
        if not self.prior_strength >= 0:
            raise ValueError(f"prior_strength must be >= 0, got {self.prior_strength!r}")

    def fit(self, frame: pd.DataFrame, true_labels: pd.Series | None = None) -> OneCoinDawidSkene:
        """Run EM on ``frame``; ``true_labels`` (task → gold label) clamps those tasks."""
        self._fit_em(frame, true_labels, None, "addition")
        return self

    def fit_predict(self, frame: pd.DataFrame, true_labels: pd.Series | None = None) -> pd.Series:
        """Fit and return ``labels_``."""
        return self.fit(frame, true_labels).labels_

    def fit_predict_proba(
        self, frame: pd.DataFrame, true_labels: pd.Series | None = None
    ) -> pd.DataFrame:
        """Fit and return ``probas_``."""
        return self.fit(frame, true_labels).probas_

    def _m_step(
        self, design: _Design, enc: EncodedAnswers, post: FloatArray, pseudo: FloatArray | None
    ) -> tuple[FloatArray, FloatArray]:
        k = enc.n_classes
        hit = post[enc.task, enc.label]
        correct = np.bincount(enc.worker, weights=hit, minlength=enc.n_workers)
        n = np.bincount(enc.worker, minlength=enc.n_workers).astype(np.float64)
        a = self.smoothing
        m = self.prior_strength
        # The +1/+2 keeps the pooled accuracy off 0 and 1 when every answer agrees.
        mu = (correct.sum() + 1.0) / (n.sum() + 2.0) if m > 0 else 0.0
        skill = np.clip((correct + a + m * mu) / (n + 2 * a + m), _EPS, 1 - _EPS)
        off = (1.0 - skill) / (k - 1)
        errors = np.repeat(off[:, None, None], k, axis=1).repeat(k, axis=2)
        diag = np.arange(k)
        errors[:, diag, diag] = skill[:, None]
        return errors, np.log(errors)

    def _skills(self, errors: FloatArray, priors: FloatArray) -> FloatArray:
        return np.asarray(errors[:, 0, 0], dtype=np.float64) if errors.shape[1] else np.zeros(0)
