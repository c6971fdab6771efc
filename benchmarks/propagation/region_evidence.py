"""How well the region checks judge a latent region: each checked region against gold.

Reads the cell folders a ``crowdclean bench`` run leaves in its ``--workdir`` (one per
dataset × noise × budget × seed, each with the bench database and the campaigns' artifact
folders) and writes one JSON line per latent region that got region checks in a crowdclean
campaign: how many of the region's items are truly of another class than the delivered one
(gold, scoring only), what its checks (items drawn uniformly inside the region) said and
whether the crowd was right on them, whether the region acted, and how many of the items it
relabelled were right. The acting regions' precision should follow their gold share of wrong
labels, and regions whose checks did not agree should be the mixed ones.

Run from the repository root after a bench run::

    python -m benchmarks.propagation.region_evidence --workdir WORKDIR [WORKDIR ...] \\
        --out benchmarks/propagation/region_evidence.jsonl

A region is the latent cell × delivered class of ``orchestrator.propagation.regional``; the
cells are the campaign's first model round's ``regions.npy`` (later rounds keep them), the
checks every round's ``region_draws.npy``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_cells import Cell, write_campaign_rows


def _campaign_regions(cell: Cell, cid: str) -> list[dict[str, Any]]:
    """One dict per checked region of one campaign."""
    db, item = cell.db, cell.item
    gold, delivered = cell.noisy.gold, cell.noisy.noisy_labels
    crowd = {
        item[i]: cell.class_index(lab)
        for i, lab in db.execute(
            "SELECT item_id, label FROM verifiedlabel WHERE campaign_id = ?", (cid,)
        )
    }
    dirs = [
        Path(d)
        for (d,) in db.execute(
            "SELECT artifact_dir FROM round WHERE campaign_id = ? AND number > 0 ORDER BY number",
            (cid,),
        )
    ]
    dirs = [d for d in dirs if (d / "regions.npy").exists()]
    if not dirs:
        return []
    regions = np.load(dirs[0] / "regions.npy")
    draws = sorted(
        {
            int(i)
            for d in dirs
            if (d / "region_draws.npy").exists()
            for i in np.load(d / "region_draws.npy")
        }
    )
    relabelled: dict[int, int] = {
        item[i]: cell.class_index(lab)
        for i, lab in db.execute(
            "SELECT item_id, label FROM propagatedlabel WHERE campaign_id = ?", (cid,)
        )
    }
    out: list[dict[str, Any]] = []
    for cell, b in sorted({(int(regions[i]), int(delivered[i])) for i in draws}):
        members = np.flatnonzero((regions == cell) & (delivered == b))
        checks = [i for i in draws if regions[i] == cell and delivered[i] == b and i in crowd]
        said = Counter(crowd[i] for i in checks if crowd[i] != b).most_common(1)
        a = said[0][0] if said else b
        targets = [int(i) for i in members if int(i) in relabelled]
        out.append(
            {
                "region": cell,
                "delivered": b,
                "crowd_class": a,
                "n_members": len(members),
                "share_wrong_in_gold": round(float((gold[members] != b).mean()), 3),
                "n_checks": len(checks),
                "n_checks_contradicting": sum(int(crowd[i] == a != b) for i in checks),
                "crowd_right_on_checks": sum(int(crowd[i] == gold[i]) for i in checks),
                "acted": bool(targets),
                "n_relabelled": len(targets),
                "n_relabelled_right": sum(int(gold[i] == relabelled[i]) for i in targets),
            }
        )
    return out


def main(argv: list[str] | None = None) -> None:
    rows = write_campaign_rows(argv, __doc__.split("\n")[0], _campaign_regions)
    acted = [r for r in rows if r["acted"]]
    right = sum(r["n_relabelled_right"] for r in acted)
    total = sum(r["n_relabelled"] for r in acted)
    print(f"{len(rows)} checked regions, {len(acted)} acted: {right}/{total} relabels right")


if __name__ == "__main__":
    main()
