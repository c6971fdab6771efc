"""Why regional propagation sets wrong labels: each acting region's evidence against gold.

Reads the cell folders a ``crowdclean bench`` run leaves in its ``--workdir`` (one per
dataset × noise × budget × seed, each with the bench database and the campaigns' artifact
folders) and, for every crowdclean campaign whose propagation acted, writes one JSON line per
acting region: how many of the region's items are truly of another class than the delivered
one (gold, scoring only), how many of its verified items contradicted the delivered label
and whether the crowd was right there, how many of the relabelled items were right, and how
many of them the round model's posterior would have kept (p(crowd class) ≥ p(delivered)).

Run from the repository root after a bench run::

    python -m benchmarks.propagation.region_evidence --workdir WORKDIR [WORKDIR ...] \\
        --out benchmarks/propagation/region_evidence.jsonl

A region is the latent cell × delivered class of ``orchestrator.propagation.regional``; its
cells are read from the ``regions.npy`` of the round whose propagation was kept.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

CELL = re.compile(
    r"^(?P<dataset>.+)-(?P<kind>random|structural)-(?P<rate>[\d.]+)-b[\d.]+-s(?P<seed>\d+)$"
)


def _noisy_pool(dataset: str, kind: str, rate: float, seed: int, max_items: int) -> Any:
    from orchestrator.bench.protocol import BenchOptions, Noise, noisy_split
    from orchestrator.data.builtin import default_cache_dir

    options = BenchOptions(cache_dir=default_cache_dir(), max_items=max_items)
    return noisy_split(dataset, Noise.parse(f"{kind}:{rate}"), seed, options)[1]


def cell_regions(cell: Path) -> list[dict[str, Any]]:
    """One dict per acting region of every crowdclean campaign of one cell folder."""
    m = CELL.match(cell.name)
    if m is None or not (cell / "bench.db").exists():
        return []
    db = sqlite3.connect(f"file:{cell / 'bench.db'}?mode=ro", uri=True)
    n_items = db.execute("SELECT count(*) FROM item").fetchone()[0]
    # The cell's pool: a --max-items subsample has n_items rows, and a max_items of at least
    # the pool's size keeps the whole pool, so one call covers both.
    noisy = _noisy_pool(m["dataset"], m["kind"], float(m["rate"]), int(m["seed"]), n_items)
    pos = {str(e): i for i, e in enumerate(noisy.ids)}
    classes = [str(c) for c in noisy.classes]
    item = {r[0]: pos[r[1]] for r in db.execute("SELECT id, external_id FROM item")}
    gold, delivered = noisy.gold, noisy.noisy_labels
    out: list[dict[str, Any]] = []
    campaigns = db.execute("SELECT id, name FROM campaign WHERE name LIKE 'crowdclean%'")
    for cid, name in campaigns.fetchall():
        crowd = {
            item[i]: classes.index(lab)
            for i, lab in db.execute(
                "SELECT item_id, label FROM verifiedlabel WHERE campaign_id = ?", (cid,)
            )
        }
        prop = db.execute(
            "SELECT p.item_id, p.label, p.cluster, r.artifact_dir FROM propagatedlabel p "
            "JOIN round r ON r.id = p.round_id WHERE p.campaign_id = ?",
            (cid,),
        ).fetchall()
        if not prop:
            continue
        regions = np.load(Path(prop[0][3]) / "regions.npy")
        posterior = np.load(Path(prop[0][3]) / "posterior.npy")
        acting: dict[tuple[int, int, int], list[int]] = {}
        for i, lab, cluster, _dir in prop:
            row = item[i]
            acting.setdefault((int(cluster), int(delivered[row]), classes.index(lab)), []).append(
                row
            )
        for (cluster, b, a), targets in sorted(acting.items()):
            members = np.flatnonzero((regions == cluster) & (delivered == b))
            verified = [int(i) for i in members if int(i) in crowd]
            contra = [i for i in verified if crowd[i] != b]
            agree = [i for i in targets if posterior[i, a] >= posterior[i, b]]
            out.append(
                {
                    "cell": cell.name,
                    "campaign": name,
                    "region": cluster,
                    "delivered": b,
                    "crowd_class": a,
                    "n_members": len(members),
                    "share_wrong_in_gold": round(float((gold[members] != b).mean()), 3),
                    "n_verified": len(verified),
                    "n_verified_contradicting": len(contra),
                    "crowd_right_on_verified": sum(int(crowd[i] == gold[i]) for i in verified),
                    "n_relabelled": len(targets),
                    "n_relabelled_right": sum(int(gold[i] == a) for i in targets),
                    # Would the round model's posterior have kept them? p(a) >= p(b).
                    "n_model_agrees": len(agree),
                    "n_model_agrees_right": sum(int(gold[i] == a) for i in agree),
                }
            )
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, nargs="+", required=True)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    rows = [
        r
        for w in args.workdir
        for cell in sorted(w.iterdir())
        if cell.is_dir()
        for r in cell_regions(cell)
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), "utf-8")
    print(f"{len(rows)} acting regions -> {args.out}")


if __name__ == "__main__":
    main()
