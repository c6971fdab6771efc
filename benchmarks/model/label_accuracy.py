"""Label accuracy of the DPM against cleanlab on digits / mnist5k with injected noise.

Every method sees the same features, the same noisy labels and the same validation items (a
stratified random share of the items, by noisy label, whose gold label is treated as
crowd-verified for ALL methods: the DPM gets them as ``observed``/``validation``; cleanlab gets
their labels corrected before computing out-of-fold pred_probs and keeps them fixed).
Accuracy is measured against gold on the items outside the validation set.

Usage:
    OMP_NUM_THREADS=2 python benchmarks/model/label_accuracy.py --datasets digits mnist5k \
        --noise random structural --seeds 0 1 2 --threads 2 --out benchmarks/model/acc_digits.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def stratified_validation(noisy: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    from orchestrator.sampling import stratified_random_selection

    budget = round(share * len(noisy))
    val = np.zeros(len(noisy), dtype=bool)
    val[stratified_random_selection(noisy, val.copy(), budget, rng)] = True
    return val


def cleanlab_fix(
    x: np.ndarray, labels: np.ndarray, val: np.ndarray, model: str, seed: int, k: int
) -> np.ndarray:
    try:
        from cleanlab.filter import find_label_issues
    except ImportError as exc:  # pragma: no cover
        raise ImportError("install the extra: pip install 'crowdclean[cleanlab]'") from exc
    from orchestrator.bench.shared import cross_val_pred_probs
    from orchestrator.db.models import FeatureKind

    # One definition of the cleanlab baselines' classifiers, shared with `crowdclean bench`:
    # StandardScaler + LogisticRegression(C=0.1) or + MLPClassifier(128), 5 shuffled folds.
    probs = cross_val_pred_probs(
        x,
        labels,
        k,
        model="lr" if model == "logreg" else "mlp",
        seed=seed,
        feature_kind=FeatureKind.PIXELS,
    )
    issues = find_label_issues(labels, probs)
    fixed = np.where(issues, probs.argmax(1), labels)
    return np.where(val, labels, fixed)  # validation labels are verified: keep them


def run_one(
    name: str,
    noise: str,
    seed: int,
    share: float,
    threads: int,
    overrides: dict[str, object] | None = None,
) -> dict[str, object]:
    from orchestrator.data.builtin import load_builtin
    from orchestrator.data.noise import inject_noise
    from orchestrator.model import ModelConfig, fit_label_model

    rng = np.random.default_rng(seed)
    data = inject_noise(load_builtin(name), rate=0.2, kind=noise, rng=rng)  # type: ignore[arg-type]
    val = stratified_validation(data.noisy_labels, share, rng)
    observed = np.where(val, data.gold, -1).astype(np.int64)
    rest = ~val

    def acc(labels: np.ndarray) -> float:
        return float((labels[rest] == data.gold[rest]).mean())

    row: dict[str, object] = {
        "dataset": name,
        "noise": noise,
        "seed": seed,
        "n": data.n_items,
        "n_validation": int(val.sum()),
        "noisy": acc(data.noisy_labels),
        "threads": threads,
        "loadavg_start": list(os.getloadavg()),
    }
    cfg = ModelConfig(torch_threads=threads).model_copy(update=overrides or {})
    row["config_overrides"] = overrides or {}
    row["schedule"] = {"search_epochs": cfg.search_epochs, "patience": cfg.patience}
    t0 = time.perf_counter()
    out = fit_label_model(data, observed=observed, validation=val, config=cfg, seed=seed)
    row["dpm"] = acc(out.predicted)
    row["dpm_beta"] = out.beta
    row["dpm_seconds"] = time.perf_counter() - t0
    info = out.info
    row["dpm_epochs"] = (
        f"{info['search_epochs']} search + {info['epochs_run']} final (best {info['epochs']})"
    )
    # Validation (accuracy, -NLL) of every β candidate: how the choice was made.
    scores = info["beta_scores"]
    assert isinstance(scores, dict)
    row["dpm_beta_scores"] = {str(k): v for k, v in scores.items()}
    row["dpm_val_accuracy"] = info["val_accuracy"]
    t0 = time.perf_counter()
    out0 = fit_label_model(
        data,
        observed=observed,
        validation=val,
        config=cfg.model_copy(update={"beta": 0.0}),
        seed=seed,
    )
    row["dpm_beta0"] = acc(out0.predicted)
    row["dpm_beta0_seconds"] = time.perf_counter() - t0
    labels = np.where(val, data.gold, data.noisy_labels)
    for model in ("logreg", "mlp"):
        t0 = time.perf_counter()
        row[f"cleanlab_{model}"] = acc(
            cleanlab_fix(data.features, labels, val, model, seed, data.n_classes)
        )
        row[f"cleanlab_{model}_seconds"] = time.perf_counter() - t0
    row["loadavg_end"] = list(os.getloadavg())
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"])
    ap.add_argument("--noise", nargs="+", default=["random", "structural"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--validation-share", type=float, default=0.025)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--patience", type=int, default=None, help="default: ModelConfig's")
    ap.add_argument("--search-epochs", type=int, default=None, help="default: ModelConfig's")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rows = json.loads(args.out.read_text()) if args.out.exists() else []
    done = {(r["dataset"], r["noise"], r["seed"]) for r in rows}
    overrides: dict[str, object] = {}
    if args.patience is not None:
        overrides["patience"] = args.patience
    if args.search_epochs is not None:
        overrides["search_epochs"] = args.search_epochs
    for name in args.datasets:
        for noise in args.noise:
            for seed in args.seeds:
                if (name, noise, seed) in done:
                    continue
                row = run_one(name, noise, seed, args.validation_share, args.threads, overrides)
                print(json.dumps(row), flush=True)
                rows.append(row)
                args.out.write_text(json.dumps(rows, indent=1))
    print("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS"))


if __name__ == "__main__":
    main()
