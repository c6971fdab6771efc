"""k-means and nearest-neighbour search with bounded memory: faiss when present, numpy otherwise.

``backend="auto"`` uses faiss (optional extra ``crowdclean[faiss]``) when it imports and the
numpy implementation otherwise; ``"faiss"`` insists on it (``ImportError`` naming the extra) and
``"numpy"`` never tries it. Both process the rows in blocks so that no intermediate distance
matrix holds more than about ``_BLOCK_ELEMENTS`` float32 entries (64 MiB), whatever n is.
Also used by :mod:`orchestrator.propagation`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse

Backend = Literal["auto", "faiss", "numpy"]

_BLOCK_ELEMENTS = 1 << 24
# Blocks of the fused distance passes (assign_nearest, propagation): 2^17 float32 = 512 KiB, so
# the GEMM output and the reductions that follow it stay in a core's L2 cache (1 MiB here)
# instead of streaming 16-64 MiB blocks through main memory several times.
CACHE_BLOCK_ELEMENTS = 1 << 17
_FAISS_HINT = "faiss is not installed; install the extra: pip install 'crowdclean[faiss]'"


def import_faiss() -> ModuleType:
    """Import faiss lazily; ``ImportError`` that names the extra when it is missing."""
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(_FAISS_HINT) from exc
    return faiss


def _use_faiss(backend: Backend) -> bool:
    if backend == "numpy":
        return False
    if backend == "faiss":
        import_faiss()
        return True
    try:
        import_faiss()
    except ImportError:
        return False
    return True


def _block_rows(n_cols: int) -> int:
    return max(1, _BLOCK_ELEMENTS // max(1, n_cols))


def squared_distances(
    a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """(m, d), (k, d) → (m, k) squared Euclidean distances, clipped at 0. Not blocked."""
    d2 = a @ b.T
    d2 *= -2.0
    d2 += np.einsum("ij,ij->i", a, a)[:, None]
    d2 += np.einsum("ij,ij->i", b, b)[None, :]
    return np.maximum(d2, 0.0, out=d2)


def augmented_base(b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(k, d) → (d + 1, k) float32 ``[-2 b, ||b||²]ᵀ``, the right operand of the fused GEMM.

    With a query block ``q`` augmented by a column of ones (:func:`augmented_queries`),
    ``[q, 1] @ augmented_base(b) = ||b||² − 2 q·b``, i.e. the squared distance minus the
    per-row constant ``||q||²``: the argmin over ``b`` needs no further pass over the block.
    """
    b = np.asarray(b, dtype=np.float32)
    out = np.empty((b.shape[1] + 1, b.shape[0]), dtype=np.float32)
    np.multiply(b.T, -2.0, out=out[:-1])
    out[-1] = np.einsum("ij,ij->i", b, b)
    return out


def augmented_queries(q: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(m, d) → (m, d + 1) float32 ``[q, 1]`` (left operand of the fused GEMM)."""
    out = np.empty((q.shape[0], q.shape[1] + 1), dtype=np.float32)
    out[:, :-1] = q
    out[:, -1] = 1.0
    return out


def blas_threads() -> int:
    """The BLAS thread limit in force (set by ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` or
    threadpoolctl), used as the default worker count of the blocked distance passes."""
    from threadpoolctl import threadpool_info

    counts = [int(i["num_threads"]) for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(1, max(counts, default=1))


def cache_block_rows(n_cols: int) -> int:
    """Rows per block so that a (rows, n_cols) float32 block is about 512 KiB."""
    return max(16, CACHE_BLOCK_ELEMENTS // max(1, n_cols))


def assign_nearest(
    x: npt.NDArray[np.float32], centroids: npt.NDArray[np.float32], *, threads: int = 1
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Nearest centroid of every row: labels (n,) int64, squared distances (n,) float32.

    One fused GEMM per cache-sized block (``||c||² − 2 x·c``), an argmin, and ``||x||²`` added
    to the n minima only; memory is O(block), whatever n is. The GEMMs are small, so BLAS is
    held to one thread and ``threads`` Python threads share the blocks instead (a
    multi-threaded BLAS on small blocks mostly spins, badly so on a loaded machine).
    """
    from threadpoolctl import threadpool_limits

    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    k = centroids.shape[0]
    labels = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float32)
    base = augmented_base(centroids)
    step = cache_block_rows(k)

    def run(c0: int, c1: int) -> None:
        q = np.empty((min(step, c1 - c0), d + 1), dtype=np.float32)
        q[:, -1] = 1.0
        g = np.empty((q.shape[0], k), dtype=np.float32)
        for s in range(c0, c1, step):
            b = min(step, c1 - s)
            xb = x[s : s + b]
            q[:b, :-1] = xb
            gb = np.matmul(q[:b], base, out=g[:b])
            lab = gb.argmin(1)
            labels[s : s + b] = lab
            dist[s : s + b] = gb[np.arange(b), lab] + np.einsum("ij,ij->i", xb, xb)

    chunk = max(step, 1 << 15)
    bounds = [(c0, min(c0 + chunk, n)) for c0 in range(0, n, chunk)]
    with threadpool_limits(1, user_api="blas"):
        if threads <= 1 or len(bounds) == 1:
            for c0, c1 in bounds:
                run(c0, c1)
        else:
            with ThreadPoolExecutor(threads) as ex:
                list(ex.map(lambda b: run(*b), bounds))
    np.maximum(dist, 0.0, out=dist)
    return labels, dist


def _kmeans_pp(
    x: npt.NDArray[np.float32], c: int, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """Greedy k-means++ seeding on (m, d) rows → (c, d) centroids.

    Each step draws ``2 + ln c`` candidates with probability proportional to the squared
    distance to the closest centroid so far and keeps the one that lowers the potential most
    (plain k-means++ too often puts two seeds in one blob).
    """
    from threadpoolctl import threadpool_limits

    m = x.shape[0]
    trials = 2 + int(np.log(max(c, 1)))
    centroids = np.empty((c, x.shape[1]), dtype=np.float32)
    # ||x||² once (not per step); the (m, trials) GEMMs are tiny, so one BLAS thread.
    aa = np.einsum("ij,ij->i", x, x).astype(np.float64)

    def d2_to(rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        g = (x @ x[rows].T).astype(np.float64)
        g *= -2.0
        g += aa[:, None]
        g += aa[rows][None, :]
        return np.maximum(g, 0.0, out=g)

    with threadpool_limits(1, user_api="blas"):
        first = int(rng.integers(m))
        centroids[0] = x[first]
        closest = d2_to(np.array([first]))[:, 0]
        for j in range(1, c):
            total = float(closest.sum())
            if total <= 0:
                centroids[j] = x[rng.integers(m)]
                continue
            cand = rng.choice(m, size=trials, p=closest / total)
            pot = np.minimum(closest[:, None], d2_to(cand))  # (m, trials)
            best = int(pot.sum(0).argmin())
            centroids[j] = x[cand[best]]
            closest = pot[:, best]
    return centroids


def kmeans(
    x: npt.NDArray[np.floating],
    n_clusters: int,
    *,
    rng: np.random.Generator,
    max_iter: int = 25,
    sample_size: int = 50_000,
    backend: Backend = "auto",
    threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Cluster rows of ``x`` with k-means.

    Centroids are fitted on a seeded random subsample of at most ``sample_size`` rows
    (k-means++ seeding, Lloyd iterations); every row is then assigned to its nearest centroid
    in blocks. Empty clusters are re-seeded with the row farthest from its centroid.

    Args:
        x: (n, d) vectors (latent space units).
        n_clusters: c, clipped to [1, n].
        rng: source of every random choice.
        max_iter: Lloyd iterations.
        sample_size: rows used to fit the centroids.
        backend: see the module docstring.
        threads: worker threads of the numpy assignment passes; None: the BLAS thread limit.

    Returns:
        labels (n,) int64 in [0, c), centroids (c, d) float32.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    c = int(min(max(1, n_clusters), max(1, n)))
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((c, x.shape[1]), dtype=np.float32)
    sample = x if n <= sample_size else x[np.sort(rng.choice(n, sample_size, replace=False))]
    n_threads = blas_threads() if threads is None else max(1, int(threads))
    if _use_faiss(backend):
        faiss = import_faiss()
        km = faiss.Kmeans(
            x.shape[1],
            c,
            niter=max_iter,
            seed=int(rng.integers(2**31 - 1)),
            max_points_per_centroid=max(256, -(-sample.shape[0] // c)),
        )
        km.train(sample)
        centroids = np.asarray(km.centroids, dtype=np.float32)
    else:
        centroids = _kmeans_pp(sample, c, rng)
        for _ in range(max_iter):
            lab, dist = assign_nearest(sample, centroids, threads=n_threads)
            counts = np.bincount(lab, minlength=c)
            # Sparse one-hot product: far faster than np.add.at for the per-cluster sums.
            onehot = sparse.csr_matrix(
                (np.ones(len(lab), dtype=np.float64), (lab, np.arange(len(lab)))),
                shape=(c, len(lab)),
            )
            sums = np.asarray(onehot @ sample.astype(np.float64))
            new = centroids.copy()
            nonempty = counts > 0
            new[nonempty] = (sums[nonempty] / counts[nonempty, None]).astype(np.float32)
            for j in np.flatnonzero(~nonempty):
                far = int(dist.argmax())
                new[j] = sample[far]
                dist[far] = 0.0
            if np.allclose(new, centroids):
                centroids = new
                break
            centroids = new
    labels, _ = assign_nearest(x, centroids, threads=n_threads)
    return labels, centroids


def knn(
    queries: npt.NDArray[np.floating],
    base: npt.NDArray[np.floating],
    k: int,
    *,
    backend: Backend = "auto",
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Exact k nearest rows of ``base`` for every query (blocked brute force).

    Returns:
        distances (m, k') Euclidean, ascending, and indices (m, k') into ``base``, with
        ``k' = min(k, len(base))``.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    b = np.ascontiguousarray(base, dtype=np.float32)
    k = int(min(k, b.shape[0]))
    m = q.shape[0]
    if k == 0 or m == 0:
        return np.zeros((m, k), dtype=np.float32), np.zeros((m, k), dtype=np.int64)
    if _use_faiss(backend):
        faiss = import_faiss()
        index = faiss.IndexFlatL2(b.shape[1])
        index.add(b)
        d2, idx = index.search(q, k)
        return np.sqrt(np.maximum(d2, 0)).astype(np.float32), idx.astype(np.int64)
    dist = np.empty((m, k), dtype=np.float32)
    idx = np.empty((m, k), dtype=np.int64)
    step = _block_rows(b.shape[0])
    for s in range(0, m, step):
        d2 = squared_distances(q[s : s + step], b)
        part = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < b.shape[0] else None
        if part is None:
            part = np.broadcast_to(np.arange(b.shape[0]), d2.shape).copy()
        pd = np.take_along_axis(d2, part, 1)
        order = np.argsort(pd, axis=1, kind="stable")
        idx[s : s + step] = np.take_along_axis(part, order, 1)
        dist[s : s + step] = np.sqrt(np.take_along_axis(pd, order, 1))
    return dist, idx
