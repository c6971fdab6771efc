"""Propagation where the evidence is: a latent region's own random checks decide for it.

A *region* is a k-means cell of the latent space (``regions``, about ``region_items`` items
each) split by delivered class: region ``(c, b)`` holds the items of cell ``c`` delivered as
``b``. A region is *contradicted* when one of its sure crowd labels (any round, any pick) says
``a ≠ b``, the class the crowd gave most often there. Those labels only raise the question:
the sampler picked them because the model doubted them, so they are not a sample of the
region, and a region whose picked items all said ``a`` was often only half wrong (13 of 15
acting regions in the 2.8 % bench cells; ``benchmarks/propagation/region_evidence.py``).

The answer comes from the *region checks*: items drawn uniformly at random among the region's
unverified items (:func:`items_to_confirm`), which are exactly the items a relabel would
change. The share of the answered draws that the crowd labelled ``a`` is therefore an
unbiased estimate of the relabels' precision (up to the crowd's own error). The region acts —
its unverified items are relabelled to ``a`` — only when the one-sided Wilson lower bound
(``z``, 1.645: 95 %) of that share exceeds ``min_share`` (0.5): with every draw agreeing this
needs 3 of 3; 2 of 2 is not enough. A draw counts by its crowd label however split its vote
was: its item was drawn at random, so a crowd mistake there is one at the crowd's base rate
(three agreeing ones are rare), not the sampler's concentrated doubt. Counting only sure
draws kept a region of 28 items, all wrong and all three checks right on 2-1 votes, from
acting (digits, structural noise, seed 2, under majority vote).

A chance result cannot relabel the pool: a region relabels at most ``reach_per_source`` items
per crowd label that contradicts it (sure ones and checks), the nearest to those items first,
only items of its own cell and delivered class, and none that is nearer to an item the crowd
confirmed under that delivered class.
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
    "draws_to_pass",
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
        n_verified: items of the region with a sure crowd label (any pick).
        n_contradicting: of those, labelled ``a ≠ b`` by the crowd (0 when ``a = b``).
        n_drawn: answered region checks (uniform draws) of the region.
        n_drawn_contradicting: of those, labelled ``a ≠ b`` by the crowd (0 when ``a = b``).
        lower_bound: one-sided Wilson lower bound of ``n_drawn_contradicting / n_drawn``.
        n_relabelled: unverified items relabelled to ``a`` (0 unless the region acted).
    """

    region: int
    delivered: int
    crowd: int
    n_verified: int
    n_contradicting: int
    n_drawn: int
    n_drawn_contradicting: int
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
            "n_drawn": self.n_drawn,
            "n_drawn_contradicting": self.n_drawn_contradicting,
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
    verified: npt.NDArray[np.int64]  # rows with a sure crowd label
    contradicting: npt.NDArray[np.int64]  # of those, rows labelled `crowd` != delivered
    drawn: npt.NDArray[np.int64]  # region checks ever drawn here, answered or not
    answered: npt.NDArray[np.int64]  # of those, rows with a crowd label (sure or not)
    answered_labels: npt.NDArray[np.int64]  # their crowd class
    candidates: npt.NDArray[np.int64]  # rows of the region without a crowd label

    @property
    def drawn_contradicting(self) -> int:
        """Answered draws the crowd labelled ``crowd`` (≠ delivered), sure or not."""
        if self.crowd == self.delivered:
            return 0
        return int((self.answered_labels == self.crowd).sum())

    @property
    def witnesses(self) -> npt.NDArray[np.int64]:
        """Rows whose crowd label says ``crowd`` (≠ delivered): the sure ones and the checks."""
        if self.crowd == self.delivered:
            return np.zeros(0, dtype=np.int64)
        checks = self.answered[self.answered_labels == self.crowd]
        return np.union1d(self.contradicting, checks).astype(np.int64)

    def lower_bound(self, z: float) -> float:
        """One-sided Wilson lower bound of the draws' contradicting share."""
        return wilson_lower(self.drawn_contradicting, len(self.answered), z)


@dataclass(frozen=True)
class RegionEvidence:
    """The latent regions and the crowd's word on them: what both the propagation
    (:func:`propagate_by_region`) and the region checks (:func:`items_to_confirm`) decide on.

    Attributes:
        latent: (n, d) latent vectors (distances rank the candidates).
        regions: (n,) latent cell per item.
        noisy: (n,) delivered class per item.
        verified_idx: (v,) rows with a sure crowd label.
        verified_labels: (v,) their crowd class.
        drawn_idx: (w,) rows drawn as region checks (uniform within their region), any round.
        drawn_labels: (w,) their crowd class, sure or not; -1 where not answered (yet).
    """

    latent: npt.NDArray[np.floating]
    regions: npt.NDArray[np.int64]
    noisy: npt.NDArray[np.int64]
    verified_idx: npt.NDArray[np.int64]
    verified_labels: npt.NDArray[np.int64]
    drawn_idx: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    drawn_labels: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        # Callers pass lists or other integer dtypes; the grouping below indexes with them.
        for name in ("verified_idx", "verified_labels", "drawn_idx", "drawn_labels"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        if len(self.drawn_idx) != len(self.drawn_labels):
            raise ValueError(
                f"drawn_idx has {len(self.drawn_idx)} rows, drawn_labels {len(self.drawn_labels)}"
            )

    def by_region(self) -> list[_Region]:
        """Every region holding a verified item, in (cell, delivered class) order."""
        regions, noisy = self.regions, self.noisy
        verified_idx, verified_labels = self.verified_idx, self.verified_labels
        crowd_of = dict(zip(verified_idx.tolist(), verified_labels.tolist(), strict=True))
        is_verified = np.zeros(len(noisy), dtype=np.bool_)
        is_verified[verified_idx] = True
        is_drawn = np.zeros(len(noisy), dtype=np.bool_)
        is_drawn[self.drawn_idx] = True
        drawn_label = np.full(len(noisy), -1, dtype=np.int64)
        drawn_label[self.drawn_idx] = self.drawn_labels
        # A row with any crowd label (an unsure draw too) is no relabel candidate: the crowd's
        # word outranks a propagated label in the export.
        has_label = is_verified.copy()
        has_label[self.drawn_idx[self.drawn_labels >= 0]] = True
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
            answered = members[is_drawn[members] & has_label[members]]
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
                    drawn=members[is_drawn[members]],
                    answered=answered,
                    answered_labels=drawn_label[answered],
                    candidates=members[~has_label[members]],
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
    evidence: RegionEvidence,
    *,
    min_share: float = 0.5,
    reach_per_source: int = 8,
    z: float = Z_ONE_SIDED_95,
) -> RegionalPropagation:
    """Relabel the regions whose random checks say their delivered label is wrong.

    Args:
        evidence: the regions, the sure crowd labels and the region checks.
        min_share: the lower bound of the draws' contradicting share must exceed this.
        reach_per_source: items relabelled per contradicting crowd label (sure ones and
            checks), at most.
        z: one-sided normal quantile of the bound.

    Returns:
        The propagated labels (none on rows with a crowd label) and every region's decision.
    """
    latent, noisy = evidence.latent, evidence.noisy
    verified_idx, verified_labels = evidence.verified_idx, evidence.verified_labels
    parts: list[tuple[npt.NDArray[np.int64], ...]] = []
    dists: list[npt.NDArray[np.float64]] = []
    confs: list[npt.NDArray[np.float64]] = []
    decisions: list[RegionDecision] = []
    for r in evidence.by_region():
        k, v = len(r.contradicting), len(r.verified)
        lb = r.lower_bound(z)
        n_rel = 0
        if k and lb > min_share and len(r.candidates):
            witnesses = r.witnesses
            d, src = _nearest(latent, r.candidates, witnesses)
            # A candidate nearer to an item the crowd confirmed as its delivered class (in any
            # region) than to the contradicting sources is left alone: it more likely belongs
            # to the part of the cell whose label is right.
            confirmed = verified_idx[
                (verified_labels == r.delivered) & (noisy[verified_idx] == r.delivered)
            ]
            if len(confirmed):
                d_ok, _ = _nearest(latent, r.candidates, confirmed)
                d = np.where(d < d_ok, d, np.inf)
            take = np.argsort(d, kind="stable")[: reach_per_source * len(witnesses)]
            take = take[np.isfinite(d[take])]
            rows = r.candidates[take]
            parts.append((rows, np.full(len(rows), r.crowd, dtype=np.int64), src[take]))
            dists.append(d[take])
            confs.append(np.full(len(rows), lb))
            n_rel = len(rows)
        decisions.append(
            RegionDecision(
                r.cell,
                r.delivered,
                r.crowd,
                v,
                k,
                len(r.answered),
                r.drawn_contradicting,
                lb,
                n_rel,
            )
        )
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
    rng: np.random.Generator,
    *,
    max_items: int,
    min_share: float = 0.5,
    z: float = Z_ONE_SIDED_95,
) -> npt.NDArray[np.int64]:
    """Region checks: rows drawn uniformly at random inside contradicted, undecided regions.

    A region qualifies when a sure crowd label contradicts its delivered class, its draws'
    lower bound does not yet pass ``min_share``, and every answered draw so far agreed with
    the contradiction. It gets draws up to the number with which all-agreeing draws pass
    (:func:`draws_to_pass`: 3 at ``min_share`` 0.5), uniformly among its rows with
    no crowd label outside ``excluded`` ((n,) flags), and only while at least one such row
    would be left to relabel. Regions with more contradicting labels come first; at most
    ``max_items`` rows in all, drawn with ``rng``.
    """
    per_region = draws_to_pass(min_share, z)
    picked: list[int] = []
    pending = [
        r
        for r in evidence.by_region()
        if len(r.contradicting)
        and r.lower_bound(z) <= min_share
        and r.drawn_contradicting == len(r.answered)
    ]
    pending.sort(key=lambda r: (-len(r.contradicting), r.cell, r.delivered))
    for r in pending:
        # Drawn but unanswered rows are ``excluded`` (inspected): they are not drawn again.
        need = min(per_region - len(r.answered), max_items - len(picked))
        free = r.candidates[~excluded[r.candidates]]
        if need <= 0 or len(free) <= need:
            continue
        picked.extend(int(i) for i in rng.choice(free, size=need, replace=False))
    return np.asarray(sorted(picked), dtype=np.int64)


def draws_to_pass(min_share: float, z: float = Z_ONE_SIDED_95) -> int:
    """The fewest draws ``m`` whose bound passes ``min_share`` when all ``m`` contradict
    (``m / (m + z²) > min_share``: 3 at 0.5, 25 at 0.9 with z = 1.645)."""
    return math.floor(min_share * z * z / (1 - min_share)) + 1
