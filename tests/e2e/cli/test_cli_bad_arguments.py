"""Malformed CLI arguments get a usage error naming the argument, never a traceback."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.e2e.cli.test_cli import run_cli

COMMANDS = [
    ("campaign", "run"),
    ("campaign", "start"),
    ("campaign", "pause"),
    ("campaign", "resume"),
    ("campaign", "status"),
    ("campaign", "cancel", "--yes"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c))
def test_a_bad_campaign_id_is_a_usage_error(tmp_path: Path, command: tuple[str, ...]) -> None:
    done = run_cli(tmp_path, *command, "not-a-uuid")
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "Traceback" not in out
    assert "campaign_id" in out.lower() and "valid UUID" in out


def test_an_unknown_campaign_is_a_clear_error(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "db", "upgrade").returncode == 0
    missing = str(uuid.uuid4())
    for command in (("campaign", "run"), ("campaign", "status"), ("export",)):
        extra = ("--out", str(tmp_path / "x.csv")) if command == ("export",) else ()
        done = run_cli(tmp_path, *command, missing, *extra)
        out = done.stdout + done.stderr
        assert done.returncode != 0 and "Traceback" not in out, out
        assert missing in out or "no campaign" in out, out
