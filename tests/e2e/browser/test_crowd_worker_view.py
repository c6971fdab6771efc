"""A HIT's worker view in headless Chromium: pick a label, submit, see the assignment via boto3.

Needs Chromium and the ``playwright`` package (see ``conftest.py``: skipped with a message when
missing, failed under ``CROWDCLEAN_REQUIRE_BROWSER=1``). Run with ``pytest tests/e2e/browser``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from orchestrator.crowd.answers import parse_answer
from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.crowd.platform import HitRequest, HitTypeSpec, PlatformAssignmentStatus
from orchestrator.crowd.render import ItemView, TaskRenderer

pytestmark = pytest.mark.browser

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2"> ]]> end'


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[object]:
    from orchestrator.simulator import SimulatorConfig, run_simulator

    cfg = SimulatorConfig(state_path=tmp_path / "sim.sqlite", simulate_workers=False)
    with run_simulator(cfg) as running:
        yield running


def _publish(sim: object, options: list[str], current: str, text: str) -> tuple[MTurkPlatform, str]:
    platform = MTurkPlatform.connect(
        sim.endpoint_url,
        aws_access_key_id="AKID",
        aws_secret_access_key="s",  # type: ignore[attr-defined]
    )
    type_id = platform.create_hit_type(
        HitTypeSpec(title="Verify", description="Verify a label", reward_usd=Decimal("0.05"))
    )
    q = TaskRenderer().render_item(
        ItemView(key="item-1", current_label=current, options=options, text=text)
    )
    hit_id = platform.create_hit(HitRequest(type_id, q, 1, 3600, "tok-browser", '{"k":"item-1"}'))
    return platform, hit_id


def test_worker_submits_a_correction(browser, sim) -> None:
    platform, hit_id = _publish(sim, ["cat", "dog", "bird"], "cat", HOSTILE)
    page = browser.new_page()  # type: ignore[attr-defined]
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(sim.worker_url(hit_id, "AWORKERBROWSER1"))  # type: ignore[attr-defined]
    # hostile item text is shown as text, never executed
    assert page.locator("#cc-item-text").inner_text() == HOSTILE
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("#cc-item-text script").count() == 0
    assert page.locator("#cc-current-label").inner_text() == "cat"
    assert page.locator("#cc-submit").is_enabled()
    page.check("input[name=is_correct][value=no]")
    page.select_option("#cc-label-select", "dog")
    page.click("#cc-submit")
    page.wait_for_selector("#submitted")
    assert not dialogs

    (a,) = list(platform.iter_assignments(hit_id))
    assert a.worker_id == "AWORKERBROWSER1"
    assert a.status == PlatformAssignmentStatus.SUBMITTED
    parsed = parse_answer(a.answer_xml, ["cat", "dog", "bird"])
    assert parsed.label == "dog" and parsed.said_correct is False
    assert parsed.item_key == "item-1"
    page.close()


def test_yes_keeps_the_current_label_and_preview_cannot_submit(browser, sim) -> None:
    platform, hit_id = _publish(sim, ["0", "1", "7"], "7", "digit")
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(sim.preview_url(hit_id))  # type: ignore[attr-defined]
    assert page.locator("#cc-submit").is_disabled()
    assert page.locator("#cc-preview-warning").is_visible()
    page.goto(sim.worker_url(hit_id, "AWORKERBROWSER2"))  # type: ignore[attr-defined]
    page.check("input[name=is_correct][value=yes]")
    assert page.locator("#cc-label-select").is_disabled()
    page.click("#cc-submit")
    page.wait_for_selector("#submitted")
    (a,) = list(platform.iter_assignments(hit_id))
    parsed = parse_answer(a.answer_xml, ["0", "1", "7"])
    assert parsed.label == "7" and parsed.said_correct is True
    assert json.loads(platform.get_hit(hit_id).requester_annotation) == {"k": "item-1"}
    page.close()


def test_no_without_a_label_is_blocked_by_the_form(browser, sim) -> None:
    platform, hit_id = _publish(sim, ["a", "b"], "a", "x")
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(sim.worker_url(hit_id, "AWORKERBROWSER3"))  # type: ignore[attr-defined]
    page.check("input[name=is_correct][value=no]")
    page.click("#cc-submit")  # required select is empty: the browser refuses to submit
    page.wait_for_timeout(300)
    assert page.locator("#submitted").count() == 0
    assert list(platform.iter_assignments(hit_id)) == []
    page.close()
