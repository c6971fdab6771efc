"""A model round's picks: region checks, the strategy's items and the evidence slice; and the
HITs they are published as."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from orchestrator.campaigns.config import CampaignConfig
from orchestrator.data.dataset import LabeledData
from orchestrator.scheduler.model_votes import write_suggestions
from orchestrator.storage.artifacts import ArtifactDir

#: (m, 2) int64 rows of the round's CINCER pairs (suspicious, counter-example), both picked.
PAIRS_FILE = "pairs.npy"


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
    sources: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], str, int, dict[str, int]]:
    """A model round's picks and their inclusion probabilities, in order: region checks, the
    strategy's picks, the evidence slice (see :mod:`orchestrator.scheduler.runner`).

    Args:
        cfg: the campaign's configuration; data: its dataset.
        out_dir: the round's artifact folder (reads ``latent.npy`` and ``posterior.npy``;
            writes ``regions.npy``, ``clusters.npy``, ``suggested.npy``, :data:`PAIRS_FILE` and
            the evidence pool file).
        inspected: (n,) rows picked in earlier rounds; budget: items this round.
        observed: (n,) crowd class per row, -1 where none; validation: (n,) validation flags.
        sources: rows whose crowd label may speak for a latent region.

    Returns:
        picked rows (m,), their inclusion probabilities (m,), the strategy used, the number of
        clusters and the count of each kind of pick.
    """
    from orchestrator.campaigns.evidence import (
        EVIDENCE_FLOOR,
        POOL_FILE,
        draw_weights,
        pool_expectations,
    )
    from orchestrator.propagation.regional import items_to_confirm, latent_regions
    from orchestrator.sampling import select_items
    from orchestrator.sampling.inclusion import inclusion_probabilities, systematic_sample

    # Seeded by campaign and round, so a pick recomputed after a crash is the same pick.
    rng = np.random.default_rng([cfg.seed, round_number, 1])
    noisy = data.noisy_labels
    latent = out_dir.load_npy("latent.npy")
    posterior = out_dir.load_npy("posterior.npy")
    regions = latent_regions(
        latent,
        data.n_classes,
        cfg.propagation_region_items,
        np.random.default_rng([cfg.seed, round_number, 2]),
    )
    out_dir.save_npy("regions.npy", regions)
    ver = sources
    taken = inspected.copy()
    # Region checks go where the model keeps the delivered label (it cannot see the error
    # there: structural noise); where it already disagrees, its relabelling is judged by
    # the evidence slice instead.
    model_agrees = posterior.argmax(axis=1) == noisy
    confirm = items_to_confirm(
        latent, regions, noisy, ver, observed[ver], taken | ~model_agrees, max_items=budget // 2
    )
    taken[confirm] = True
    rest = budget - len(confirm)
    # The full slice only when the relabel decision is at stake: the model disagrees with
    # more delivered labels than the round can check outright. Otherwise (MiniLM: the model
    # keeps every delivered label) a small slice keeps the accuracy estimate honest and can
    # still find regions the model is confidently wrong about; the rest goes to the strategy.
    at_stake = int((~taken & ~model_agrees).sum())
    share = cfg.evidence_share if at_stake >= rest else min(cfg.evidence_share, 0.1)
    # At least two drawn items where the round has four or more: the accuracy estimate's
    # interval needs two.
    n_slice = min(max(round(share * rest), min(2, rest // 2)), int((~taken).sum()))
    val_idx = np.flatnonzero(validation)
    sel = select_items(
        latent,
        posterior,
        noisy,
        taken,
        rest - n_slice,
        strategy=cfg.strategy,
        n_clusters=cfg.n_clusters,
        validation_idx=val_idx,
        validation_labels=observed[val_idx],
        rng=rng,
    )
    out_dir.save_npy("clusters.npy", sel.clusters)
    pairs = np.asarray(sel.info.get("pairs", []), dtype=np.int64).reshape(-1, 2)
    # a pair cut in half by an odd budget is published as its suspicious item alone
    out_dir.save_npy(PAIRS_FILE, pairs[np.isin(pairs, sel.indices).all(axis=1)])
    suggested = sel.info.get("suggested")
    write_suggestions(out_dir, posterior, suggested if isinstance(suggested, dict) else None)
    taken[sel.indices] = True
    pool = np.flatnonzero(~taken)
    score = draw_weights(posterior[pool], noisy[pool]) + EVIDENCE_FLOOR
    pi = inclusion_probabilities(score, min(n_slice, len(pool)))
    drawn = systematic_sample(pi, rng)
    # The estimates' pool is every item this round could pick: the certain picks count
    # with π = 1.
    certain = np.concatenate([confirm, sel.indices]).astype(np.int64)
    out_dir.write_json(
        POOL_FILE,
        pool_expectations(
            posterior,
            noisy,
            np.concatenate([certain, pool]),
            np.concatenate([np.ones(len(certain)), pi]),
        ),
    )
    indices = np.concatenate([confirm, sel.indices, pool[drawn]]).astype(np.int64)
    inclusion = np.concatenate([np.ones(len(confirm) + len(sel.indices)), pi[drawn]])
    picks = {
        "region_checks": len(confirm),
        "strategy": len(sel.indices),
        "evidence": len(drawn),
    }
    return indices, inclusion, sel.strategy, sel.n_clusters, picks


def round_hits(
    folder: ArtifactDir, selected: npt.NDArray[np.int64], item_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID | tuple[uuid.UUID, uuid.UUID]]:
    """The round's picks as the HITs to publish, in pick order: each of :data:`PAIRS_FILE`'s
    pairs as one ``(first, second)`` pair HIT (at its first item's place), every other pick
    alone. A round without the file (round 0, rounds picked before pairs existed) has none.
    """
    pairs = folder.load_npy(PAIRS_FILE) if folder.exists(PAIRS_FILE) else np.zeros((0, 2))
    rows = set(int(r) for r in selected)
    partner = {int(a): int(b) for a, b in pairs if int(a) in rows and int(b) in rows}
    seconds = set(partner.values())
    out: list[uuid.UUID | tuple[uuid.UUID, uuid.UUID]] = []
    for r in (int(r) for r in selected):
        if r in partner:
            out.append((item_ids[r], item_ids[partner[r]]))
        elif r not in seconds:
            out.append(item_ids[r])
    return out
