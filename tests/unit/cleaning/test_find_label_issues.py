"""``crowdclean.find_label_issues``: crowd-free label issues on real data, in the caller's terms.

The quality bars were set from measurements (digits, 20 % random noise, 30 epochs, β = 0.1,
seeds 0-2: AUROC of p_label_wrong against the flipped labels 0.991-0.997, suggested-label
accuracy 0.961-0.976 against 0.800 for the given labels, precision of is_label_issue
0.94-0.97, recall 0.91-0.96), with a margin for other platforms' floating point.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import crowdclean
from orchestrator.data.builtin import load_builtin
from orchestrator.data.dataset import LabeledData
from orchestrator.data.noise import inject_noise

ROOT = Path(__file__).resolve().parents[3]
#: Few epochs and one β keep each fit to a few seconds on one core.
FAST = {"epochs": 30, "beta": 0.1}


@pytest.fixture(scope="module")
def noisy_digits() -> LabeledData:
    return inject_noise(load_builtin("digits"), rate=0.2, rng=np.random.default_rng(0))


@pytest.fixture(scope="module")
def digits_issues(noisy_digits: LabeledData) -> pd.DataFrame:
    index = pd.Index([f"img-{i}" for i in range(noisy_digits.n_items)], name="image")
    labels = pd.Series(noisy_digits.noisy_labels, index=index, name="digit")
    return crowdclean.find_label_issues(noisy_digits.features, labels, model=FAST)


def test_p_label_wrong_ranks_the_flipped_labels_first(
    noisy_digits: LabeledData, digits_issues: pd.DataFrame
) -> None:
    flipped = noisy_digits.noisy_labels != noisy_digits.gold
    assert flipped.mean() == pytest.approx(0.2, abs=0.001)
    auroc = roc_auc_score(flipped, digits_issues["p_label_wrong"].to_numpy())
    assert auroc > 0.97, auroc
    flagged = digits_issues["is_label_issue"].to_numpy()
    assert flipped[flagged].mean() > 0.85  # precision of the flags
    assert flagged[flipped].mean() > 0.8  # recall


def test_suggested_labels_beat_the_given_ones(
    noisy_digits: LabeledData, digits_issues: pd.DataFrame
) -> None:
    gold = noisy_digits.gold
    given_acc = float((digits_issues["given_label"].to_numpy() == gold).mean())
    suggested_acc = float((digits_issues["suggested_label"].to_numpy() == gold).mean())
    assert given_acc == pytest.approx(0.8, abs=0.001)
    assert suggested_acc > given_acc + 0.12, (given_acc, suggested_acc)


def test_frame_shape_in_the_callers_terms(
    noisy_digits: LabeledData, digits_issues: pd.DataFrame
) -> None:
    df = digits_issues
    assert tuple(df.columns) == crowdclean.ISSUE_COLUMNS
    assert df.index.name == "image" and df.index[5] == "img-5" and len(df) == noisy_digits.n_items
    assert df["given_label"].tolist() == noisy_digits.noisy_labels.tolist()
    assert df["given_label"].dtype == df["suggested_label"].dtype == np.int64
    assert df["is_label_issue"].dtype == bool
    p = df["p_label_wrong"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()
    np.testing.assert_allclose(df["label_quality"].to_numpy(), 1 - p)
    # the documented rule of is_label_issue
    assert (df["is_label_issue"] == (df["suggested_label"] != df["given_label"])).all()


def test_string_labels_a_frame_and_a_declared_unused_class() -> None:
    digits = load_builtin("digits")
    keep = np.flatnonzero(digits.gold < 3)[:300]  # three digits: a small, quick fit
    names = np.array(["zero", "one", "two"])
    labels = names[digits.gold[keep]]
    labels[::10] = "one"  # some wrong labels
    frame = pd.DataFrame(
        digits.features[keep], columns=[f"px{j}" for j in range(64)], index=keep * 10
    )
    classes = ["zero", "one", "two", "three"]  # "three" never occurs
    df = crowdclean.find_label_issues(
        frame, labels, classes=classes, seed=3, model={"epochs": 10, "beta": 0.1}
    )
    assert df.index.tolist() == (keep * 10).tolist()  # indexed like the features frame
    assert df["given_label"].tolist() == labels.tolist()
    assert set(df["suggested_label"]) <= set(classes)
    # same inputs, same seed: same answer
    again = crowdclean.find_label_issues(
        frame, labels, classes=classes, seed=3, model={"epochs": 10, "beta": 0.1}
    )
    pd.testing.assert_frame_equal(df, again)


X = np.random.default_rng(0).random((6, 3))
Y = np.array([0, 1, 0, 1, 0, 1])


@pytest.mark.parametrize(
    ("features", "labels", "kwargs", "message"),
    [
        (X, Y[:5], {}, "features have 6 rows but labels have 5"),
        (np.where(np.eye(6, 3) > 0, np.nan, X), Y, {}, "features hold nan at row 0, column 0"),
        (X * np.inf, Y, {}, "finite"),
        (X, np.zeros(6, dtype=int), {}, "single class"),
        (X, Y, {"classes": [0, 2]}, "label 1 at position 1 is not one of the classes"),
        (X, Y, {"classes": [0]}, "at least two classes"),
        (X[:, 0], Y, {}, "features must be 2-D"),
        (X[:, :0], Y, {}, "0 columns"),
        (X, np.array([0, 1, "a", 1, 0, 1], dtype=object), {}, "mix numbers and text"),
        (X, [0, 1, None, 1, 0, 1], {}, "missing value (None) at position 2"),
        (X, Y.reshape(3, 2), {}, "labels must be 1-D"),
        (X, Y, {"model": {"epochz": 3}}, "epochz"),
        (X, Y, {"model": {"epochs": 0}}, "epochs"),
        (X, Y, {"feature_kind": "images"}, "feature_kind must be one of auto, continuous"),
        (X * 2, Y, {"feature_kind": "pixels"}, "needs values in [0, 1]"),
        (X - 1, Y, {"feature_kind": "counts"}, "needs values >= 0"),
        (X, Y, {"seed": -1}, "seed must be a non-negative integer"),
        (pd.DataFrame({"a": ["x"] * 6}), Y, {}, "features column 'a' is not numeric"),
        (pd.DataFrame(X), pd.Series(Y, index=range(1, 7)), {}, "different indexes"),
        ([["a", "b"]] * 6, Y, {}, "features must be numbers"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_input_is_a_clear_value_error(
    features: object, labels: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        crowdclean.find_label_issues(features, labels, **kwargs)  # type: ignore[arg-type]


def test_import_is_cheap() -> None:
    # `import crowdclean` must not pull torch (seconds) or even pandas: they load on the call.
    code = (
        "import sys, crowdclean; "
        "heavy = [m for m in ('torch', 'pandas', 'numpy', 'sqlmodel') if m in sys.modules]; "
        "assert not heavy, heavy; print(crowdclean.find_label_issues.__name__)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "find_label_issues"
