"""Benchmark data: simulated worker pools and votes from the movie-snippets rating lists.

All randomness goes through an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

CACHE = Path(os.environ.get("CROWDCLEAN_CACHE", Path.home() / ".cache" / "crowdclean"))
VADER = "vaderSentiment==3.3.2"
RATINGS_FILE = "movieReviewSnippets_anonDataRatings.txt"
N_POSITIVE = 5152  # ids 1..5152 positive, 5153..10605 negative (Hutto & Gilbert 2014)


@dataclass(frozen=True)
class Pool:
    """Simulated answers as integer arrays (task, worker, label) plus the truth per task."""

    task: npt.NDArray[np.int64]
    worker: npt.NDArray[np.int64]
    label: npt.NDArray[np.int64]
    truth: npt.NDArray[np.int64]
    spammers: npt.NDArray[np.int64]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"task": self.task, "worker": self.worker, "label": self.label})

    def truth_series(self) -> pd.Series:
        return pd.Series(self.truth, index=pd.RangeIndex(len(self.truth), name="task"))


def _assign_distinct_workers(
    task: npt.NDArray[np.int64], n_workers: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """A uniformly random worker per answer, redrawn until no task has a worker twice."""
    worker = rng.integers(0, n_workers, size=task.size)
    while True:
        key = pd.Series(task * n_workers + worker)
        dup = key.duplicated().to_numpy()
        if not dup.any():
            return worker
        worker[dup] = rng.integers(0, n_workers, size=int(dup.sum()))


def simulate_pool(
    n_answers: int,
    n_tasks: int,
    n_workers: int,
    n_classes: int,
    *,
    spammer_frac: float = 0.1,
    accuracy_beta: tuple[float, float] = (17.0, 3.0),
    seed: int = 0,
) -> Pool:
    """Workers with accuracy ~ Beta(a, b); ``spammer_frac`` of them answer uniformly at random.

    Every task gets ``n_answers // n_tasks`` answers and the remainder goes to randomly
    chosen tasks (one extra each); workers are drawn uniformly, distinct within a task.
    A diligent worker is right with probability = their accuracy, otherwise picks one of
    the ``K - 1`` wrong classes uniformly. True classes are uniform.
    """
    rng = np.random.default_rng(seed)
    base, extra = divmod(n_answers, n_tasks)
    task = np.concatenate(
        [np.repeat(np.arange(n_tasks), base), rng.choice(n_tasks, size=extra, replace=False)]
    ).astype(np.int64)
    worker = _assign_distinct_workers(task, n_workers, rng)
    truth = rng.integers(0, n_classes, size=n_tasks)
    acc = rng.beta(*accuracy_beta, size=n_workers)
    spammers = rng.choice(n_workers, size=round(spammer_frac * n_workers), replace=False)
    is_spam = np.zeros(n_workers, dtype=bool)
    is_spam[spammers] = True
    z = truth[task]
    right = rng.random(task.size) < acc[worker]
    wrong = (z + rng.integers(1, n_classes, size=task.size)) % n_classes
    label = np.where(right, z, wrong)
    spam_rows = is_spam[worker]
    label[spam_rows] = rng.integers(0, n_classes, size=int(spam_rows.sum()))
    order = rng.permutation(task.size)  # answers arrive interleaved, not task by task
    return Pool(task[order], worker[order], label[order].astype(np.int64), truth, np.sort(spammers))


def movie_ratings_path(cache: Path = CACHE) -> Path:
    """Download (once) vaderSentiment's sdist and unpack the movie-snippets rating lists."""
    root = cache / "vader"
    target = root / RATINGS_FILE
    if target.exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    sdist = root / "vaderSentiment-3.3.2.tar.gz"
    if not sdist.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                str(root),
                VADER,
            ],
            check=True,
        )
    with tarfile.open(sdist) as tar:
        tar.extractall(root, filter="data")
    inner = root / "vaderSentiment-3.3.2" / "additional_resources" / "hutto_ICWSM_2014.tar.gz"
    with tarfile.open(inner) as tar:
        tar.extractall(root, filter="data")
    found = sorted(root.rglob(RATINGS_FILE))
    if not found:
        raise FileNotFoundError(f"{RATINGS_FILE} not found under {root}")
    if found[0] != target:
        target.write_bytes(found[0].read_bytes())
    return target


def load_movie_ratings(path: Path) -> tuple[list[list[int]], npt.NDArray[np.int64]]:
    """Rating lists (integers -4..+4) per snippet and gold polarity (1 = positive, 0 = negative).

    Returns items in id order; ids 1..5152 are positive, 5153..10605 negative.
    """
    ids: list[int] = []
    ratings: list[list[int]] = []
    with path.open(encoding="utf-8-sig") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            ids.append(int(parts[0]))
            ratings.append([int(r) for r in json.loads(parts[3])])
    order = np.argsort(ids)
    ids_sorted = np.asarray(ids)[order]
    gold = (ids_sorted <= N_POSITIVE).astype(np.int64)
    return [ratings[i] for i in order], gold


def movie_votes(
    ratings: list[list[int]],
    *,
    votes_per_item: int,
    n_workers: int,
    spammer_frac: float = 0.0,
    seed: int = 0,
) -> Pool:
    """Binary votes drawn from the real per-snippet rating lists.

    For each snippet, ``votes_per_item`` ratings are drawn *without replacement* from its
    list with the zeros (neutral ratings) removed; a vote is the sign of the rating
    (1 = positive, 0 = negative). Snippets with fewer non-zero ratings than
    ``votes_per_item`` use all of them. The lists carry no rater ids, so each vote is given
    to a worker drawn uniformly from a pool of ``n_workers`` simulated ids (distinct within
    a snippet); a fraction ``spammer_frac`` of that pool then has all its votes replaced by
    fair coin flips, to see how the models cope with spammers on real vote noise.
    """
    rng = np.random.default_rng(seed)
    tasks: list[npt.NDArray[np.int64]] = []
    labels: list[npt.NDArray[np.int64]] = []
    for i, items in enumerate(ratings):
        nonzero = np.asarray([r for r in items if r != 0], dtype=np.int64)
        if nonzero.size == 0:
            continue
        k = min(votes_per_item, nonzero.size)
        drawn = rng.choice(nonzero, size=k, replace=False)
        tasks.append(np.full(k, i, dtype=np.int64))
        labels.append((drawn > 0).astype(np.int64))
    task = np.concatenate(tasks)
    label = np.concatenate(labels)
    worker = _assign_distinct_workers(task, n_workers, rng)
    spammers = rng.choice(n_workers, size=round(spammer_frac * n_workers), replace=False)
    spam_rows = np.isin(worker, spammers)
    label[spam_rows] = rng.integers(0, 2, size=int(spam_rows.sum()))
    return Pool(task, worker, label, np.zeros(0, dtype=np.int64), np.sort(spammers))


def machine_info() -> str:
    """One line describing the machine and library versions."""
    import platform

    import scipy

    try:
        import crowdkit

        ck_version = getattr(crowdkit, "__version__", "?")
    except ImportError:  # pragma: no cover
        ck_version = "absent"
    try:
        from importlib.metadata import version

        ck_version = version("crowd-kit")
    except Exception:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs{mem}; Linux {platform.release()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
        f"scipy {scipy.__version__}, crowd-kit {ck_version}"
    )
