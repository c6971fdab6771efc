"""CINCER's pair HIT in headless Chromium: the worker says which label is wrong, corrects it,
submits; the assignment's answer parses back to both items.

Needs Chromium and the ``playwright`` package (see ``conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.crowd.pair_task import PairView, parse_pair_answer, render_pair
from orchestrator.crowd.platform import HitRequest, HitTypeSpec
from orchestrator.crowd.render import ItemView, TaskRenderer, grayscale_png_data_uri

pytestmark = pytest.mark.browser

OPTIONS = ["0", "1", "7"]
HOSTILE = "<script>window.__pwned = 1</script> ]]> a seven"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[object]:
    from orchestrator.simulator import SimulatorConfig, run_simulator

    cfg = SimulatorConfig(state_path=tmp_path / "sim.sqlite", simulate_workers=False)
    with run_simulator(cfg) as running:
        yield running


def test_worker_marks_the_first_label_wrong_in_a_pair(browser, sim) -> None:
    platform = MTurkPlatform.connect(
        sim.endpoint_url,  # type: ignore[attr-defined]
        aws_access_key_id="AKID",
        aws_secret_access_key="s",
    )
    type_id = platform.create_hit_type(
        HitTypeSpec(title="Pair", description="Which label is wrong?", reward_usd=Decimal("0.05"))
    )
    seven = [[1.0 if (r == 0 or c == 7 - r) else 0.0 for c in range(8)] for r in range(8)]
    pair = PairView(
        first=ItemView(key="item-1", current_label="1", options=OPTIONS, text=HOSTILE),
        second=ItemView(
            key="item-2",
            current_label="7",
            options=OPTIONS,
            image_src=grayscale_png_data_uri(seven, scale=8),
        ),
    )
    question = render_pair(TaskRenderer(), pair)
    hit_id = platform.create_hit(HitRequest(type_id, question, 1, 3600, "tok-pair", '{"k":"p"}'))
    page = browser.new_page()
    page.goto(sim.worker_url(hit_id, "AWORKERPAIR1"))  # type: ignore[attr-defined]
    assert page.locator("#cc-first-text").inner_text() == HOSTILE
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("#cc-second-image").count() == 1
    assert page.locator("#cc-first-current-label").inner_text() == "1"
    # Both corrections are disabled until the worker says which label is wrong.
    assert page.locator("#cc-first-label-select").is_disabled()
    page.check("input[name=wrong][value=first]")
    assert page.locator("#cc-first-label-select").is_enabled()
    assert page.locator("#cc-second-label-select").is_disabled()
    page.select_option("#cc-first-label-select", "7")
    page.click("#cc-submit")
    page.wait_for_selector("#submitted")

    (a,) = list(platform.iter_assignments(hit_id))
    parsed = parse_pair_answer(a.answer_xml, OPTIONS)
    assert parsed.problem is None and parsed.wrong == "first"
    assert (parsed.first_key, parsed.first_label) == ("item-1", "7")
    assert (parsed.second_key, parsed.second_label) == ("item-2", "7")
    page.close()


def test_a_campaign_pair_hit_answered_in_chromium_labels_both_items(
    browser, sim, sqlite_engine, tmp_path
) -> None:
    """The campaign's own publish path (the scheduler's platform stage) puts a pair on the
    simulator; a worker marks the first label wrong and picks the right one; the campaign reads
    the assignment back (ListAssignmentsForHIT) as one answer per item and pays it once."""
    from sqlmodel import Session, select

    from orchestrator.crowd.ledger import campaign_spend
    from orchestrator.db.models import Campaign, Dataset, Hit, Item, Round
    from orchestrator.scheduler.platform_stage import PlatformStage
    from tests.factories.tiny_campaign import make_tiny_campaign

    c = make_tiny_campaign(
        sqlite_engine, tmp_path, strategy="counter_example", assignments_per_item=1
    )
    with Session(sqlite_engine, expire_on_commit=False) as s:
        camp = s.get(Campaign, c.campaign_id)
        assert camp is not None
        classes = list(s.get(Dataset, camp.dataset_id).classes)  # type: ignore[union-attr]
        items = s.exec(select(Item).where(Item.dataset_id == camp.dataset_id)).all()
        rnd = Round(campaign_id=c.campaign_id, number=1, strategy="counter_example")
        s.add(rnd)
        s.commit()
        s.refresh(rnd)
    # a pair CINCER would show: one delivered label wrong, the other right
    wrong = next(i for i in items if i.noisy_label != c.oracle[i.external_id])
    right = next(i for i in items if i.noisy_label == c.oracle[i.external_id])
    truth = c.oracle[wrong.external_id]
    platform = MTurkPlatform.connect(
        sim.endpoint_url,  # type: ignore[attr-defined]
        aws_access_key_id="AKID",
        aws_secret_access_key="s",
    )
    stage = PlatformStage(sqlite_engine, platform)
    assert stage.publish(c.campaign_id, rnd.id, [(wrong.id, right.id)]) == 1
    with Session(sqlite_engine) as s:
        (hit,) = s.exec(select(Hit).where(Hit.campaign_id == c.campaign_id)).all()
    assert hit.item_id == wrong.id and hit.pair_item_id == right.id and hit.hit_id

    page = browser.new_page()
    page.goto(sim.worker_url(hit.hit_id, "AWORKERPAIRCAMP1"))  # type: ignore[attr-defined]
    for side in ("first", "second"):  # both digits are drawn, each with its delivered label
        page.wait_for_function(
            f"() => {{ const i = document.getElementById('cc-{side}-image');"
            " return i.complete && i.naturalWidth > 0; }"
        )
    assert page.locator("#cc-first-current-label").inner_text() == wrong.noisy_label
    assert page.locator("#cc-second-current-label").inner_text() == right.noisy_label
    page.check("input[name=wrong][value=first]")
    page.select_option("#cc-first-label-select", truth)
    page.click("#cc-submit")
    page.wait_for_selector("#submitted")
    page.close()

    (a,) = list(platform.iter_assignments(hit.hit_id))  # ListAssignmentsForHIT
    parsed = parse_pair_answer(a.answer_xml, classes)
    assert (parsed.first_label, parsed.second_label) == (truth, right.noisy_label)
    assert stage.poll(c.campaign_id, rnd.id).new_answers == 2
    labels = {ans.item_id: ans.label for ans in stage.answers(c.campaign_id)}
    assert labels == {wrong.id: truth, right.id: right.noisy_label}
    stage.settle(c.campaign_id)
    spend = campaign_spend(sqlite_engine, c.campaign_id)
    assert spend.rewards_usd == 2 * camp.reward_usd  # one assignment, two items' reward
