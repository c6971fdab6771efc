"""The campaign dashboard in headless Chromium: sign in with an API key, see progress, spend,
the latent space coloured by label source and the accuracy per round; take a screenshot.

The API runs under uvicorn on a free loopback port in a thread; the campaign's state is
written by the synthetic builder of the API tests (same rows and artifacts a run writes).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories.stored_campaign import build_campaign

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(sqlite_engine: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    import uvicorn

    from orchestrator.api import create_app
    from orchestrator.api.keys import create_api_key
    from orchestrator.settings import Settings

    sc = build_campaign(sqlite_engine, tmp_path / "data", n_items=3000, n_propagated=400, seed=21)
    _, key = create_api_key(sqlite_engine, "alice")
    settings = Settings(data_dir=tmp_path / "data", database_url=str(sqlite_engine.url))
    app = create_app(settings, engine=sqlite_engine)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield {"base": f"http://127.0.0.1:{port}", "campaign": sc, "key": key}
    server.should_exit = True
    thread.join(timeout=10)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # IHDR follows the signature
    return width, height


def test_dashboard_after_sign_in(browser: Any, served: dict[str, Any], tmp_path: Path) -> None:
    sc = served["campaign"]
    url = f"{served['base']}/v1/campaigns/{sc.campaign_id}/dashboard"
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    try:
        page.goto(url)
        assert "/v1/login" in page.url  # no credentials: sent to the sign-in form
        page.fill("#key", "cc_000000000000_" + "x" * 43)
        page.click("#login")
        assert "not valid" in page.locator("#login-error").inner_text()
        page.fill("#key", served["key"])
        page.click("#login")
        page.wait_for_selector("svg#latent")
        assert page.url == url

        assert page.locator("#state").inner_text() == "running"
        assert page.locator("#verified").inner_text() == str(len(sc.verified))
        assert page.locator("#propagated").inner_text() == str(len(sc.propagated))
        assert page.locator("#spent").inner_text().startswith("$")
        assert "%" in page.locator("#accuracy").inner_text()
        rounds = page.locator("#rounds tr").all_inner_texts()
        assert len(rounds) == 3 and "70.0 %" in rounds[1] and "80.0 %" in rounds[2]

        n_points = page.locator("svg#latent circle").count()
        assert 1000 <= n_points <= 5000
        colours = page.eval_on_selector_all(
            "svg#latent circle", "els => [...new Set(els.map(e => e.getAttribute('fill')))]"
        )
        sources = page.eval_on_selector_all(
            "svg#latent circle", "els => [...new Set(els.map(e => e.dataset.source))]"
        )
        assert len(colours) >= 2, colours
        assert {"crowd", "original"} <= set(sources), sources
        box = page.locator("svg#latent").bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 200

        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        data = shot.read_bytes()
        width, height = _png_size(data)
        assert width >= 1000 and height >= 1000, (width, height)
        assert len(data) > 30_000, len(data)  # a blank page compresses to a few kB

        # the cookie works for the exports linked from the page, never in the URL
        assert served["key"] not in page.url
        csv_text = page.evaluate(
            "url => fetch(url).then(r => r.text())",
            f"{served['base']}/v1/campaigns/{sc.campaign_id}/export?format=csv",
        )
        assert csv_text.startswith("item_id,") and csv_text.count("\n") == sc.n_items + 1
    finally:
        page.close()
