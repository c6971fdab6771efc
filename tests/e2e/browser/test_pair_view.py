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
