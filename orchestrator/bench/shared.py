"""Expensive work that several methods of a benchmark cell share, cached on disk.

Everything here depends only on (dataset, noise, seed) — the features and the noisy labels
every method gets — and not on the budget or the crowd, so one computation serves every
budget and every method that needs it:

* the DPM fitted without any crowd label (``dpm`` and ``uncertainty``);
* out-of-fold predicted probabilities (5-fold ``cross_val_predict``) of logistic regression
  and of an MLP on the noisy labels (cleanlab's rankings and ActiveLab).

The classifiers are those of ``benchmarks/model/label_accuracy.py`` (the DPM-vs-cleanlab
benchmark of the model issue): ``StandardScaler + LogisticRegression(C=0.1)`` and
``StandardScaler + MLPClassifier(128, early_stopping)``; bag-of-words counts go through
``log1p`` first. Each cache entry records the seconds its computation took, which the methods
that use it report as their own.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from orchestrator.data.dataset import LabeledData
from orchestrator.db.models import FeatureKind


def make_classifier(model: str, *, seed: int, feature_kind: FeatureKind) -> Any:
    """A fresh scikit-learn pipeline: ``"lr"`` or ``"mlp"`` (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    steps: list[Any] = []
    if feature_kind == FeatureKind.COUNTS:
        steps.append(FunctionTransformer(np.log1p))
    steps.append(StandardScaler())
    if model == "lr":
        steps.append(LogisticRegression(max_iter=500, C=0.1))
    elif model == "mlp":
        steps.append(
            MLPClassifier(
                hidden_layer_sizes=(128,), max_iter=60, early_stopping=True, random_state=seed
            )
        )
    else:
        raise ValueError(f"unknown classifier {model!r}; use 'lr' or 'mlp'")
    return make_pipeline(*steps)


def full_proba(clf: Any, x: npt.NDArray[np.float32], n_classes: int) -> npt.NDArray[np.float64]:
    """(n, K) predict_proba of a fitted classifier, zero columns for classes it never saw."""
    out = np.zeros((x.shape[0], n_classes), dtype=np.float64)
    out[:, np.asarray(clf.classes_, dtype=np.int64)] = clf.predict_proba(x)
    return out


def cross_val_pred_probs(
    x: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    n_classes: int,
    *,
    model: str,
    seed: int,
    feature_kind: FeatureKind,
    folds: int = 5,
) -> npt.NDArray[np.float64]:
    """(n, K) out-of-fold predicted probabilities of ``model`` trained on ``labels``."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels, minlength=n_classes)
    folds = int(max(2, min(folds, counts[counts > 0].min())))
    out = np.zeros((len(labels), n_classes), dtype=np.float64)
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, labels):
        clf = make_classifier(model, seed=seed, feature_kind=feature_kind)
        clf.fit(x[train], labels[train])
        out[test] = full_proba(clf, x[test], n_classes)
    return out


class SharedWork:
    """Lazily computed, disk-cached work on one (dataset, noise, seed); gold is never read.

    Args:
        data: the cell's dataset without gold labels.
        key: a file-name-safe identity of (dataset, items, noise, seed).
        cache_dir: where ``.npz`` entries go; None keeps them in memory only.
        seed: seeds the fits.
        threads: torch threads for the DPM fit.
    """

    def __init__(
        self,
        data: LabeledData,
        key: str,
        *,
        cache_dir: Path | None,
        seed: int,
        threads: int = 1,
        dpm_overrides: dict[str, Any] | None = None,
    ) -> None:
        if (data.gold != -1).any():
            raise ValueError("SharedWork must be given the dataset without gold labels")
        self.data = data
        self.key = key
        self.cache_dir = cache_dir
        self.seed = seed
        self.threads = threads
        self.dpm_overrides = dpm_overrides or {}
        self._memory: dict[str, tuple[npt.NDArray[np.float64], float]] = {}
        self.computed_seconds = 0.0  # wall time spent computing (not loading) entries here

    def _path(self, name: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"{self.key}-{name}.npz"

    def _cached(self, name: str, compute: Any) -> tuple[npt.NDArray[np.float64], float]:
        if name in self._memory:
            return self._memory[name]
        path = self._path(name)
        if path is not None and path.exists():
            with np.load(path) as f:
                value = (np.asarray(f["value"], dtype=np.float64), float(f["seconds"]))
            self._memory[name] = value
            return value
        t0 = time.perf_counter()
        arr = np.asarray(compute(), dtype=np.float64)
        secs = time.perf_counter() - t0
        self.computed_seconds += secs
        self._store(name, arr, secs)
        return self._memory[name]

    def _store(self, name: str, arr: npt.NDArray[np.float64], seconds: float) -> None:
        path = self._path(name)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
            np.savez_compressed(tmp, value=arr, seconds=seconds)
            tmp.replace(path)
        self._memory[name] = (arr, seconds)

    def dpm_posterior(self) -> tuple[npt.NDArray[np.float64], float]:
        """(n, K) posterior of the DPM fitted with no crowd label, and its fit seconds.

        With no validation items there is nothing to search β on, so the model's
        ``fallback_beta`` (0.1, the value the β search picks on digits) is used.
        """
        return self._dpm("dpm", {})

    def dpm_latent(self, *, robust: bool = False) -> tuple[npt.NDArray[np.float64], float]:
        """(n, d) latent vectors of the same fit (``robust``: of :meth:`dpm_robust`'s fit)."""
        name = "dpm-robust" if robust else "dpm"
        extra: dict[str, Any] = {"robust_update": True} if robust else {}
        self._dpm(name, extra)  # fits once and stores the latent vectors beside the posterior
        return self._cached(f"{name}-latent", lambda: self._dpm_fit(name, extra, latent=True))

    def dpm_robust(self) -> tuple[npt.NDArray[np.float64], float]:
        """(n, K) posterior of the DPM fitted with Kim's robust update, and its fit seconds."""
        return self._dpm("dpm-robust", {"robust_update": True})

    def _dpm(self, name: str, extra: dict[str, Any]) -> tuple[npt.NDArray[np.float64], float]:
        return self._cached(name, lambda: self._dpm_fit(name, extra, latent=False))

    def _dpm_fit(self, name: str, extra: dict[str, Any], *, latent: bool) -> Any:
        """Fit once; the posterior and the latent vectors are both cached (the one not asked
        for is stored beside it, so a later call does not refit)."""
        from orchestrator.model import ModelConfig, fit_label_model

        n = self.data.n_items
        config = ModelConfig.model_validate(
            {"torch_threads": self.threads, **self.dpm_overrides, **extra}
        )
        t0 = time.perf_counter()
        out = fit_label_model(
            self.data,
            observed=np.full(n, -1, dtype=np.int64),
            validation=np.zeros(n, dtype=np.bool_),
            config=config,
            seed=self.seed,
        )
        secs = time.perf_counter() - t0
        other = (name, out.posterior) if latent else (f"{name}-latent", out.latent)
        if other[0] not in self._memory:
            self._store(other[0], np.asarray(other[1], dtype=np.float64), secs)
        return out.latent if latent else out.posterior

    def pred_probs(self, model: str) -> tuple[npt.NDArray[np.float64], float]:
        """(n, K) out-of-fold probabilities of ``model`` ("lr" | "mlp") on the noisy labels."""

        def compute() -> npt.NDArray[np.float64]:
            return cross_val_pred_probs(
                self.data.features,
                self.data.noisy_labels,
                self.data.n_classes,
                model=model,
                seed=self.seed,
                feature_kind=self.data.feature_kind,
            )

        return self._cached(f"pp-{model}", compute)
