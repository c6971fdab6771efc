"""Thin adapters around crowd-kit's GLAD and MACE.

They add what our own aggregators guarantee and crowd-kit does not: the answers-frame
validation of :mod:`aggregation` (missing columns, NaN labels, duplicate policy), outputs
whose columns follow ``classes_`` (sorted labels) with deterministic tie-breaking (first
class of ``classes_``), and the degenerate cases (empty frame, single class) handled
without calling crowd-kit. crowd-kit is imported only when :meth:`fit` runs, so
``import aggregation`` stays light.

crowd-kit is given integer codes (our task / worker / class numbers, see
:mod:`aggregation._answers`), never the user's values: crowd-kit 1.4 fails on bool labels in
GLAD, and its MACE result changes when the worker ids do not sort in first-appearance
order. With codes both adapters are invariant to renaming tasks, workers and labels.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from aggregation._answers import DuplicatePolicy, EncodedAnswers, IntArray, encode_answers
from aggregation._base import BaseAggregator, normalize_rows


def _crowdkit(model: str) -> ModuleType:
    try:
        import crowdkit.aggregation as ck
    except ImportError as exc:  # pragma: no cover - crowd-kit is a core dependency
        raise ImportError(
            f"{model} wraps crowd-kit's implementation; install it with `pip install crowd-kit` "
            "(it is a dependency of crowdclean)"
        ) from exc
    return ck


@dataclass(frozen=True)
class _CkCodes:
    """The answers as handed to crowd-kit, and how its numbers map back to ours."""

    frame: pd.DataFrame
    tasks: IntArray  # crowd-kit task i is our task code tasks[i]
    workers: IntArray
    labels: IntArray


class _CrowdKitAdapter(BaseAggregator):
    skills_: pd.Series
    n_iter_: int

    def _encode(self, frame: pd.DataFrame) -> EncodedAnswers:
        return encode_answers(frame, duplicates=self.duplicates, classes=self.classes)

    @staticmethod
    def _ck_codes(enc: EncodedAnswers) -> _CkCodes:
        # crowd-kit gets integer codes, not the user's values (it mishandles bool labels),
        # renumbered by first appearance: crowd-kit's MACE silently misaligns workers
        # whose ids do not sort in first-appearance order.
        t, tu = pd.factorize(enc.task)
        w, wu = pd.factorize(enc.worker)
        y, yu = pd.factorize(enc.label)
        frame = pd.DataFrame({"task": t, "worker": w, "label": y})
        as_int = lambda a: np.asarray(a, dtype=np.int64)  # noqa: E731
        return _CkCodes(frame, as_int(tu), as_int(wu), as_int(yu))

    @staticmethod
    def _coded_series(
        series: pd.Series | None, values: pd.Index, ck_to_ours: IntArray
    ) -> pd.Series | None:
        """Re-key a user Series (by task / worker / label values) by crowd-kit codes."""
        if series is None:
            return None
        ours_to_ck = np.full(len(values), -1, dtype=np.int64)
        ours_to_ck[ck_to_ours] = np.arange(len(ck_to_ours))
        ours = values.get_indexer(series.index)
        ck = np.where(ours >= 0, ours_to_ck[np.maximum(ours, 0)], -1)
        return pd.Series(series.to_numpy()[ck >= 0], index=ck[ck >= 0])

    def _store_from(
        self, enc: EncodedAnswers, ck_probas: pd.DataFrame | None, codes: _CkCodes | None
    ) -> None:
        probas = np.ones((enc.n_tasks, enc.n_classes), dtype=np.float64)
        if ck_probas is not None and codes is not None and enc.n_classes > 1:
            aligned = ck_probas.reindex(
                index=np.arange(len(codes.tasks)),
                columns=np.arange(len(codes.labels)),
                fill_value=0.0,
            ).to_numpy(dtype=np.float64, na_value=0.0)
            probas = np.zeros((enc.n_tasks, enc.n_classes), dtype=np.float64)
            probas[np.ix_(codes.tasks, codes.labels)] = aligned
            probas = normalize_rows(probas)
        self._set_posteriors(probas, enc)

    def _trivial(self, enc: EncodedAnswers) -> bool:
        return enc.n_answers == 0 or enc.n_classes == 1


class GLAD(_CrowdKitAdapter):
    """GLAD (Whitehill et al. 2009): worker ability × task difficulty, via crowd-kit.

    Args:
        n_iter, tol, labels_priors, alphas_priors_mean, betas_priors_mean,
        m_step_max_iter, m_step_tol: forwarded to ``crowdkit.aggregation.GLAD``.
        duplicates, classes: as in :class:`aggregation.DawidSkene`.

    Fitted attributes:
        labels_, probas_, classes_: as every aggregator (columns in ``classes_`` order).
        skills_: ``(n_workers,)`` Series worker → GLAD ability ``alpha`` (higher = better;
            0 = random, negative = adversarial).
        difficulties_: ``(n_tasks,)`` Series task → ``beta`` (crowd-kit's; higher = easier).
        loss_history_: crowd-kit's loss history. ``n_iter_``: its length.

    Degenerate input: empty frame → empty outputs; a single class → probability 1
    (crowd-kit is not called in either case).
    """

    difficulties_: pd.Series
    loss_history_: list[float]

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-5,
        *,
        labels_priors: pd.Series | None = None,
        alphas_priors_mean: pd.Series | None = None,
        betas_priors_mean: pd.Series | None = None,
        m_step_max_iter: int = 25,
        m_step_tol: float = 1e-2,
        duplicates: DuplicatePolicy = "last",
        classes: Sequence[Hashable] | pd.Index | None = None,
    ) -> None:
        super().__init__(duplicates=duplicates, classes=classes)
        self.n_iter = n_iter
        self.tol = tol
        self.labels_priors = labels_priors
        self.alphas_priors_mean = alphas_priors_mean
        self.betas_priors_mean = betas_priors_mean
        self.m_step_max_iter = m_step_max_iter
        self.m_step_tol = m_step_tol

    def fit(self, frame: pd.DataFrame) -> GLAD:
        """Fit GLAD on ``frame`` (columns ``task``, ``worker``, ``label``); return self."""
        enc = self._encode(frame)
        self.loss_history_ = []
        if self._trivial(enc):
            self._store_from(enc, None, None)
            self.skills_ = pd.Series(1.0, index=pd.Index(enc.workers, name="worker"), name="skill")
            self.difficulties_ = pd.Series(
                0.0, index=pd.Index(enc.tasks, name="task"), name="difficulty"
            )
            self.n_iter_ = 0
            return self
        ck = _crowdkit("GLAD")
        codes = self._ck_codes(enc)
        model: Any = ck.GLAD(
            n_iter=self.n_iter,
            tol=self.tol,
            silent=True,
            labels_priors=self._coded_series(self.labels_priors, enc.classes, codes.labels),
            alphas_priors_mean=self._coded_series(
                self.alphas_priors_mean, enc.workers, codes.workers
            ),
            betas_priors_mean=self._coded_series(self.betas_priors_mean, enc.tasks, codes.tasks),
            m_step_max_iter=self.m_step_max_iter,
            m_step_tol=self.m_step_tol,
        )
        model.fit(codes.frame)
        self._store_from(enc, model.probas_, codes)
        alphas = np.empty(enc.n_workers)
        alphas[codes.workers] = model.alphas_.reindex(np.arange(enc.n_workers)).to_numpy(float)
        betas = np.empty(enc.n_tasks)
        betas[codes.tasks] = model.betas_.reindex(np.arange(enc.n_tasks)).to_numpy(float)
        self.skills_ = pd.Series(alphas, index=pd.Index(enc.workers, name="worker"), name="skill")
        self.difficulties_ = pd.Series(
            betas, index=pd.Index(enc.tasks, name="task"), name="difficulty"
        )
        self.loss_history_ = [float(x) for x in model.loss_history_]
        self.n_iter_ = len(self.loss_history_)
        return self


class MACE(_CrowdKitAdapter):
    """MACE (Hovy et al. 2013): each worker either knows the answer or spams, via crowd-kit.

    Args:
        n_restarts, n_iter, method, smoothing, default_noise, alpha, beta: forwarded to
            ``crowdkit.aggregation.MACE``.
        random_state: integer seed forwarded to crowd-kit (its only source of randomness).
        duplicates, classes: as in :class:`aggregation.DawidSkene`.

    Fitted attributes:
        labels_, probas_, classes_: as every aggregator (columns in ``classes_`` order).
        skills_: ``(n_workers,)`` Series worker → posterior probability that the worker
            answers from knowledge rather than spamming (crowd-kit's ``spamming_[:, 1]``).
        spam_strategies_: ``(n_workers, K)`` DataFrame, each worker's label weights when
            spamming (crowd-kit's ``thetas_``; with ``method="vb"`` these are variational
            weights whose rows sum to at most 1).
        n_iter_: ``n_iter`` (MACE runs a fixed number of iterations per restart).

    Degenerate input: empty frame → empty outputs; a single class → probability 1
    (crowd-kit is not called in either case).
    """

    spam_strategies_: pd.DataFrame

    def __init__(
        self,
        n_restarts: int = 10,
        n_iter: int = 50,
        *,
        method: str = "vb",
        smoothing: float = 0.1,
        default_noise: float = 0.5,
        alpha: float = 0.5,
        beta: float = 0.5,
        random_state: int = 0,
        duplicates: DuplicatePolicy = "last",
        classes: Sequence[Hashable] | pd.Index | None = None,
    ) -> None:
        super().__init__(duplicates=duplicates, classes=classes)
        self.n_restarts = n_restarts
        self.n_iter = n_iter
        self.method = method
        self.smoothing = smoothing
        self.default_noise = default_noise
        self.alpha = alpha
        self.beta = beta
        self.random_state = random_state

    def fit(self, frame: pd.DataFrame) -> MACE:
        """Fit MACE on ``frame`` (columns ``task``, ``worker``, ``label``); return self."""
        enc = self._encode(frame)
        worker_index = pd.Index(enc.workers, name="worker")
        if self._trivial(enc):
            self._store_from(enc, None, None)
            self.skills_ = pd.Series(1.0, index=worker_index, name="skill")
            self.spam_strategies_ = pd.DataFrame(
                1.0, index=worker_index, columns=pd.Index(enc.classes, name="label")
            )
            self.n_iter_ = 0
            return self
        ck = _crowdkit("MACE")
        model: Any = ck.MACE(
            n_restarts=self.n_restarts,
            n_iter=self.n_iter,
            method=self.method,
            smoothing=self.smoothing,
            default_noise=self.default_noise,
            alpha=self.alpha,
            beta=self.beta,
            random_state=self.random_state,
        )
        codes = self._ck_codes(enc)
        model.fit(codes.frame)
        self._store_from(enc, model.probas_, codes)
        # crowd-kit numbers workers and labels by first appearance, i.e. as our codes map.
        skills = np.empty(enc.n_workers)
        skills[codes.workers] = np.asarray(model.spamming_)[:, 1]
        self.skills_ = pd.Series(skills, index=worker_index, name="skill")
        thetas = np.zeros((enc.n_workers, enc.n_classes))  # 0 for a class nobody gave
        thetas[np.ix_(codes.workers, codes.labels)] = np.asarray(model.thetas_)
        self.spam_strategies_ = pd.DataFrame(
            thetas, index=worker_index, columns=pd.Index(enc.classes, name="label")
        )
        self.n_iter_ = self.n_iter
        return self
