"""A real campaign behind the API: upload, create and start through the API, let the real
RoundRunner drive it against the in-process simulator (boto3 on loopback), then read status,
items, export and dashboard through the API. Slow: it fits the deep model twice."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from tests.integration.api.api_client import make_api

pytestmark = pytest.mark.slow


def _digits_csv(n: int, seed: int) -> tuple[str, dict[str, str]]:
    """(CSV text with 20 % of labels flipped, id → true label) from scikit-learn's digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    keep = rng.choice(len(digits.target), size=n, replace=False)
    x = digits.data[keep] / 16.0
    y = digits.target[keep]
    noisy = np.where(rng.random(n) < 0.2, (y + rng.integers(1, 10, n)) % 10, y)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["id", "label", *[f"p{k}" for k in range(64)]])
    for i in range(n):
        w.writerow([f"d{i:04d}", int(noisy[i]), *[f"{v:.4f}" for v in x[i]]])
    return out.getvalue(), {f"d{i:04d}": str(int(y[i])) for i in range(n)}


def test_real_campaign_through_the_api(sqlite_engine: Engine, tmp_path: Path) -> None:
    from orchestrator.crowd.mturk import MTurkPlatform
    from orchestrator.scheduler.platform_stage import PlatformStage
    from orchestrator.scheduler.runner import RoundRunner
    from orchestrator.simulator import SimulatorConfig, run_simulator

    text, oracle = _digits_csv(400, seed=0)
    config = {
        "rounds": 1,
        "seed": 0,
        "poll_interval_s": 0.05,
        "crowd": {"gold_rate": 0.0},
        "model": {"beta_grid": [0.1], "search_epochs": 5, "epochs": 30, "latent_dim": 4},
    }
    sim_cfg = SimulatorConfig(
        seed=0, time_factor=0.0005, oracle=oracle, state_path=tmp_path / "sim.db"
    )
    with run_simulator(sim_cfg) as sim:
        api = make_api(sqlite_engine, tmp_path, mturk_endpoint=sim.endpoint_url)
        with api.client:
            feats = ",".join(f"p{k}" for k in range(64))
            r = api.post(
                "alice",
                "/v1/datasets",
                files={"file": ("digits.csv", text.encode(), "text/csv")},
                data={"feature_cols": feats, "kind": "pixels"},
            )
            assert r.status_code == 201, r.text
            r = api.post(
                "alice",
                "/v1/campaigns",
                json={"dataset": "digits", "budget_usd": "9.00", "config": config},
            )
            assert r.status_code == 201, r.text
            cid = r.json()["id"]
            assert api.post("alice", f"/v1/campaigns/{cid}/start").json()["status"] == "running"

            platform = MTurkPlatform.connect(
                sim.endpoint_url,
                aws_access_key_id="AKIDSIMULATOR",
                aws_secret_access_key="simulator-secret",
                max_requests_per_second=200,
            )
            runner = RoundRunner(sqlite_engine, PlatformStage(sqlite_engine, platform))
            runner.run(__import__("uuid").UUID(cid), sleep=time.sleep)

            s = api.get("alice", f"/v1/campaigns/{cid}/status").json()
            assert s["status"] == "completed", s
            assert s["items"]["verified"] > 0 and s["items"]["inspected"] >= s["items"]["verified"]
            assert 0 < float(s["spent_usd"]) <= 9.0 and s["reserved_usd"] == "0.00"
            assert s["accuracy"] is not None and s["accuracy"]["n_validation"] > 0
            assert s["workers"]["count"] > 0
            assert any("accuracy_estimate" in rd["metrics"] for rd in s["rounds"])

            rows = list(
                csv.DictReader(io.StringIO(api.get("alice", f"/v1/campaigns/{cid}/export").text))
            )
            assert len(rows) == 400
            crowd, cursor = [], None
            while True:
                page = api.get(
                    "alice",
                    f"/v1/campaigns/{cid}/items",
                    params={"source": "crowd", **({"cursor": cursor} if cursor else {})},
                ).json()
                crowd += page["items"]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert len(crowd) == s["items"]["verified"]
            assert sum(r["source"] == "crowd" for r in rows) == len(crowd)
            before = np.mean([r["original_label"] == oracle[r["item_id"]] for r in rows])
            after = np.mean([r["cleaned_label"] == oracle[r["item_id"]] for r in rows])
            assert after >= before, (before, after)

            html = api.get("alice", f"/v1/campaigns/{cid}/dashboard").text
            assert '<svg id="latent"' in html and 'data-source="crowd"' in html
