"""propagate_labels: the claim rule, never overriding verified labels, and p tuning."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.propagation import propagate_labels


def _line(points: list[float]) -> np.ndarray:
    return np.asarray(points, dtype=np.float32)[:, None]


def test_pinned_one_dimensional_example() -> None:
    # One cluster of 10 items on a line; verified rows 0 (label 1) and 9 (label 2).
    x = _line([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    clusters = np.zeros(10, dtype=np.int64)
    # p = 0.2 → each verified item claims its floor(0.2 · 10) = 2 nearest unverified items.
    pr = propagate_labels(x, clusters, np.array([0, 9]), np.array([1, 2]), fraction=0.2)
    assert pr.indices.tolist() == [1, 2, 7, 8]
    assert pr.labels.tolist() == [1, 1, 2, 2]
    assert pr.sources.tolist() == [0, 0, 9, 9]
    assert np.allclose(pr.distances, [1, 2, 2, 1])
    assert pr.fraction == 0.2
    # Confidence decreases with distance and lies in (0, 1].
    assert pr.confidence[0] > pr.confidence[1] and (pr.confidence <= 1).all()
    # p = 0 propagates nothing; p = 1 labels every unverified item by its nearest source.
    assert (
        len(propagate_labels(x, clusters, np.array([0, 9]), np.array([1, 2]), fraction=0.0).indices)
        == 0
    )
    full = propagate_labels(x, clusters, np.array([0, 9]), np.array([1, 2]), fraction=1.0)
    assert full.indices.tolist() == list(range(1, 9))
    assert full.labels.tolist() == [1, 1, 1, 1, 2, 2, 2, 2]


def test_label_comes_from_nearest_source_not_the_claimer() -> None:
    # Row 0 (label 0) claims rows 1..3 at p = 0.5; row 3 is nearer to verified row 4 (label 1).
    x = _line([0, 1, 2, 3.6, 4, 100])
    clusters = np.zeros(6, dtype=np.int64)
    pr = propagate_labels(x, clusters, np.array([0, 4]), np.array([0, 1]), fraction=0.5)
    got = dict(zip(pr.indices.tolist(), pr.labels.tolist(), strict=True))
    assert got[3] == 1 and got[1] == 0


def test_stays_inside_clusters() -> None:
    x = _line([0, 1, 2, 3, 10, 11, 12])
    clusters = np.array([0, 0, 0, 0, 1, 1, 1])
    pr = propagate_labels(x, clusters, np.array([3]), np.array([5]), fraction=1.0)
    assert pr.indices.tolist() == [0, 1, 2]  # cluster 1 has no verified item


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.floats(0, 1))
def test_never_overrides_verified(seed: int, p: float) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    x = rng.normal(size=(n, 3)).astype(np.float32)
    clusters = rng.integers(0, 3, n)
    ver = rng.choice(n, 10, replace=False)
    labels = rng.integers(0, 4, 10)
    pr = propagate_labels(x, clusters, ver, labels, fraction=p)
    assert not np.isin(pr.indices, ver).any()
    assert len(np.unique(pr.indices)) == len(pr.indices)
    # Each label is the nearest verified item of the same cluster.
    for i, lab, src in zip(pr.indices, pr.labels, pr.sources, strict=True):
        same = ver[clusters[ver] == clusters[i]]
        d = np.linalg.norm(x[same] - x[i], axis=1)
        assert src == same[d.argmin()]
        assert lab == labels[list(ver).index(src)]


def _two_class_world(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # One cluster holding two classes side by side: propagation is right near the sources and
    # wrong far away, so the validation-best p is interior.
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], 100)
    x = np.where(y[:, None] == 0, 0.0, 3.0) + rng.normal(0, 1.0, (200, 2))
    return x.astype(np.float32), y, np.zeros(200, dtype=np.int64)


def test_tuning_with_current_labels_maximises_gain() -> None:
    x, y, clusters = _two_class_world()
    rng = np.random.default_rng(1)
    ver = np.sort(rng.choice(200, 30, replace=False))
    current = np.where(rng.random(200) < 0.3, 1 - y, y)  # 30 % wrong before propagation
    pr = propagate_labels(
        x,
        clusters,
        ver,
        y[ver],
        validation_idx=ver,
        validation_labels=y[ver],
        current_labels=current,
    )
    table: Any = pr.info["tuning"]
    gains = {p: row["gain"] for p, row in table.items() if row["p_value"] <= 0.05}
    best = max(gains.values())
    assert best > 0
    assert pr.fraction == min(p for p, g in gains.items() if g == best)
    for row in table.values():  # gain = wins - losses over the covered items
        assert row["gain"] == row["wins"] - row["losses"]


def _chance_gain_world() -> dict[str, Any]:
    # Two clusters of 20 on a line. Cluster 0 holds validation rows 0..3, all class 0; the
    # current labels are wrong on rows 1 and 2 only, so propagating inside cluster 0 wins
    # 2 items and loses none: a net gain of 2 that a sign test calls chance (p = 0.25).
    x = _line([float(i) for i in range(20)] + [100.0 + i for i in range(20)])
    clusters = np.repeat([0, 1], 20).astype(np.int64)
    y = np.zeros(40, dtype=np.int64)
    current = y.copy()
    current[[1, 2]] = 1
    val = np.array([0, 1, 2, 3])
    return {
        "latent": x,
        "clusters": clusters,
        "verified_idx": val,
        "verified_labels": y[val],
        "validation_idx": val,
        "validation_labels": y[val],
        "current_labels": current,
    }


def test_chance_gain_does_not_propagate() -> None:
    world = _chance_gain_world()
    guarded = propagate_labels(**world)
    table: Any = guarded.info["tuning"]
    assert max(row["gain"] for row in table.values()) == 2
    assert all(row["p_value"] >= 0.25 for row in table.values() if row["gain"] > 0)
    assert guarded.fraction == 0.0 and len(guarded.indices) == 0
    # The same evidence accepted without the test: some p > 0 wins and labels are copied.
    loose = propagate_labels(**world, significance=1.0)
    assert loose.fraction > 0 and len(loose.indices) > 0


def test_significant_gain_propagates() -> None:
    # Six wins, no loss: p = 1/64 passes the 0.05 sign test.
    world = _chance_gain_world()
    current = np.zeros(40, dtype=np.int64)
    val = np.arange(8)
    current[1:7] = 1
    world.update(
        verified_idx=val,
        verified_labels=np.zeros(8, dtype=np.int64),
        validation_idx=val,
        validation_labels=np.zeros(8, dtype=np.int64),
        current_labels=current,
    )
    pr = propagate_labels(**world)
    assert pr.fraction > 0
    row: Any = pr.info["tuning"][pr.fraction]  # type: ignore[index]
    assert row["wins"] >= 5 and row["p_value"] <= 0.05


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_significance_out_of_range_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="significance"):
        propagate_labels(**_chance_gain_world(), significance=bad)


def test_tuning_without_current_labels_largest_accurate_p() -> None:
    x, y, clusters = _two_class_world()
    ver = np.arange(0, 200, 7)
    pr = propagate_labels(
        x, clusters, ver, y[ver], validation_idx=ver, validation_labels=y[ver], min_accuracy=0.9
    )
    table: Any = pr.info["tuning"]
    ok = [p for p, row in table.items() if row["covered"] and row["accuracy"] >= 0.9]
    assert pr.fraction == (max(ok) if ok else 0.0)
    # A target nobody reaches → propagate nothing.
    none = propagate_labels(
        x, clusters, ver, y[ver], validation_idx=ver, validation_labels=y[ver], min_accuracy=1.01
    )
    assert none.fraction == 0.0 and len(none.indices) == 0


def test_leave_one_out_never_uses_itself() -> None:
    # Two verified items far apart with different labels: held out, each one can only be
    # labelled by the other, so propagated accuracy on validation is 0 at every p.
    x = _line([0, 0.1, 0.2, 50])
    clusters = np.zeros(4, dtype=np.int64)
    pr = propagate_labels(
        x,
        clusters,
        np.array([0, 3]),
        np.array([0, 1]),
        validation_idx=np.array([0, 3]),
        validation_labels=np.array([0, 1]),
    )
    table: Any = pr.info["tuning"]
    assert all(row["correct"] == 0 for row in table.values())
    assert pr.fraction == 0.0


def test_input_validation() -> None:
    x = _line([0, 1])
    with pytest.raises(ValueError):
        propagate_labels(x, np.zeros(2, np.int64), np.array([0]), np.array([0]), fraction=1.5)
    with pytest.raises(ValueError):
        propagate_labels(x, np.zeros(3, np.int64), np.array([0]), np.array([0]), fraction=0.5)


def _reference(
    x: np.ndarray, clusters: np.ndarray, ver: np.ndarray, labels: np.ndarray, p: float
) -> dict[int, tuple[int, int]]:
    """The rule written directly, in float64: row → (label, source)."""
    out: dict[int, tuple[int, int]] = {}
    is_ver = np.isin(np.arange(len(x)), ver)
    for j in np.unique(clusters):
        members = np.flatnonzero(clusters == j)
        src = ver[clusters[ver] == j]
        free = members[~is_ver[members]]
        if len(src) == 0 or len(free) == 0:
            continue
        m = int(np.floor(p * len(members) + 1e-9))
        d = np.linalg.norm(x[free][:, None, :].astype(np.float64) - x[src][None], axis=2)
        claimed = np.zeros(len(free), dtype=bool)
        for k in range(len(src)):
            if m <= 0:
                continue
            radius = np.inf if m >= len(free) else np.sort(d[:, k])[m - 1]
            claimed |= d[:, k] <= radius
        for i in np.flatnonzero(claimed):
            s = int(src[d[i].argmin()])
            out[int(free[i])] = (int(labels[list(ver).index(s)]), s)
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [0.0, 0.03, 0.1, 0.37, 1.0])
def test_matches_float64_reference(seed: int, p: float) -> None:
    # Exact regime (clusters below max_sample): the blocked float32 pass must claim exactly the
    # items the rule claims, with the nearest source's label.
    rng = np.random.default_rng(seed)
    n = 900
    x = (rng.normal(size=(n, 8)) + 5 * rng.normal(size=(1, 8))).astype(np.float32)
    clusters = rng.integers(0, 4, n)
    ver = rng.choice(n, 70, replace=False)
    labels = rng.integers(0, 5, 70)
    pr = propagate_labels(x, clusters, ver, labels, fraction=p)
    got = {
        int(i): (int(lab), int(s))
        for i, lab, s in zip(pr.indices, pr.labels, pr.sources, strict=True)
    }
    assert got == _reference(x, clusters, ver, labels, p)


def test_threads_do_not_change_the_result() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    x = rng.normal(size=(n, 6)).astype(np.float32)
    clusters = rng.integers(0, 3, n)
    y = (x[:, 0] > 0).astype(np.int64)
    ver = rng.choice(n, 300, replace=False)
    kw: dict[str, Any] = {
        "validation_idx": ver[:100],
        "validation_labels": y[ver[:100]],
        "current_labels": np.where(rng.random(n) < 0.4, 1 - y, y),
        "max_sample": 256,  # subsampled claim radii: the draws must not depend on threads
    }
    extras: list[dict[str, Any]] = [{}, {"fraction": 0.2}]
    for extra in extras:
        one = propagate_labels(x, clusters, ver, y[ver], threads=1, **kw, **extra)
        two = propagate_labels(x, clusters, ver, y[ver], threads=2, **kw, **extra)
        assert one.fraction == two.fraction > 0
        assert repr(one.info) == repr(two.info)  # repr: NaN accuracies compare equal
        assert len(one.indices) > 0
        for field in ("indices", "labels", "sources", "distances", "confidence"):
            assert np.array_equal(getattr(one, field), getattr(two, field))
