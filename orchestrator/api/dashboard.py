"""The campaign dashboard: one self-contained HTML page (inline CSS and SVG, no scripts, no CDN).

It shows progress (state, round, items inspected / verified / propagated), spend against the
budget, a 2-D view of the latent space coloured by label source, and the label-accuracy
estimate per round.

The 2-D view is a PCA of the newest latent vectors (``final/latent.npy``, else the latest
round's), computed on the server: at most ``max_points`` items are drawn, a seeded uniform
sample in which crowd-verified items are over-represented (up to a fifth of the points) because
they are the ones worth looking at. The principal axes are fitted on the drawn sample.

This module does not import FastAPI.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from orchestrator.campaigns.cleaned_labels import label_context, labels_at, latest_artifact
from orchestrator.db.models import Item, VerifiedLabel

SOURCE_COLOURS = {
    "original": "#9aa0a6",
    "model": "#8e44ad",
    "propagated": "#e67e22",
    "crowd": "#1e8449",
}
_W, _H, _PAD = 640.0, 420.0, 16.0


@dataclass(frozen=True)
class LatentView:
    """Projected points: x, y in SVG pixels (m,), their label source (m,), axis variance shares."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    sources: list[str]
    explained: tuple[float, float]
    n_items: int
    artifact: str

    def counts(self) -> dict[str, int]:
        return {s: self.sources.count(s) for s in SOURCE_COLOURS if s in self.sources}


def latent_view(
    engine: Engine, campaign_id: uuid.UUID, *, max_points: int = 5000, seed: int = 0
) -> LatentView | None:
    """The PCA view of the campaign's newest latent space; None before any model round."""
    ctx = label_context(engine, campaign_id)
    folder = latest_artifact(engine, ctx.campaign, "latent.npy")
    if folder is None:
        return None
    z = folder.load_npy("latent.npy", mmap=True)  # (n, d)
    if z.ndim != 2 or z.shape[0] != ctx.n_items or z.shape[0] == 0:
        return None
    n = int(z.shape[0])
    rng = np.random.default_rng([seed, 2])
    with Session(engine) as s:
        crowd = np.asarray(
            s.exec(
                select(Item.position)
                .join(VerifiedLabel, col(VerifiedLabel.item_id) == col(Item.id))
                .where(VerifiedLabel.campaign_id == campaign_id)
            ).all(),
            dtype=np.int64,
        )
    m = min(n, max_points)
    n_crowd = min(len(crowd), m // 5)
    picked = rng.choice(crowd, size=n_crowd, replace=False) if n_crowd else crowd[:0]
    pool = np.setdiff1d(np.arange(n, dtype=np.int64), picked, assume_unique=True)
    others = rng.choice(pool, size=m - n_crowd, replace=False)
    idx = np.sort(np.concatenate([picked, others]).astype(np.int64))  # (m,) unique positions
    sample = np.asarray(z[idx], dtype=np.float64)
    centred = sample - sample.mean(axis=0)
    if centred.shape[1] >= 2:
        _, sv, vt = np.linalg.svd(centred, full_matrices=False)
        proj = centred @ vt[:2].T
        var = sv**2
        explained = (float(var[0] / var.sum()), float(var[1] / var.sum())) if var.sum() else (0, 0)
    else:
        proj = np.column_stack([centred[:, 0], np.zeros(len(centred))])
        explained = (1.0, 0.0)
    chunk = labels_at(engine, ctx, idx)  # ordered by position, like idx
    x = _scale(proj[:, 0], _PAD, _W - _PAD)
    y = _scale(-proj[:, 1], _PAD, _H - _PAD)  # SVG y grows downwards
    return LatentView(
        x=x,
        y=y,
        sources=[str(s) for s in chunk.sources],
        explained=(float(explained[0]), float(explained[1])),
        n_items=n,
        artifact=folder.name,
    )


def _scale(v: npt.NDArray[np.float64], lo: float, hi: float) -> npt.NDArray[np.float64]:
    span = float(v.max() - v.min()) if len(v) else 0.0
    if span == 0:
        return np.full(len(v), (lo + hi) / 2)
    return lo + (v - v.min()) / span * (hi - lo)


def accuracy_rounds(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Per round: the stored accuracy estimate and interval (None where the round has none)."""
    out = []
    for r in status.get("rounds", []):
        m = r.get("metrics", {})
        est = m.get("accuracy_estimate")
        out.append(
            {
                "number": r["number"],
                "status": r["status"],
                "strategy": r.get("strategy", ""),
                "selected": r.get("selected", 0),
                "estimate": float(est) if est is not None else None,
                "low": float(m["accuracy_low"]) if "accuracy_low" in m else None,
                "high": float(m["accuracy_high"]) if "accuracy_high" in m else None,
                "model_validation_accuracy": m.get("validation_accuracy"),
            }
        )
    return out


_env = Environment(
    loader=PackageLoader("orchestrator.api", "templates"), autoescape=select_autoescape()
)


def render_dashboard(status: dict[str, Any], view: LatentView | None, export_base: str) -> str:
    """The dashboard HTML for a status document
    (:func:`orchestrator.campaigns.status.status_document`) and a latent view."""
    order = ["original", "model", "propagated", "crowd"]  # crowd drawn last, on top
    by_source: dict[str, list[int]] = {s: [] for s in order}
    if view is not None:
        for i, src in enumerate(view.sources):
            by_source.setdefault(src, []).append(i)

    def pct(part: float, whole: float) -> float:
        return round(min(100.0, 100.0 * float(part) / float(whole)), 1) if whole else 0.0

    return _env.get_template("dashboard.html").render(
        s=status,
        rounds=accuracy_rounds(status),
        view=view,
        counts=view.counts() if view else {},
        colours=SOURCE_COLOURS,
        order=order,
        by_source=by_source,
        pct=pct,
        w=int(_W),
        h=int(_H),
        export_base=export_base,
    )


def render_login(action: str, next_url: str, error: str | None = None) -> str:
    return _env.get_template("login.html").render(action=action, next=next_url, error=error)
