"""``crowdclean campaign cancel`` as an operator runs it: a subprocess against the simulator.

The campaign's state changes before any HIT is touched, and the clean-up runs under the
campaign's scheduler lease: while another process holds it, cancel leaves the HITs to that
process (exit code 3) instead of racing its publish.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import Session, select

from orchestrator.crowd.campaign_crowd import CampaignCrowd
from orchestrator.crowd.publish import publish_items
from orchestrator.crowd.render import TaskRenderer
from orchestrator.db.models import Campaign, CampaignStatus, Hit, HitStatus
from orchestrator.scheduler.lease import Lease
from tests.factories.crowd_campaign import make_crowd_campaign
from tests.factories.simulators import connect


def _cancel(db_url: str, endpoint: str, campaign_id: object) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CROWDCLEAN_DATABASE_URL": db_url,
        "CROWDCLEAN_MTURK__ENDPOINT_URL": endpoint,
        "CROWDCLEAN_MTURK__AWS_ACCESS_KEY_ID": "AKIDSIMULATOR",
        "CROWDCLEAN_MTURK__AWS_SECRET_ACCESS_KEY": "simulator-secret",
        "CROWDCLEAN_MTURK__MAX_REQUESTS_PER_SECOND": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", "campaign", "cancel", str(campaign_id), "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cancel_disposes_every_hit_and_releases_the_money(db, simulator_factory, tmp_path: Path):
    c = make_crowd_campaign(db, n_items=3, crowd={"gold_rate": 0})
    sim = simulator_factory(oracle=c.oracle, workers={"mean_arrival_s": 1e6})  # nobody comes
    crowd = CampaignCrowd.load(db, connect(sim), c.campaign_id)
    publish_items(crowd, c.round_id, c.item_ids, renderer=TaskRenderer())
    url = db.url.render_as_string(hide_password=False)

    # A scheduler holds the campaign: the state flips, the HITs are left to it.
    assert Lease(db, c.campaign_id, "scheduler:other", 600).claim()
    out = _cancel(url, sim.endpoint_url, c.campaign_id)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "a scheduler holds the campaign" in out.stdout
    with Session(db) as s:
        assert s.get(Campaign, c.campaign_id).status == CampaignStatus.CANCELLED  # type: ignore[union-attr]
        assert {h.status for h in s.exec(select(Hit))} == {HitStatus.PUBLISHED}
    assert sim.stats()["hits"] == 3

    # The lease lapses (released here): a second cancel does the clean-up itself.
    with Session(db) as s:
        camp = s.get(Campaign, c.campaign_id)
        assert camp is not None
        camp.lease_owner, camp.lease_expires_at = None, None
        s.add(camp)
        s.commit()
    out = _cancel(url, sim.endpoint_url, c.campaign_id)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "disposed 3" in out.stdout and "committed spend 0.0000 USD" in out.stdout
    with Session(db) as s:
        assert {h.status for h in s.exec(select(Hit))} == {HitStatus.DISPOSED}
    assert list(connect(sim).iter_hits()) == []


def test_cancel_of_an_unknown_campaign_says_so(db, simulator_factory):
    sim = simulator_factory()
    url = db.url.render_as_string(hide_password=False)
    out = _cancel(url, sim.endpoint_url, "00000000-0000-0000-0000-000000000000")
    assert out.returncode != 0
    assert "no campaign 00000000-0000-0000-0000-000000000000" in out.stderr + out.stdout
