"""Noise injection hits its rate exactly and reproducibly; built-in datasets load real data."""

from __future__ import annotations

import numpy as np
import pytest

from orchestrator.data.builtin import bag_of_words, load_builtin
from orchestrator.data.errors import DatasetError
from orchestrator.data.noise import inject_noise


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    return load_builtin("digits")


def test_digits_is_real(digits) -> None:  # type: ignore[no-untyped-def]
    assert digits.features.shape == (1797, 64)
    assert digits.features.min() >= 0.0 and digits.features.max() <= 1.0
    assert np.bincount(digits.gold).min() > 150
    assert digits.label_accuracy() == 1.0


@pytest.mark.parametrize("kind", ["random", "structural"])
@pytest.mark.parametrize("rate", [0.1, 0.2, 0.4])
def test_noise_rate_is_exact_and_seeded(digits, kind: str, rate: float) -> None:  # type: ignore[no-untyped-def]
    a = inject_noise(digits, rate=rate, kind=kind, rng=np.random.default_rng(3))  # type: ignore[arg-type]
    b = inject_noise(digits, rate=rate, kind=kind, rng=np.random.default_rng(3))  # type: ignore[arg-type]
    c = inject_noise(digits, rate=rate, kind=kind, rng=np.random.default_rng(4))  # type: ignore[arg-type]
    wrong = a.noisy_labels != a.gold
    assert wrong.sum() == round(rate * digits.n_items)
    np.testing.assert_array_equal(a.noisy_labels, b.noisy_labels)
    assert not np.array_equal(a.noisy_labels, c.noisy_labels)
    np.testing.assert_array_equal(a.gold, digits.gold)


def test_structural_noise_is_consensual(digits) -> None:  # type: ignore[no-untyped-def]
    """Structural flips concentrate on few (true, wrong) pairs; random flips spread out."""

    def top_pair_share(kind: str) -> float:
        d = inject_noise(digits, rate=0.2, kind=kind, rng=np.random.default_rng(0))  # type: ignore[arg-type]
        wrong = d.noisy_labels != d.gold
        pairs = d.gold[wrong] * 10 + d.noisy_labels[wrong]
        counts = np.sort(np.bincount(pairs))[::-1]
        return float(counts[:10].sum() / wrong.sum())

    assert top_pair_share("structural") > 0.8
    assert top_pair_share("random") < 0.4


def test_structural_noise_fools_a_classifier_more(digits) -> None:  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    acc = {}
    for kind in ("random", "structural"):
        d = inject_noise(digits, rate=0.2, kind=kind, rng=np.random.default_rng(0))  # type: ignore[arg-type]
        pred = cross_val_predict(LogisticRegression(max_iter=300), d.features, d.noisy_labels, cv=3)
        acc[kind] = float((pred == d.gold).mean())
    assert acc["structural"] < acc["random"] - 0.05


def test_bad_noise_arguments(digits) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="rate"):
        inject_noise(digits, rate=1.5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown noise kind"):
        inject_noise(digits, rate=0.1, kind="weird", rng=np.random.default_rng(0))  # type: ignore[arg-type]


def test_unknown_builtin() -> None:
    with pytest.raises(DatasetError, match="unknown built-in dataset"):
        load_builtin("imagenet")


def test_bag_of_words_vocabulary_cap() -> None:
    counts, vocab = bag_of_words(["a a b", "b c", "d"], vocabulary_size=2)
    assert vocab == ["a", "b"]
    assert counts.tolist() == [[2.0, 1.0], [0.0, 1.0], [0.0, 0.0]]


@pytest.mark.slow
def test_mnist5k_and_movie_snippets_download(tmp_path) -> None:  # type: ignore[no-untyped-def]
    mnist = load_builtin("mnist5k", cache_dir=tmp_path)
    assert mnist.features.shape == (5000, 784)
    assert np.bincount(mnist.gold).tolist() == [500] * 10
    movies = load_builtin("movie-snippets", cache_dir=tmp_path)
    assert movies.n_items == 10605
    assert (movies.gold == 0).sum() == 5152
    ratings = movies.extras["ratings"]
    assert isinstance(ratings, list) and min(len(r) for r in ratings) >= 15
    # Majority sign of the real ratings agrees with the source-order polarity ~96 %.
    sign = np.array([0 if (np.sign(r).sum() > 0) else 1 for r in ratings])
    assert 0.9 < float((sign == movies.gold).mean()) < 0.99
