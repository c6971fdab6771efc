"""A model round's picks: region checks, the strategy's items and the evidence slice; and the
HITs they are published as."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from orchestrator.campaigns.config import CampaignConfig
from orchestrator.data.dataset import LabeledData
from orchestrator.sampling.base import Selection
from orchestrator.scheduler.crowd_stage import HitTarget
from orchestrator.scheduler.model_votes import write_suggestions
from orchestrator.storage.artifacts import ArtifactDir

#: (m, 2) int64 rows of the round's CINCER pairs (suspicious, counter-example), both picked.
PAIRS_FILE = "pairs.npy"
#: (r,) int64 rows the round drew as region checks (uniform inside their latent region).
REGION_DRAWS_FILE = "region_draws.npy"
#: (n,) int64 latent region per row: written by the first model round, copied by the later
#: ones, so that region checks drawn in different rounds sample the same regions.
REGIONS_FILE = "regions.npy"


def targeted_picks(
    cfg: CampaignConfig,
    data: LabeledData,
    out_dir: ArtifactDir,
    inspected: npt.NDArray[np.bool_],
    budget: int,
    *,
    round_number: int,
    observed: npt.NDArray[np.int64],
    validation: npt.NDArray[np.bool_],
    regions: RegionInputs,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], str, int, dict[str, int]]:
    """A model round's picks and their inclusion probabilities, in order: region checks, the
    strategy's picks, the evidence slice (see :mod:`orchestrator.scheduler.runner`).

    Args:
        cfg: the campaign's configuration; data: its dataset.
        out_dir: the round's artifact folder (reads ``latent.npy`` and ``posterior.npy``;
            writes :data:`REGIONS_FILE`, :data:`REGION_DRAWS_FILE`, ``clusters.npy``,
            ``suggested.npy``, :data:`PAIRS_FILE` and the evidence pool file).
        inspected: (n,) rows picked in earlier rounds; budget: items this round.
        observed: (n,) crowd class per row, -1 where none; validation: (n,) validation flags.
        regions: what the region checks read from earlier rounds.

    Returns:
        picked rows (m,), their inclusion probabilities (m,), the strategy used, the number of
        clusters and the count of each kind of pick.
    """
    # Seeded by campaign and round, so a pick recomputed after a crash is the same pick.
    rnd = _RoundModel(
        cfg=cfg,
        data=data,
        out_dir=out_dir,
        round_number=round_number,
        latent=out_dir.load_npy("latent.npy"),
        posterior=out_dir.load_npy("posterior.npy"),
        observed=observed,
        rng=np.random.default_rng([cfg.seed, round_number, 1]),
    )
    taken = inspected.copy()
    # Region checks draw among all of a region's unchecked rows, where the model agrees with
    # the delivered label or not: they estimate the share of wrong labels among exactly the
    # rows a relabel would change.
    confirm = _region_checks(rnd, taken, budget // 2, regions)
    taken[confirm] = True
    model_agrees = rnd.posterior.argmax(axis=1) == data.noisy_labels
    rest = budget - len(confirm)
    n_slice = _evidence_slice_size(cfg, taken, model_agrees, rest)
    sel = _strategy_picks(rnd, taken, rest - n_slice, validation=validation)
    out_dir.save_npy("clusters.npy", sel.clusters)
    pairs = np.asarray(sel.info.get("pairs", []), dtype=np.int64).reshape(-1, 2)
    # a pair cut in half by an odd budget is published as its suspicious item alone
    out_dir.save_npy(PAIRS_FILE, pairs[np.isin(pairs, sel.indices).all(axis=1)])
    suggested = sel.info.get("suggested")
    write_suggestions(out_dir, rnd.posterior, suggested if isinstance(suggested, dict) else None)
    taken[sel.indices] = True
    certain = np.concatenate([confirm, sel.indices]).astype(np.int64)
    drawn, pi_drawn = _evidence_slice(rnd, taken, certain, n_slice)
    indices = np.concatenate([certain, drawn]).astype(np.int64)
    inclusion = np.concatenate([np.ones(len(certain)), pi_drawn])
    picks = {
        "region_checks": len(confirm),
        "strategy": len(sel.indices),
        "evidence": len(drawn),
    }
    return indices, inclusion, sel.strategy, sel.n_clusters, picks


@dataclass(frozen=True)
class RegionInputs:
    """What a round's region checks read besides the round model.

    Attributes:
        sources: rows whose crowd label is sure enough to contradict a latent region.
        regions: (n,) the campaign's latent regions, None in its first model round (they are
            computed from that round's latent space).
        drawn: rows earlier rounds drew as region checks.
    """

    sources: npt.NDArray[np.int64]
    regions: npt.NDArray[np.int64] | None
    drawn: npt.NDArray[np.int64]


@dataclass(frozen=True)
class _RoundModel:
    """What every pick step of one model round reads.

    Attributes:
        cfg, data: the campaign's configuration and dataset (``data.noisy_labels``: (n,)).
        out_dir: the round's artifact folder; round_number: its number.
        latent: (n, d) and posterior: (n, K), the round model's outputs.
        observed: (n,) crowd class per row, -1 where none.
        rng: the round's pick generator, shared by the region checks, the strategy and the
            evidence slice in that order.
    """

    cfg: CampaignConfig
    data: LabeledData
    out_dir: ArtifactDir
    round_number: int
    latent: npt.NDArray[np.floating]
    posterior: npt.NDArray[np.float64]
    observed: npt.NDArray[np.int64]
    rng: np.random.Generator


def _region_checks(
    rnd: _RoundModel,
    excluded: npt.NDArray[np.bool_],
    max_items: int,
    inputs: RegionInputs,
) -> npt.NDArray[np.int64]:
    """Up to ``max_items`` rows outside ``excluded``, drawn at random inside latent regions
    that a sure crowd label contradicts (:func:`items_to_confirm`). Writes the round's
    :data:`REGIONS_FILE` (``inputs.regions``, or new ones when None) and
    :data:`REGION_DRAWS_FILE`."""
    from orchestrator.propagation.regional import RegionEvidence, items_to_confirm, latent_regions

    cfg, data = rnd.cfg, rnd.data
    sources, regions, drawn = inputs.sources, inputs.regions, inputs.drawn
    if regions is None:
        regions = latent_regions(
            rnd.latent,
            data.n_classes,
            cfg.propagation_region_items,
            np.random.default_rng([cfg.seed, rnd.round_number, 2]),
        )
    rnd.out_dir.save_npy(REGIONS_FILE, regions)
    evidence = RegionEvidence(
        rnd.latent,
        regions,
        data.noisy_labels,
        sources,
        rnd.observed[sources],
        drawn,
        rnd.observed[drawn],
    )
    picks = items_to_confirm(
        evidence, excluded, rnd.rng, max_items=max_items, min_share=cfg.propagation_min_share
    )
    rnd.out_dir.save_npy(REGION_DRAWS_FILE, picks)
    return picks


def _strategy_picks(
    rnd: _RoundModel,
    taken: npt.NDArray[np.bool_],
    budget: int,
    *,
    validation: npt.NDArray[np.bool_],
) -> Selection:
    """The campaign strategy's ``budget`` picks among the rows not ``taken`` (the
    ``validation`` rows, (n,) flags, with their crowd class tune the strategy's options)."""
    from orchestrator.sampling import select_items

    val_idx = np.flatnonzero(validation)
    return select_items(
        rnd.latent,
        rnd.posterior,
        rnd.data.noisy_labels,
        taken,
        budget,
        strategy=rnd.cfg.strategy,
        n_clusters=rnd.cfg.n_clusters,
        validation_idx=val_idx,
        validation_labels=rnd.observed[val_idx],
        rng=rnd.rng,
    )


def _evidence_slice_size(
    cfg: CampaignConfig,
    taken: npt.NDArray[np.bool_],
    model_agrees: npt.NDArray[np.bool_],
    rest: int,
) -> int:
    """How many of the round's ``rest`` items the evidence slice draws."""
    # The full slice only when the relabel decision is at stake: the model disagrees with
    # more delivered labels than the round can check outright. Otherwise (MiniLM: the model
    # keeps every delivered label) a small slice keeps the accuracy estimate honest and can
    # still find regions the model is confidently wrong about; the rest goes to the strategy.
    at_stake = int((~taken & ~model_agrees).sum())
    share = cfg.evidence_share if at_stake >= rest else min(cfg.evidence_share, 0.1)
    # At least two drawn items where the round has four or more: the accuracy estimate's
    # interval needs two.
    return min(max(round(share * rest), min(2, rest // 2)), int((~taken).sum()))


def _evidence_slice(
    rnd: _RoundModel,
    taken: npt.NDArray[np.bool_],
    certain: npt.NDArray[np.int64],
    n_slice: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """``n_slice`` rows drawn from those not ``taken`` (systematic, weighted by
    :func:`draw_weights`) and their inclusion probabilities. Writes the pool file the
    estimates read: every item this round could pick, the ``certain`` picks with π = 1."""
    from orchestrator.campaigns.evidence import (
        EVIDENCE_FLOOR,
        POOL_FILE,
        draw_weights,
        pool_expectations,
    )
    from orchestrator.sampling.inclusion import inclusion_probabilities, systematic_sample

    posterior, noisy = rnd.posterior, rnd.data.noisy_labels
    pool = np.flatnonzero(~taken)
    score = draw_weights(posterior[pool], noisy[pool]) + EVIDENCE_FLOOR
    pi = inclusion_probabilities(score, min(n_slice, len(pool)))
    drawn = systematic_sample(pi, rnd.rng)
    rnd.out_dir.write_json(
        POOL_FILE,
        pool_expectations(
            posterior,
            noisy,
            np.concatenate([certain, pool]),
            np.concatenate([np.ones(len(certain)), pi]),
        ),
    )
    return pool[drawn], pi[drawn]


def round_hits(
    folder: ArtifactDir, selected: npt.NDArray[np.int64], item_ids: Sequence[uuid.UUID]
) -> list[HitTarget]:
    """The round's picks as the HITs to publish, in pick order: each of :data:`PAIRS_FILE`'s
    pairs as one ``(first, second)`` pair HIT (at its first item's place), every other pick
    alone. A round without the file (round 0, rounds picked before pairs existed) has none.
    """
    pairs = folder.load_npy(PAIRS_FILE) if folder.exists(PAIRS_FILE) else np.zeros((0, 2))
    rows = set(int(r) for r in selected)
    partner = {int(a): int(b) for a, b in pairs if int(a) in rows and int(b) in rows}
    seconds = set(partner.values())
    out: list[HitTarget] = []
    for r in (int(r) for r in selected):
        if r in partner:
            out.append((item_ids[r], item_ids[partner[r]]))
        elif r not in seconds:
            out.append(item_ids[r])
    return out
