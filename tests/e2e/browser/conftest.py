"""Headless Chromium for the browser tests (Debian's ``chromium`` driven by Playwright).

Without Chromium or the ``playwright`` package (the ``browser`` extra) the tests skip with a
message saying how to enable them; with ``CROWDCLEAN_REQUIRE_BROWSER=1`` (set by ``.ci/run``)
they fail instead, so CI can never pass by silently skipping them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CROWDCLEAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CROWDCLEAN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CROWDCLEAN_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str:
    """The Chromium executable, or skip/fail (see module docstring)."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    _unavailable(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A launched headless Chromium (a Playwright ``Browser``), shared by a test module."""
    executable = chromium_path()
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("the playwright package is missing: pip install 'crowdclean[browser]'")
        raise
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
