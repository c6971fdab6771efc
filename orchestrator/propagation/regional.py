"""Propagation where the evidence is: a latent region's own verified items decide for it.

A *region* is a k-means cell of the latent space (``regions``, about ``region_items`` items
each) split by delivered class: region ``(c, b)`` holds the items of cell ``c`` delivered as
``b``. Its verified items (crowd labels) are its evidence. The region acts — its unverified
items are relabelled to the class ``a`` the crowd gave most often there — only when

* ``a ≠ b`` (the crowd says the delivered label is wrong there), and
* the one-sided Wilson lower bound (``z``, 1.645: 95 %) of the share of its verified items
  that the crowd labelled ``a`` exceeds ``min_share`` (0.5): with every verified item agreeing
  this needs 3 of 3; 2 of 2 is not enough.

That is the shape of structural noise (a whole neighbourhood delivered under the wrong class),
decided on the neighbourhood's own items instead of one global setting tuned on a dozen items.
A chance result cannot relabel the pool: a region relabels at most ``reach_per_source`` items
per verified item that contradicts its delivered label, the nearest to those items first, only
items of its own cell and delivered class, and none that is nearer to an item the crowd
confirmed under that delivered class.

:func:`items_to_confirm` names, for regions with some contradiction but not yet enough, the
unverified items nearest to the contradicting ones, so the next round can settle them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from aggregation.proportions import Z_ONE_SIDED_95, wilson_lower
from orchestrator.sampling.backend import kmeans, knn

__all__ = [
    "RegionDecision",
    "RegionEvidence",
    "RegionalPropagation",
    "items_to_confirm",
    "latent_regions",
    "propagate_by_region",
]

#: Past this many regions, :func:`latent_regions` clusters in two levels.
FLAT_REGIONS_MAX = 1_000


def latent_regions(
    latent: npt.NDArray[np.floating],
    n_classes: int,
    region_items: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """(n,) k-means cell per item, about ``region_items`` items a cell (at least one cell per
    class), on the (n, d) latent vectors.

    k-means costs n × c per pass, and c grows with n (25,000 cells at a million items): past
    :data:`FLAT_REGIONS_MAX` cells the items are first split into about √c coarse cells and
    each coarse cell into its share of the c cells, which costs about 2 n √c per pass instead.
    """
    n = len(latent)
    n_regions = max(n_classes, n // region_items)
    if n_regions <= FLAT_REGIONS_MAX:
        regions, _ = kmeans(latent, n_regions, rng=rng)
        return np.asarray(regions, dtype=np.int64)
    coarse, _ = kmeans(latent, math.ceil(math.sqrt(n_regions)), rng=rng)
    out = np.empty(n, dtype=np.int64)
    offset = 0
    for cell in range(int(coarse.max()) + 1):
        rows = np.flatnonzero(coarse == cell)
        if not len(rows):
            continue
        k = max(1, round(n_regions * len(rows) / n))
        sub, _ = kmeans(latent[rows], k, rng=rng)
        out[rows] = offset + sub
        offset += int(sub.max()) + 1
    return out


@dataclass(frozen=True)
class RegionDecision:
    """One region's evidence and what it did.

    Attributes:
        region: latent cell.
        delivered: the delivered class ``b`` of the region's items (class index).
        crowd: the class ``a`` the crowd gave most often on its verified items.
        n_verified: verified items of the region.
        n_contradicting: of those, labelled ``a ≠ b`` by the crowd (0 when ``a = b``).
        lower_bound: one-sided Wilson lower bound of ``n_contradicting / n_verified``.
        n_relabelled: unverified items relabelled to ``a`` (0 unless the region acted).
    """

    region: int
    delivered: int
    crowd: int
    n_verified: int
    n_contradicting: int
    lower_bound: float
    n_relabelled: int

    def as_dict(self) -> dict[str, float | int]:
        """Plain numbers for the round's metrics."""
        return {
            "region": self.region,
            "delivered": self.delivered,
            "crowd": self.crowd,
            "n_verified": self.n_verified,
            "n_contradicting": self.n_contradicting,
            "lower_bound": round(self.lower_bound, 4),
            "n_relabelled": self.n_relabelled,
        }


@dataclass(frozen=True)
class RegionalPropagation:
    """Propagated labels, all (m,): item row, new class, source row (nearest contradicting
    verified item), latent distance to it, and confidence (the region's lower bound)."""

    indices: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    sources: npt.NDArray[np.int64]
    distances: npt.NDArray[np.float64]
    confidence: npt.NDArray[np.float64]
    decisions: list[RegionDecision] = field(default_factory=list)


@dataclass(frozen=True)
class _Region:
    cell: int
    delivered: int
    crowd: int
    verified: npt.NDArray[np.int64]  # rows
    contradicting: npt.NDArray[np.int64]  # rows labelled `crowd` != delivered
    candidates: npt.NDArray[np.int64]  # unverified rows of the cell with the delivered class


@dataclass(frozen=True)
class RegionEvidence:
    """The latent regions and the crowd's word on them: what both the propagation
    (:func:`propagate_by_region`) and the region checks (:func:`items_to_confirm`) decide on.

    Attributes:
        latent: (n, d) latent vectors (distances rank the candidates).
        regions: (n,) latent cell per item.
        noisy: (n,) delivered class per item.
        verified_idx: (v,) rows with a crowd label.
        verified_labels: (v,) their crowd class.
    """

    latent: npt.NDArray[np.floating]
    regions: npt.NDArray[np.int64]
    noisy: npt.NDArray[np.int64]
    verified_idx: npt.NDArray[np.int64]
    verified_labels: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        # Callers pass lists or other integer dtypes; the grouping below indexes with them.
        object.__setattr__(self, "verified_idx", np.asarray(self.verified_idx, dtype=np.int64))
        object.__setattr__(
            self, "verified_labels", np.asarray(self.verified_labels, dtype=np.int64)
        )

    def by_region(self) -> list[_Region]:
        """Every region holding a verified item, in (cell, delivered class) order."""
        regions, noisy = self.regions, self.noisy
        verified_idx, verified_labels = self.verified_idx, self.verified_labels
        crowd_of = dict(zip(verified_idx.tolist(), verified_labels.tolist(), strict=True))
        is_verified = np.zeros(len(noisy), dtype=np.bool_)
        is_verified[verified_idx] = True
        out: list[_Region] = []
        keys = sorted({(int(regions[i]), int(noisy[i])) for i in verified_idx})
        # One sort groups the items by (cell, delivered class); each region's members are then a
        # slice, instead of a scan of all n items per region (25,000 regions at a million items).
        # The shift by one keeps an unknown delivered label (-1) in its own group.
        width = int(noisy.max(initial=0)) + 2
        group = regions.astype(np.int64) * width + (noisy.astype(np.int64) + 1)
        by_group = np.argsort(group, kind="stable")
        grouped = group[by_group]
        for cell, b in keys:
            g = cell * width + b + 1
            lo, hi = np.searchsorted(grouped, [g, g + 1])
            members = by_group[lo:hi]  # ascending rows: the sort is stable
            ver = members[is_verified[members]]
            labels = np.asarray([crowd_of[int(i)] for i in ver], dtype=np.int64)
            values, counts = np.unique(labels, return_counts=True)
            # The most frequent crowd class; ties go to the delivered class (no action on a tie).
            order = sorted(
                zip(counts.tolist(), values.tolist(), strict=True),
                key=lambda t: (-t[0], t[1] != b, t[1]),
            )
            a = int(order[0][1])
            out.append(
                _Region(
                    cell=cell,
                    delivered=b,
                    crowd=a,
                    verified=ver,
                    contradicting=ver[labels == a] if a != b else np.zeros(0, dtype=np.int64),
                    candidates=members[~is_verified[members]],
                )
            )
        return out


def _nearest(
    latent: npt.NDArray[np.floating], rows: npt.NDArray[np.int64], to: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """For each of ``rows``: the distance to and the row of its nearest item among ``to``."""
    dist, idx = knn(latent[rows], latent[to], 1)
    return dist[:, 0].astype(np.float64), to[idx[:, 0]]


def propagate_by_region(
    latent: npt.NDArray[np.floating],
    regions: npt.NDArray[np.int64],
    noisy: npt.NDArray[np.int64],
    verified_idx: npt.NDArray[np.int64],
    verified_labels: npt.NDArray[np.int64],
    *,
    min_share: float = 0.5,
    reach_per_source: int = 8,
    z: float = Z_ONE_SIDED_95,
) -> RegionalPropagation:
    """Relabel the regions whose verified items say their delivered label is wrong.

    Args:
        latent: (n, d) latent vectors (distances rank the candidates).
        regions: (n,) latent cell per item.
        noisy: (n,) delivered class per item.
        verified_idx: (v,) rows with a crowd label; verified_labels: (v,) their crowd class.
        min_share: the lower bound of the contradicting share must exceed this.
        reach_per_source: items relabelled per contradicting verified item, at most.
        z: one-sided normal quantile of the bound.

    Returns:
        The propagated labels (none on verified rows) and every region's decision.
    """
    evidence = RegionEvidence(latent, regions, noisy, verified_idx, verified_labels)
    verified_idx, verified_labels = evidence.verified_idx, evidence.verified_labels
    parts: list[tuple[npt.NDArray[np.int64], ...]] = []
    dists: list[npt.NDArray[np.float64]] = []
    confs: list[npt.NDArray[np.float64]] = []
    decisions: list[RegionDecision] = []
    for r in evidence.by_region():
        k, v = len(r.contradicting), len(r.verified)
        lb = wilson_lower(k, v, z)
        n_rel = 0
        if k and lb > min_share and len(r.candidates):
            d, src = _nearest(latent, r.candidates, r.contradicting)
            # A candidate nearer to an item the crowd confirmed as its delivered class (in any
            # region) than to the contradicting sources is left alone: it more likely belongs
            # to the part of the cell whose label is right.
            confirmed = verified_idx[
                (verified_labels == r.delivered) & (noisy[verified_idx] == r.delivered)
            ]
            if len(confirmed):
                d_ok, _ = _nearest(latent, r.candidates, confirmed)
                d = np.where(d < d_ok, d, np.inf)
            take = np.argsort(d, kind="stable")[: reach_per_source * k]
            take = take[np.isfinite(d[take])]
            rows = r.candidates[take]
            parts.append((rows, np.full(len(rows), r.crowd, dtype=np.int64), src[take]))
            dists.append(d[take])
            confs.append(np.full(len(rows), lb))
            n_rel = len(rows)
        decisions.append(RegionDecision(r.cell, r.delivered, r.crowd, v, k, lb, n_rel))
    if not parts:
        empty_i = np.zeros(0, dtype=np.int64)
        empty_f = np.zeros(0, dtype=np.float64)
        return RegionalPropagation(empty_i, empty_i, empty_i, empty_f, empty_f, decisions)
    return RegionalPropagation(
        indices=np.concatenate([p[0] for p in parts]),
        labels=np.concatenate([p[1] for p in parts]),
        sources=np.concatenate([p[2] for p in parts]),
        distances=np.concatenate(dists),
        confidence=np.concatenate(confs),
        decisions=decisions,
    )


def items_to_confirm(
    evidence: RegionEvidence,
    excluded: npt.NDArray[np.bool_],
    *,
    max_items: int,
    per_region: int = 2,
    min_share: float = 0.5,
    z: float = Z_ONE_SIDED_95,
) -> npt.NDArray[np.int64]:
    """Rows worth a crowd answer to settle regions that are contradicted but not yet decided.

    A region qualifies when some of its verified items contradict its delivered label but the
    lower bound does not yet pass ``min_share``; it gets ``per_region`` of its unverified,
    not ``excluded`` items nearest to its contradicting items. Regions with more contradicting
    items come first; at most ``max_items`` rows in all. ``excluded`` is (n,).
    """
    picked: list[int] = []
    pending = [
        r
        for r in evidence.by_region()
        if len(r.contradicting)
        and wilson_lower(len(r.contradicting), len(r.verified), z) <= min_share
    ]
    pending.sort(key=lambda r: (-len(r.contradicting), r.cell, r.delivered))
    for r in pending:
        if len(picked) >= max_items:
            break
        free = r.candidates[~excluded[r.candidates]]
        if not len(free):
            continue
        d, _ = _nearest(evidence.latent, free, r.contradicting)
        for row in free[np.argsort(d, kind="stable")[:per_region]]:
            if len(picked) < max_items:
                picked.append(int(row))
    return np.asarray(sorted(picked), dtype=np.int64)
