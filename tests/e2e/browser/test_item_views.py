"""The worker view of an image, a tabular and a long non-Latin text item in headless Chromium.

The image lives in a bucket on the loopback S3-compatible server and is shown through a
presigned URL (development setting: loopback http); the screenshots must show a non-blank image
area, the table and the text, and each submit must come back through ListAssignmentsForHIT.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator.crowd.answers import parse_answer
from orchestrator.crowd.config import CrowdConfig
from orchestrator.crowd.image_links import PresignedS3Links, image_link_lifetime_s
from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.crowd.platform import HitRequest, HitTypeSpec
from orchestrator.crowd.render import ItemView, TaskRenderer
from orchestrator.storage.presign_client import presigning_s3_client
from tests.factories.image_server import png_bytes
from tests.factories.s3_server import S3Bucket

pytestmark = pytest.mark.browser

ARABIC = (
    "هذا الفيلم رائع حقا، والتمثيل ممتاز والقصة مؤثرة. " * 60
    + "\n<script>window.__pwned = 1</script> نهاية"
)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Any]:
    from orchestrator.simulator import SimulatorConfig, run_simulator

    cfg = SimulatorConfig(state_path=tmp_path / "sim.sqlite", simulate_workers=False)
    with run_simulator(cfg) as running:
        yield running


def _publish(sim: Any, view: ItemView, token: str) -> tuple[MTurkPlatform, str]:
    platform = MTurkPlatform.connect(
        sim.endpoint_url, aws_access_key_id="AKID", aws_secret_access_key="s"
    )
    type_id = platform.create_hit_type(
        HitTypeSpec(title="Verify", description="Verify a label", reward_usd=Decimal("0.05"))
    )
    question = TaskRenderer(allow_loopback_http=True).render_item(view)
    hit_id = platform.create_hit(HitRequest(type_id, question, 1, 3600, token, '{"k":"x"}'))
    return platform, hit_id


def _ink(png: bytes) -> tuple[float, float]:
    """(share of dark pixels, grey standard deviation) of a screenshot."""
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float((grey < 128).mean()), float(grey.std())


def _submit_and_read_back(
    page: Any, platform: MTurkPlatform, hit_id: str, options: list[str], label: str | None
) -> Any:
    if label is None:
        page.check("input[name=is_correct][value=yes]")
    else:
        page.check("input[name=is_correct][value=no]")
        page.select_option("#cc-label-select", label)
    page.click("#cc-submit")
    page.wait_for_selector("#submitted")
    (a,) = list(platform.iter_assignments(hit_id))  # ListAssignmentsForHIT
    return parse_answer(a.answer_xml, options)


def test_image_item_presigned_from_the_s3_server(
    browser: Any, sim: Any, s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROWDCLEAN_IMAGES__ALLOW_LOOPBACK_HTTP", "1")
    s3_bucket.client().put_object(
        Bucket=s3_bucket.name,
        Key="images/cat.png",
        Body=png_bytes(20, size=300, pattern="disc"),
        ContentType="image/png",
    )
    url = PresignedS3Links(presigning_s3_client()).url_for(
        f"s3://{s3_bucket.name}/images/cat.png", valid_for_s=image_link_lifetime_s(CrowdConfig())
    )
    assert "X-Amz-Signature=" in url
    view = ItemView(key="img-1", current_label="cat", options=["cat", "dog"], image_src=url)
    platform, hit_id = _publish(sim, view, "tok-image")
    page = browser.new_page(viewport={"width": 900, "height": 1200})
    page.goto(sim.worker_url(hit_id, "AWORKERIMAGE1"))
    page.wait_for_function(
        "() => { const i = document.getElementById('cc-item-image');"
        " return i.complete && i.naturalWidth === 300; }"
    )
    shot = page.locator("#cc-item-image").screenshot()
    dark, spread = _ink(shot)
    assert dark > 0.2 and spread > 40, (dark, spread)  # the disc is drawn, not a blank box
    page.screenshot(path=str(tmp_path / "image-item.png"), full_page=True)
    parsed = _submit_and_read_back(page, platform, hit_id, ["cat", "dog"], "dog")
    assert parsed.label == "dog" and parsed.item_key == "img-1"
    page.close()


def test_tabular_item_shows_its_named_values(browser: Any, sim: Any, tmp_path: Path) -> None:
    fields = [("island", "Biscoe"), ("bill_length_mm", "47.5"), ("body_mass_g", "5200")]
    fields.append(("note", "<b>not bold</b>"))
    view = ItemView(
        key="tab-1",
        current_label="Adelie",
        options=["Adelie", "Chinstrap", "Gentoo"],
        fields=fields,
    )
    platform, hit_id = _publish(sim, view, "tok-table")
    page = browser.new_page(viewport={"width": 900, "height": 1200})
    page.goto(sim.worker_url(hit_id, "AWORKERTABLE1"))
    table = page.locator("#cc-item-fields")
    assert table.is_visible()
    rows = table.locator("tr")
    assert rows.count() == 4
    assert rows.nth(1).locator("th").inner_text() == "bill_length_mm"
    assert rows.nth(1).locator("td").inner_text() == "47.5"
    assert rows.nth(3).locator("td").inner_text() == "<b>not bold</b>"  # markup stays text
    assert table.locator("b").count() == 0
    dark, spread = _ink(table.screenshot())
    assert dark > 0.005 and spread > 10, (dark, spread)  # text and borders drawn
    page.screenshot(path=str(tmp_path / "table-item.png"), full_page=True)
    parsed = _submit_and_read_back(page, platform, hit_id, ["Adelie", "Chinstrap", "Gentoo"], None)
    assert parsed.said_correct is True and parsed.label == "Adelie"
    page.close()


def test_long_arabic_text_reads_right_to_left_and_scrolls(
    browser: Any, sim: Any, tmp_path: Path
) -> None:
    view = ItemView(
        key="txt-1", current_label="positive", options=["negative", "positive"], text=ARABIC
    )
    platform, hit_id = _publish(sim, view, "tok-text")
    page = browser.new_page(viewport={"width": 900, "height": 1200})
    page.goto(sim.worker_url(hit_id, "AWORKERTEXT1"))
    box = page.locator("#cc-item-text")
    assert box.inner_text() == ARABIC
    assert page.evaluate("window.__pwned === undefined")
    assert box.evaluate("e => getComputedStyle(e).direction") == "rtl"  # dir="auto" resolved
    assert box.evaluate("e => e.scrollHeight > e.clientHeight + 100")  # long text scrolls
    assert box.evaluate("e => e.getBoundingClientRect().height") < 500
    # the form stays in reach below the box
    assert page.locator("#cc-submit").bounding_box()["y"] < 1200
    dark, spread = _ink(box.screenshot())
    assert dark > 0.01 and spread > 10, (dark, spread)
    page.screenshot(path=str(tmp_path / "text-item.png"), full_page=True)
    parsed = _submit_and_read_back(page, platform, hit_id, ["negative", "positive"], "negative")
    assert parsed.label == "negative" and parsed.said_correct is False
    page.close()
