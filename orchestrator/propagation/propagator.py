"""Latent-space label propagation from crowd-verified items to their neighbours.

Rule (per cluster ``C`` of the sampler's k-means): every verified item ``s`` in ``C`` ranks the
not-verified items of ``C`` by Euclidean distance in latent space and claims the nearest
``m = floor(p · |C|)`` of them (``|C|`` counts all items of the cluster; items tied with the
m-th distance are claimed too). In clusters with more than ``max_sample`` (1024) not-verified
items the claim radius (the m-th nearest distance) is estimated as the same quantile of a
seeded random subsample, so the work is one pass of verified × cluster distances in blocks.
Every claimed item receives the label of its **nearest**
verified item of the same cluster (which is not necessarily the one that claimed it). Verified
items never receive a label, so a crowd-verified label is never overridden. Clusters without
verified items propagate nothing.

Confidence: ``exp(−d / s)`` where ``d`` is the distance to the source and ``s`` the median,
over all not-verified items of clusters that contain a verified item, of the distance to their
nearest verified item (so 0.5-ish means "as close as a typical item", independent of ``p``).

Tuning ``p`` (``fraction=None``) by leave-one-out on the validation items: each validation
item in turn is treated as not verified; it is "covered" at ``p`` when some other verified item
of its cluster claims it, and its propagated label is that of its nearest other verified item.
(The claim thresholds are computed once, with all validation items among the claimable items,
which differs from the exact leave-one-out only by one item per ranking.) Criterion:

* with ``current_labels`` (the labels items would keep without propagation, e.g. the model's
  inferred classes): the ``p`` with the largest net gain
  ``#(propagated label correct) − #(current label correct)`` over covered validation items,
  among the ``p`` whose gain is **significant**: a one-sided sign test over the covered items
  where the two labels differ in correctness (``wins`` where only the propagated label is
  right, ``losses`` where only the current one is) must give
  ``P(Binomial(wins + losses, ½) ≥ wins) ≤ significance`` (0.05, so at least 5 wins and no
  loss). Why: with a dozen validation items a net gain of one or two is chance, and a chance
  "gain" at a large ``p`` relabels most of the dataset (movie snippets, 14 validation items:
  p = 0.5 won by one item and propagated onto 1,835 of 2,000 items, accuracy 0.80 → 0.69;
  benchmarks/results/bench-notes.md). The test is not corrected for the number of ``p`` tried
  on the same items, so a chance gain can still pass (seen once: p = 0.1, 1,531 items);
* without: the largest ``p`` whose propagated labels reach ``min_accuracy`` on the covered
  validation items.

Ties go to the smaller ``p``; ``p = 0`` (propagate nothing) when no candidate helps. Without
validation items and ``fraction=None`` the ``default_fraction`` is used.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from orchestrator.propagation.base import Propagation
from orchestrator.sampling.backend import (
    augmented_base,
    augmented_queries,
    blas_threads,
    cache_block_rows,
)

__all__ = ["DEFAULT_FRACTION_GRID", "propagate_labels"]

DEFAULT_FRACTION_GRID: tuple[float, ...] = (
    0.0,
    0.01,
    0.02,
    0.05,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
)
# Relative widening of the claim radius: a few float32 ulps of ||s||² + ||t||² (see _claim_pass).
_ULP_MARGIN = 5e-7
_HUGE = np.float32(1e37)
# Targets per parallel work item (several cache blocks; enough items to balance the threads).
_CHUNK_ROWS = 4096


def _self_mask(
    d2: npt.NDArray[np.float32], rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]
) -> None:
    """Set d2[i, j] = inf where rows[i] == cols[j] (leave-one-out), in place."""
    order = np.argsort(cols, kind="stable")
    loc = np.minimum(np.searchsorted(cols, rows, sorter=order), len(cols) - 1)
    hit = cols[order[loc]] == rows
    if hit.any():
        d2[np.flatnonzero(hit), order[loc[hit]]] = np.inf


def _thresholds(
    x: npt.NDArray[np.float32],
    src: npt.NDArray[np.int64],
    n_pool: int,
    sample: npt.NDArray[np.int64],
    m: npt.NDArray[np.int64],
    center: npt.NDArray[np.float32],
) -> npt.NDArray[np.float32]:
    """(s, F) squared distance within which each source claims its ``m[f]`` nearest pool rows.

    ``sample`` is the whole pool (exact: the m-th smallest squared distance) or a random
    subsample of it (the same quantile of the subsample). ``m = 0`` gives -inf (claims
    nothing), ``m >= n_pool`` gives +inf (claims all). Rows are shifted by ``center`` (the
    cluster's, see :func:`_claim_pass`) before the GEMM.
    """
    n_s = len(sample)
    kth = np.clip(np.ceil(m * n_s / n_pool).astype(np.int64) - 1, 0, n_s - 1)
    uniq = np.unique(kth)
    out = np.empty((len(src), len(m)), dtype=np.float32)
    base = augmented_base(x[sample] - center)
    step = cache_block_rows(n_s)
    for b0 in range(0, len(src), step):
        rows = src[b0 : b0 + step]
        xr = x[rows] - center
        d2 = augmented_queries(xr) @ base  # ||b||² − 2 a·b
        d2 += np.einsum("ij,ij->i", xr, xr)[:, None]
        _self_mask(d2, rows, sample)
        part = np.partition(d2, uniq, axis=1)
        out[b0 : b0 + step] = np.maximum(part[:, kth], 0.0)
    out[:, m <= 0] = -np.inf
    out[:, m >= n_pool] = np.inf
    return out


def _group_by_cluster(
    clusters: npt.NDArray[np.int64], rows: npt.NDArray[np.int64], n_clusters: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Positions into ``rows`` ordered by cluster (stable), and (c + 1,) group boundaries."""
    keys = clusters[rows]
    # A stable sort of ≤ 16-bit keys is a radix sort in numpy: O(n) instead of O(n log n).
    small = n_clusters <= np.iinfo(np.uint16).max
    order = np.argsort(keys.astype(np.uint16) if small else keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n_clusters + 1))
    return order, bounds


@dataclass
class _ClusterWork:
    """One cluster's sources in the shifted GEMM form and its claim radii."""

    s_pos: npt.NDArray[np.int64]  # (s,) positions into ``sources``
    t_pos: npt.NDArray[np.int64]  # (t,) positions into ``targets``
    src: npt.NDArray[np.int64]  # (s,) rows
    sample: npt.NDArray[np.int64] | None  # pool rows the radii are measured on; None: no claims
    n_pool: int
    m: npt.NDArray[np.int64]  # (F,) items each source claims
    center: npt.NDArray[np.float32] | None = None
    base: npt.NDArray[np.float32] | None = None  # (d + 1, s)
    radius: npt.NDArray[np.float32] | None = None  # (s, F) widened r², huge for "all"


def _claim_pass(
    x: npt.NDArray[np.float32],
    clusters: npt.NDArray[np.int64],
    sources: npt.NDArray[np.int64],
    pool: npt.NDArray[np.int64],
    targets: npt.NDArray[np.int64],
    fractions: list[float],
    rng: np.random.Generator,
    max_sample: int,
    *,
    may_overlap: bool = True,
    threads: int = 1,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Claims and nearest sources for ``targets``.

    Every source claims its ``floor(p · |cluster|)`` nearest rows of ``pool`` (same cluster);
    a target is claimed when it lies within some source's claim radius. A row that is both a
    source and a target/pool row never claims itself nor is its own nearest source
    (leave-one-out; ``may_overlap=False`` promises that targets and sources are disjoint and
    skips that masking).

    One fused GEMM per cache-sized block of targets gives ``g = ||s||² − 2 t·s`` for all
    sources ``s`` of the cluster; the nearest source is ``argmin g`` and the target is claimed
    when ``min_s (g − r²_s) ≤ −||t||²`` (``r²_s`` the claim radius): two reductions over a block
    that stays in cache, instead of materialising and re-reading full distance blocks.
    Rows are shifted by the mean of the cluster's sources first, so the squared norms are of
    the order of the cluster's spread, not of its distance from the origin (float32
    cancellation in ``||a||² − 2ab + ||b||²`` is relative to the norms). ``r²_s`` is widened by
    a few float32 ulps of those norms (``_ULP_MARGIN``) because the radius and the distances
    come from different GEMMs whose rounding differs: without it the m-th neighbour, which
    defines the radius, could miss its own claim.

    Parallelism: the GEMMs are small (one cache block each), where a multi-threaded BLAS
    spends more time waking and spinning its threads than computing (badly so on a loaded
    machine). BLAS is therefore held to one thread and ``threads`` Python threads (numpy
    releases the GIL in GEMMs and reductions) work on independent chunks of targets. Random
    subsamples are drawn before the parallel part, in cluster order, so results do not depend
    on ``threads``.

    Returns:
        claimed (F, t) bool per fraction, nearest (t,) position into ``sources`` or -1,
        distance (t,) Euclidean to it (inf when none).
    """
    n_f, n_t = len(fractions), len(targets)
    claimed = np.zeros((n_f, n_t), dtype=bool)
    nearest = np.full(n_t, -1, dtype=np.int64)
    near_d2 = np.full(n_t, np.inf, dtype=np.float64)
    if n_t == 0 or len(sources) == 0:
        return claimed, nearest, np.sqrt(near_d2)
    n_clusters = int(clusters.max()) + 1
    sizes = np.bincount(clusters, minlength=n_clusters)
    frac = np.asarray(fractions, dtype=np.float64)
    d = x.shape[1]

    s_order, s_bounds = _group_by_cluster(clusters, sources, n_clusters)
    p_order, p_bounds = _group_by_cluster(clusters, pool, n_clusters)
    t_order, t_bounds = _group_by_cluster(clusters, targets, n_clusters)
    work: list[_ClusterWork] = []
    for j in np.flatnonzero((np.diff(s_bounds) > 0) & (np.diff(t_bounds) > 0)):
        s_pos = s_order[s_bounds[j] : s_bounds[j + 1]]
        p_rows = pool[p_order[p_bounds[j] : p_bounds[j + 1]]]
        m = np.floor(frac * sizes[j] + 1e-9).astype(np.int64)
        sample = None
        if len(p_rows) and (m > 0).any():
            sample = (
                p_rows
                if len(p_rows) <= max_sample
                else rng.choice(p_rows, max_sample, replace=False)
            )
        work.append(
            _ClusterWork(
                s_pos=s_pos,
                t_pos=t_order[t_bounds[j] : t_bounds[j + 1]],
                src=sources[s_pos],
                sample=sample,
                n_pool=len(p_rows),
                m=m,
            )
        )

    def prepare(w: _ClusterWork) -> None:
        xs = x[w.src]
        w.center = xs.mean(0)
        w.base = augmented_base(xs - w.center)
        if w.sample is None:
            return
        t2 = _thresholds(x, w.src, w.n_pool, w.sample, w.m, w.center)
        xt = x[targets[w.t_pos]] - w.center
        aa_max = float(np.einsum("ij,ij->i", xt, xt).max())
        widen = _ULP_MARGIN * (w.base[-1] + aa_max)
        # A +inf radius ("claim all") becomes a huge finite value so that g − r² never
        # computes inf − inf on masked (inf) entries.
        w.radius = np.where(np.isposinf(t2), _HUGE, t2 + widen[:, None]).astype(np.float32)

    def scan(chunk: tuple[_ClusterWork, int, int]) -> None:
        w, c0, c1 = chunk
        assert w.base is not None and w.center is not None
        active = [f for f in range(n_f) if w.m[f] > 0] if w.radius is not None else []
        step = cache_block_rows(len(w.src))
        q = np.empty((min(step, c1 - c0), d + 1), dtype=np.float32)
        q[:, -1] = 1.0
        g_buf = np.empty((q.shape[0], len(w.src)), dtype=np.float32)
        tmp = np.empty_like(g_buf) if len(active) > 1 else g_buf
        for b0 in range(c0, c1, step):
            tp = w.t_pos[b0 : min(b0 + step, c1)]
            b = len(tp)
            rows = targets[tp]
            xb = np.subtract(x[rows], w.center, out=q[:b, :-1])
            g = np.matmul(q[:b], w.base, out=g_buf[:b])
            if may_overlap:
                _self_mask(g, rows, w.src)
            aa = np.einsum("ij,ij->i", xb, xb)
            am = g.argmin(1)
            mn = g[np.arange(b), am].astype(np.float64) + aa
            ok = np.isfinite(mn)
            nearest[tp[ok]] = w.s_pos[am[ok]]
            near_d2[tp[ok]] = np.maximum(mn[ok], 0.0)
            for f in active:
                assert w.radius is not None
                diff = np.subtract(g, w.radius[:, f], out=tmp[:b])
                claimed[f, tp] = diff.min(1) <= -aa

    chunks = [
        (w, c0, min(c0 + _CHUNK_ROWS, len(w.t_pos)))
        for w in work
        for c0 in range(0, len(w.t_pos), _CHUNK_ROWS)
    ]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        if threads <= 1:
            for w in work:
                prepare(w)
            for ch in chunks:
                scan(ch)
        else:
            with ThreadPoolExecutor(threads) as ex:
                list(ex.map(prepare, work))
                list(ex.map(scan, chunks))
    return claimed, nearest, np.sqrt(near_d2)


def _sign_test(wins: int, losses: int) -> float:
    """One-sided sign test: P(Binomial(wins + losses, 1/2) >= wins); 1.0 with no decisive item."""
    n = wins + losses
    if n == 0 or wins == 0:
        return 1.0
    return float(sum(math.comb(n, k) for k in range(wins, n + 1)) / 2.0**n)


def _tune_fraction(
    x: npt.NDArray[np.float32],
    clusters: npt.NDArray[np.int64],
    v_rows: npt.NDArray[np.int64],
    v_labels: npt.NDArray[np.int64],
    val_rows: npt.NDArray[np.int64],
    val_labels: npt.NDArray[np.int64],
    grid: list[float],
    current_labels: npt.NDArray[np.int64] | None,
    min_accuracy: float,
    significance: float,
    rng: np.random.Generator,
    max_sample: int,
    threads: int,
) -> tuple[float, dict[str, object]]:
    n = x.shape[0]
    verified = np.zeros(n, dtype=bool)
    verified[v_rows] = True
    pool = np.union1d(np.flatnonzero(~verified), val_rows).astype(np.int64)
    # Validation rows not among the verified rows are held out anyway, never sources.
    claimed, nearest, _ = _claim_pass(
        x, clusters, v_rows, pool, val_rows, grid, rng, max_sample, threads=threads
    )
    ok = nearest >= 0
    prop = np.where(ok, v_labels[np.maximum(nearest, 0)], -1)
    correct = prop == val_labels
    table: dict[float, dict[str, float]] = {}
    best_p, best_key = 0.0, -np.inf
    for f, p in enumerate(grid):
        cov = claimed[f] & ok
        n_cov = int(cov.sum())
        n_ok = int((correct & cov).sum())
        acc = n_ok / n_cov if n_cov else float("nan")
        row: dict[str, float] = {"covered": n_cov, "correct": n_ok, "accuracy": acc}
        if current_labels is not None:
            cur_ok = current_labels[val_rows] == val_labels
            kept = int((cur_ok & cov).sum())
            wins = int((correct & ~cur_ok & cov).sum())
            losses = int((~correct & cur_ok & cov).sum())
            gain = float(n_ok - kept)
            p_value = _sign_test(wins, losses)
            row.update({"gain": gain, "wins": wins, "losses": losses, "p_value": p_value})
            key = gain if (n_cov and p_value <= significance) else 0.0
        else:
            key = p if (n_cov and acc >= min_accuracy) else -np.inf
        table[p] = row
        if key > best_key:
            best_key, best_p = key, p
    if current_labels is not None and best_key <= 0:
        best_p = 0.0
    if current_labels is None and not np.isfinite(best_key):
        best_p = 0.0
    return float(best_p), {
        "tuning": table,
        "criterion": f"largest significant gain (sign test, p <= {significance:g})"
        if current_labels is not None
        else f"largest p with accuracy >= {min_accuracy}",
    }


def propagate_labels(
    latent: npt.NDArray[np.floating],
    clusters: npt.NDArray[np.int64],
    verified_idx: npt.NDArray[np.int64],
    verified_labels: npt.NDArray[np.int64],
    *,
    fraction: float | None = None,
    validation_idx: npt.NDArray[np.int64] | None = None,
    validation_labels: npt.NDArray[np.int64] | None = None,
    current_labels: npt.NDArray[np.int64] | None = None,
    fraction_grid: tuple[float, ...] = DEFAULT_FRACTION_GRID,
    min_accuracy: float = 0.9,
    significance: float = 0.05,
    default_fraction: float = 0.05,
    max_sample: int = 1024,
    rng: np.random.Generator | None = None,
    threads: int | None = None,
) -> Propagation:
    """Copy verified labels to latent neighbours (see the module docstring for the rule).

    Args:
        latent: (n, d) latent vectors.
        clusters: (n,) int64 cluster ids (``Selection.clusters``).
        verified_idx: (v,) rows with a crowd-verified label (all rounds so far).
        verified_labels: (v,) their classes.
        fraction: ``p`` in [0, 1]; None tunes it on the validation items.
        validation_idx: (u,) verified rows used for tuning (normally a subset of
            ``verified_idx``).
        validation_labels: (u,) their verified classes.
        current_labels: (n,) labels items keep without propagation; switches the tuning
            criterion to net gain.
        significance: with ``current_labels``, a ``p`` is a candidate only if its gain passes
            the one-sided sign test at this level (1.0 accepts any positive gain).
        fraction_grid: candidates for ``p``.
        min_accuracy: accuracy target of the criterion without ``current_labels``.
        default_fraction: ``p`` when tuning is impossible (no validation items).
        max_sample: clusters with more not-verified items than this estimate each source's
            claim radius (its m-th nearest distance) from a random subsample of this many.
        rng: draws those subsamples; default ``default_rng(0)``.
        threads: worker threads of the distance passes; None uses the BLAS thread limit
            (``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS``). Results do not depend on it.

    Returns:
        ``Propagation`` sorted by row; ``info["tuning"]`` holds per-``p`` validation figures.
    """
    x = np.ascontiguousarray(latent, dtype=np.float32)
    clusters = np.asarray(clusters, dtype=np.int64)
    n = x.shape[0]
    if clusters.shape != (n,):
        raise ValueError(f"clusters must be ({n},), got {clusters.shape}")
    v_rows = np.asarray(verified_idx, dtype=np.int64)
    v_labels = np.asarray(verified_labels, dtype=np.int64)
    if v_rows.shape != v_labels.shape:
        raise ValueError("verified_idx and verified_labels must have the same length")
    if len(np.unique(v_rows)) != len(v_rows):
        raise ValueError("verified_idx must not repeat rows")
    if fraction is not None and not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be in [0, 1]")
    if not 0.0 < significance <= 1.0:
        raise ValueError(f"significance must be in (0, 1], got {significance}")
    rng = rng if rng is not None else np.random.default_rng(0)
    n_threads = blas_threads() if threads is None else max(1, int(threads))
    info: dict[str, object] = {}
    if fraction is None:
        has_val = validation_idx is not None and validation_labels is not None
        if has_val and len(np.asarray(validation_idx)) > 0:
            assert validation_idx is not None and validation_labels is not None
            cur = None if current_labels is None else np.asarray(current_labels, dtype=np.int64)
            fraction, info = _tune_fraction(
                x,
                clusters,
                v_rows,
                v_labels,
                np.asarray(validation_idx, dtype=np.int64),
                np.asarray(validation_labels, dtype=np.int64),
                sorted(set(fraction_grid)),
                cur,
                min_accuracy,
                significance,
                rng,
                max_sample,
                n_threads,
            )
        else:
            fraction = default_fraction
            info = {"tuning": None, "criterion": "default_fraction (no validation items)"}

    verified = np.zeros(n, dtype=bool)
    verified[v_rows] = True
    receivers = np.flatnonzero(~verified).astype(np.int64)
    claimed, nearest, dist = _claim_pass(
        x,
        clusters,
        v_rows,
        receivers,
        receivers,
        [fraction],
        rng,
        max_sample,
        may_overlap=False,
        threads=n_threads,
    )
    reachable = nearest >= 0
    scale = float(np.median(dist[reachable])) if reachable.any() else 1.0
    take = claimed[0] & reachable
    d = dist[take]
    conf = np.exp(-d / scale) if scale > 0 else np.ones_like(d)
    return Propagation(
        indices=receivers[take],
        labels=v_labels[nearest[take]],
        sources=v_rows[nearest[take]],
        distances=d.astype(np.float64),
        confidence=conf.astype(np.float64),
        fraction=float(fraction),
        info=info,
    )
