"""The CLI and the HTTP API agree: the same lifecycle verbs with the same outcome from every
state (one table: ``orchestrator.campaigns.lifecycle.VERBS``), and the same status document
(one builder: ``orchestrator.campaigns.status.status_document``).

``start`` starts a draft only; a paused or failed campaign is *resumed* (``start`` on it is
refused on both surfaces, naming ``resume``), so nobody wakes an old campaign by mistake.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlmodel import Session

from orchestrator.campaigns.lifecycle import VERBS, Verb
from orchestrator.db.models import Campaign, CampaignStatus
from tests.factories.stored_campaign import build_campaign
from tests.integration.api.api_client import Api

#: (state, verb) → the state after the verb, or None where the verb is refused.
EXPECTED: dict[tuple[CampaignStatus, Verb], CampaignStatus | None] = {
    (state, verb): (VERBS[verb].target if state in VERBS[verb].sources else None)
    for state in CampaignStatus
    for verb in VERBS
}


def test_the_table_says_start_is_for_drafts_and_resume_for_the_rest() -> None:
    running = CampaignStatus.RUNNING
    assert EXPECTED[(CampaignStatus.DRAFT, "start")] == running
    assert EXPECTED[(CampaignStatus.PAUSED, "start")] is None
    assert EXPECTED[(CampaignStatus.FAILED, "start")] is None
    assert EXPECTED[(CampaignStatus.PAUSED, "resume")] == running
    assert EXPECTED[(CampaignStatus.FAILED, "resume")] == running
    assert EXPECTED[(CampaignStatus.DRAFT, "resume")] is None
    assert EXPECTED[(CampaignStatus.RUNNING, "pause")] == CampaignStatus.PAUSED


@pytest.fixture
def cli(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """``crowdclean …`` in-process on the API's database (an interpreter per call is slow)."""
    from typer.testing import CliRunner

    from orchestrator.cli import app
    from orchestrator.db.engine import get_engine
    from orchestrator.settings import get_settings

    url = api.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("CROWDCLEAN_DATABASE_URL", url)
    monkeypatch.setenv("CROWDCLEAN_DATA_DIR", str(api.data_dir / "data"))
    get_settings.cache_clear()
    get_engine.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def _state(api: Api, campaign_id: uuid.UUID) -> CampaignStatus:
    with Session(api.engine) as s:
        c = s.get(Campaign, campaign_id)
        assert c is not None
        return c.status


@pytest.mark.parametrize("verb", list(VERBS))
def test_cli_and_api_agree_on_every_verb_from_every_state(
    api: Api, cli: Callable[..., Any], verb: Verb
) -> None:
    for state in CampaignStatus:
        expected = EXPECTED[(state, verb)]
        by_api = build_campaign(api.engine, api.data_dir, n_items=12, status=state, seed=1)
        by_cli = build_campaign(api.engine, api.data_dir, n_items=12, status=state, seed=2)

        r = api.post("alice", f"/v1/campaigns/{by_api.campaign_id}/{verb}")
        done = cli("campaign", verb, str(by_cli.campaign_id))

        where = f"{verb} from {state.value}"
        if expected is None:
            assert r.status_code == 409, (where, r.text)
            assert done.exit_code == 2, (where, done.output)
            assert f"it is {state.value}" in r.json()["detail"]
            assert _state(api, by_api.campaign_id) == _state(api, by_cli.campaign_id) == state
        else:
            assert r.status_code == 200, (where, r.text)
            assert done.exit_code == 0, (where, done.output)
            assert r.json()["status"] == expected.value
            assert _state(api, by_api.campaign_id) == _state(api, by_cli.campaign_id) == expected
        if verb == "start" and state in (CampaignStatus.PAUSED, CampaignStatus.FAILED):
            # the refusal says what to do instead, on both surfaces
            assert "use resume" in r.json()["detail"]
            assert "use resume" in " ".join(done.output.split())


def test_cli_prints_the_status_document_the_api_answers(api: Api, cli: Callable[..., Any]) -> None:
    sc = build_campaign(api.engine, api.data_dir, n_items=60, seed=3)
    done = cli("campaign", "status", str(sc.campaign_id))
    assert done.exit_code == 0, done.output
    by_api = api.get("alice", f"/v1/campaigns/{sc.campaign_id}/status").json()
    assert json.loads(done.stdout) == by_api
    assert by_api["items"]["verified"] > 0 and by_api["accuracy"] is not None
