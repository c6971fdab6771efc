"""Diagnostic: crowdclean's stored campaigns re-labelled with the fixes proposed in bench.md.

For every finished ``crowdclean`` campaign of a benchmark cell still on disk (``--workdir`` of
``crowdclean bench``), this recomputes the cleaned labels three ways from the campaign's own
artifacts, without any new crowd answer or model fit:

* ``stored``: the campaign's labels (export precedence: crowd > propagated > model > original);
* ``argmax``: the final model's argmax, crowd labels where verified (no propagation);
* ``argmax+gain``: ``argmax`` plus propagation whose ``p`` is tuned with the net-gain
  criterion (``current_labels`` = the final model's argmax), i.e. what the round runner would
  do if it passed ``current_labels`` to ``propagate_labels``; propagated labels replace the
  model's only where the tuning found a net gain on the validation items.

Gold labels are read only to score. Usage:
    PYTHONPATH=. .venv/bin/python benchmarks/bench/diagnose_propagation.py \
        --workdir /tmp/crowdclean-bench --out benchmarks/bench/diagnose_propagation.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np


def diagnose(cell_dir: Path) -> dict[str, object] | None:
    from sqlmodel import Session, col, select

    from orchestrator.bench.protocol import Noise, load_split
    from orchestrator.campaigns.cleaned_labels import cleaned_labels
    from orchestrator.data.noise import inject_noise
    from orchestrator.db.engine import make_engine
    from orchestrator.db.models import Campaign, Round, VerifiedLabel
    from orchestrator.propagation import propagate_labels

    m = re.fullmatch(r"(.+)-(random|structural)-([0-9.]+)-b([0-9.]+)-s(\d+)", cell_dir.name)
    if m is None or not (cell_dir / "bench.db").exists():
        return None
    dataset, kind, rate, _budget, seed = m.groups()
    engine = make_engine(f"sqlite:///{(cell_dir / 'bench.db').resolve()}")
    try:
        with Session(engine) as s:
            campaign = s.exec(select(Campaign).where(Campaign.name == "crowdclean")).first()
            if campaign is None:
                return None
            rounds = s.exec(
                select(Round).where(Round.campaign_id == campaign.id).order_by(col(Round.number))
            ).all()
            verified = s.exec(
                select(VerifiedLabel).where(VerifiedLabel.campaign_id == campaign.id)
            ).all()
        cleaned = cleaned_labels(engine, campaign.id)
        from orchestrator.data.store import item_ids_by_position

        ids = item_ids_by_position(engine, campaign.dataset_id)
    finally:
        engine.dispose()
    # A cell run with --max-items has a different pool; those runs are not diagnosed here.
    split = load_split(dataset)
    if split.pool.n_items != len(ids):
        return None
    noise = Noise(kind, float(rate))
    noisy = inject_noise(
        split.pool, rate=noise.rate, kind=noise.kind, rng=np.random.default_rng(int(seed))
    )
    gold = noisy.gold
    pos = {item_id: i for i, item_id in enumerate(ids)}
    index = {c: k for k, c in enumerate(noisy.classes)}
    rows = np.array([pos[v.item_id] for v in verified], dtype=np.int64)
    labels = np.array([index[v.label] for v in verified], dtype=np.int64)
    is_val = np.array([v.is_validation for v in verified], dtype=bool)
    post = np.load(Path(campaign.artifact_dir) / "final" / "posterior.npy")
    last = [
        Path(r.artifact_dir) for r in rounds if (Path(r.artifact_dir) / "clusters.npy").exists()
    ]
    argmax = post.argmax(1).astype(np.int64)
    fixed_argmax = argmax.copy()
    fixed_argmax[rows] = labels
    out: dict[str, object] = {
        "cell": cell_dir.name,
        "stored": float((cleaned.labels == gold).mean()),
        "argmax": float((fixed_argmax == gold).mean()),
    }
    if last:
        prop = propagate_labels(
            np.load(last[-1] / "latent.npy"),
            np.load(last[-1] / "clusters.npy"),
            rows,
            labels,
            fraction=None,
            validation_idx=rows[is_val],
            validation_labels=labels[is_val],
            current_labels=argmax,
        )
        gain = fixed_argmax.copy()
        gain[prop.indices] = prop.labels
        out.update(
            {
                "argmax+gain": float((gain == gold).mean()),
                "p_gain": prop.fraction,
                "n_propagated_gain": len(prop.indices),
                "n_propagated_stored": int((cleaned.sources == "propagated").sum()),
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", type=Path, default=Path("crowdclean-bench"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    results = [r for d in sorted(args.workdir.iterdir()) if (r := diagnose(d)) is not None]
    for r in results:
        print(json.dumps(r))
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
