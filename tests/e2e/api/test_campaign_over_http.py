"""A whole campaign driven only through the HTTP API of a real `crowdclean serve` process.

The server runs as a subprocess (uvicorn on a free loopback port, the campaign scheduler in the
same process via ``--with-scheduler``), its MTurk endpoint is the simulator on loopback (boto3
over real HTTP). The test only creates an API key with the CLI, as an operator would, and then
talks HTTP: upload a dataset, create and start a campaign, poll its status until it completes,
download the export. It then checks the money and the HITs on the simulator's side.
"""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

N_ITEMS = 240
BUDGET = "6.00"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _digits_csv(n: int, seed: int) -> tuple[bytes, dict[str, str]]:
    """(CSV with 20 % of the labels flipped, id → true label) from scikit-learn's digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    keep = rng.choice(len(digits.target), size=n, replace=False)
    x, y = digits.data[keep] / 16.0, digits.target[keep]
    noisy = np.where(rng.random(n) < 0.2, (y + rng.integers(1, 10, n)) % 10, y)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["id", "label", *[f"p{k}" for k in range(64)]])
    for i in range(n):
        w.writerow([f"d{i:04d}", int(noisy[i]), *[f"{v:.4f}" for v in x[i]]])
    return out.getvalue().encode(), {f"d{i:04d}": str(int(y[i])) for i in range(n)}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, object, dict[str, str]]]:
    from orchestrator.simulator import SimulatorConfig, run_simulator

    data, oracle = _digits_csv(N_ITEMS, seed=1)
    (tmp_path / "digits.csv").write_bytes(data)
    sim_cfg = SimulatorConfig(
        seed=0, time_factor=0.0005, oracle=oracle, state_path=tmp_path / "sim.db"
    )
    port = _free_port()
    env = {
        **os.environ,
        "CROWDCLEAN_DATABASE_URL": f"sqlite:///{tmp_path / 'crowdclean.db'}",
        "CROWDCLEAN_DATA_DIR": str(tmp_path / "data"),
        "CROWDCLEAN_TORCH_THREADS": "1",
        "CROWDCLEAN_SCHEDULER__INTERVAL_S": "0.2",
        "CROWDCLEAN_MTURK__AWS_ACCESS_KEY_ID": "AKIDSIMULATOR",
        "CROWDCLEAN_MTURK__AWS_SECRET_ACCESS_KEY": "simulator-secret",
        "CROWDCLEAN_MTURK__MAX_REQUESTS_PER_SECOND": "200",
        "OMP_NUM_THREADS": "1",
    }
    cli = [sys.executable, "-m", "orchestrator"]
    with run_simulator(sim_cfg) as sim:
        env["CROWDCLEAN_MTURK__ENDPOINT_URL"] = sim.endpoint_url
        subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        made = subprocess.run(
            [*cli, "apikey", "create", "--requester", "acme"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        key = made.stdout.strip()
        log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [*cli, "serve", "--with-scheduler", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.2)
            yield base, key, sim, oracle
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                log.close()


def test_campaign_runs_to_completion_over_http(
    server: tuple[str, str, object, dict[str, str]], tmp_path: Path
) -> None:
    base, key, sim, oracle = server
    http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert httpx.get(f"{base}/v1/campaigns").status_code == 401

    feats = ",".join(f"p{k}" for k in range(64))
    with open(tmp_path / "digits.csv", "rb") as f:
        r = http.post(
            "/v1/datasets",
            files={"file": ("digits.csv", f, "text/csv")},
            data={"feature_cols": feats, "kind": "pixels"},
        )
    assert r.status_code == 201, r.text
    config = {
        "rounds": 1,
        "seed": 0,
        "poll_interval_s": 0.05,
        "crowd": {"gold_rate": 0.0},
        "model": {"beta_grid": [0.1], "search_epochs": 5, "epochs": 30, "latent_dim": 4},
    }
    r = http.post(
        "/v1/campaigns", json={"dataset": "digits", "budget_usd": BUDGET, "config": config}
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert http.post(f"/v1/campaigns/{cid}/start").json()["status"] == "running"

    deadline = time.monotonic() + 600
    seen_states: set[str] = set()
    while True:
        status = http.get(f"/v1/campaigns/{cid}/status").json()
        seen_states.add(status["status"])
        if status["status"] in {"completed", "failed", "cancelled"}:
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status["status"] == "completed", status
    assert status["items"]["verified"] > 0
    assert float(status["spent_usd"]) <= float(BUDGET)
    assert status["reserved_usd"] == "0.00"

    export = http.get(f"/v1/campaigns/{cid}/export", params={"format": "csv"})
    assert export.status_code == 200, export.text
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == N_ITEMS
    assert {r["source"] for r in rows} <= {"original", "model", "crowd", "propagated"}
    assert sum(r["source"] == "crowd" for r in rows) == status["items"]["verified"]
    before = np.mean([r["original_label"] == oracle[r["item_id"]] for r in rows])
    after = np.mean([r["cleaned_label"] == oracle[r["item_id"]] for r in rows])
    assert after > before, (before, after)

    # The simulator's side: one HIT per inspected item, nothing paid twice, and what left the
    # account is what the campaign booked (rewards + fees).
    stats = sim.stats()  # type: ignore[attr-defined]
    assert stats["hits"] == status["items"]["inspected"]
    assert stats["duplicate_tokens"] == 0 and stats["duplicate_annotations"] == 0
    assert stats["double_paid_assignments"] == 0
    assert float(stats["paid_usd"]) == pytest.approx(float(status["spent_usd"]))
