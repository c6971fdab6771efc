"""A campaign moves between two hosts that share only PostgreSQL and an S3 bucket.

Real parts: two ``crowdclean scheduler`` subprocesses, each with its own data directory (so
its own artifact cache), one PostgreSQL database, one bucket on a real S3-compatible server on
loopback (``tests/factories/s3_server.py``) and the MTurk simulator. The operator's host
imports the dataset and creates the campaign with ``CROWDCLEAN_ARTIFACTS_URL=s3://…``; host A
runs round 1 and is killed (SIGKILL: its lease lapses); host B, whose cache starts empty,
takes the campaign over, runs round 2 and writes the final model; a third host with an empty
cache exports it through the CLI. No host ever writes an artifact to its own disk, only to the
bucket (and to its cache).
"""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from orchestrator.db.models import Campaign, Dataset, Round
from orchestrator.settings import Settings, get_settings
from orchestrator.simulator import SimulatorConfig, run_simulator
from orchestrator.storage.artifacts import artifact_root
from tests.factories.s3_server import S3Bucket
from tests.factories.tiny_campaign import make_tiny_campaign
from tests.integration.scheduler.campaign_setup import (
    campaign_state,
    check_invariants,
    kill,
    progress,
    scheduler_env,
    start_scheduler,
    tail,
    wait_for,
)

ROUND_FILES = {"latent.npy", "posterior.npy", "regions.npy", "clusters.npy"}
ROUND_FILES |= {"selected.npy", "inclusion.npy", "evidence_pool.json", "relabel.json"}
FINAL_FILES = {"latent.npy", "posterior.npy", "relabel.json", "choice.json"}


def _artifact_files(data_dir: Path) -> list[str]:
    """Files under a host's data directory other than its S3 cache."""
    if not data_dir.exists():
        return []
    cache = data_dir / "artifact-cache"
    return sorted(
        str(p.relative_to(data_dir))
        for p in data_dir.rglob("*")
        if p.is_file() and cache not in p.parents
    )


def _run_until(env: dict[str, str], log: Path, what: str, cond: Any, *, kill_at_end: bool) -> None:
    """Start a scheduler host, wait for ``cond``; then SIGKILL it (a lost host) or stop it."""
    proc = start_scheduler(env, log)
    try:
        wait_for(proc, log, what, cond, 240, poll_s=0.1)
        if kill_at_end:
            kill(proc)  # its lease lapses after lease_ttl_s
        else:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, tail(log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _export_on_a_third_host(tmp_path: Path, env: dict[str, str], campaign_id: Any) -> list[Any]:
    """``crowdclean export`` from a data directory (cache) of its own; the CSV's rows."""
    out = tmp_path / "export.csv"
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", "export", str(campaign_id), "--out", str(out)],
        env={**env, "CROWDCLEAN_DATA_DIR": str(tmp_path / "exporter")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with out.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.postgres
def test_two_hosts_finish_one_campaign_through_the_bucket(
    tmp_path: Path,
    postgres_engine: Engine,
    s3_bucket: S3Bucket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = postgres_engine
    url = s3_bucket.url("crowdclean")
    # This process reads artifacts too (the invariant checks): as a host of its own.
    monkeypatch.setenv("CROWDCLEAN_DATA_DIR", str(tmp_path / "test-host"))
    get_settings.cache_clear()
    operator = Settings(data_dir=tmp_path / "operator", artifacts_url=url)
    c = make_tiny_campaign(engine, artifact_root(operator), rounds=2, budget="4.00")
    with Session(engine) as s:
        campaign = s.get(Campaign, c.campaign_id)
        assert campaign is not None
        dataset = s.get(Dataset, campaign.dataset_id)
        assert dataset is not None
    prefix = f"s3://{s3_bucket.name}/crowdclean"
    assert dataset.artifact_dir == f"{prefix}/datasets/{dataset.id}"
    assert campaign.artifact_dir == f"{prefix}/campaigns/{c.campaign_id}"

    db_url = engine.url.render_as_string(hide_password=False)
    hosts = {name: tmp_path / name for name in ("host-a", "host-b")}
    sim_cfg = SimulatorConfig(
        seed=3, time_factor=0.0005, oracle=c.oracle, state_path=tmp_path / "simulator.sqlite"
    )
    with run_simulator(sim_cfg) as sim:
        env = scheduler_env(
            db_url, sim.endpoint_url, **s3_bucket.server.env(), CROWDCLEAN_ARTIFACTS_URL=url
        )
        _run_until(
            {**env, "CROWDCLEAN_DATA_DIR": str(hosts["host-a"])},
            tmp_path / "host-a.log",
            "round 1 to finish on host A",
            lambda: progress(engine, c.campaign_id) >= (2, 0),
            kill_at_end=True,
        )
        assert campaign_state(engine, c.campaign_id)[0] == "running"
        assert not hosts["host-b"].exists()  # B starts with an empty cache
        _run_until(
            {**env, "CROWDCLEAN_DATA_DIR": str(hosts["host-b"])},
            tmp_path / "host-b.log",
            "host B to complete the campaign",
            lambda: campaign_state(engine, c.campaign_id)[0] == "completed",
            kill_at_end=False,
        )
        check_invariants(engine, c, sim)

    with Session(engine) as s:
        rounds = s.exec(select(Round).where(Round.campaign_id == c.campaign_id)).all()
    folders = {r.number: r.artifact_dir for r in rounds}
    assert {
        1: f"{campaign.artifact_dir}/round-1",
        2: f"{campaign.artifact_dir}/round-2",
    }.items() <= folders.items()
    keys = set(s3_bucket.keys("crowdclean/"))
    base = f"crowdclean/campaigns/{c.campaign_id}"
    assert f"crowdclean/datasets/{dataset.id}/features.npy" in keys
    for number in (1, 2):
        assert {f"{base}/round-{number}/{f}" for f in ROUND_FILES} <= keys, sorted(keys)
    assert {f"{base}/final/{f}" for f in FINAL_FILES} <= keys, sorted(keys)
    # Nothing was written to a host's own disk but its cache; B read what A wrote.
    for host in hosts.values():
        assert _artifact_files(host) == [], _artifact_files(host)
    cache_b = hosts["host-b"] / "artifact-cache" / s3_bucket.name / "crowdclean"
    assert list(cache_b.glob(f"datasets/{dataset.id}/features.npy~*"))
    assert list(cache_b.glob(f"campaigns/{c.campaign_id}/round-1/selected.npy~*"))

    rows = _export_on_a_third_host(tmp_path, env, c.campaign_id)
    assert len(rows) == len(c.oracle)
    assert "crowd" in {r["source"] for r in rows}
    assert list((tmp_path / "exporter" / "artifact-cache").rglob("final/posterior.npy~*"))
