"""``crowdclean scheduler``: refuses an unmigrated database; ``--once`` ticks and prints JSON.

Run in-process through typer's runner (the subprocess path of the same command is exercised by
tests/integration/scheduler, which start it as ``python -m orchestrator scheduler``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    from orchestrator.settings import get_settings

    monkeypatch.setenv("CROWDCLEAN_DATABASE_URL", f"sqlite:///{tmp_path / 'cc.db'}")
    monkeypatch.setenv("CROWDCLEAN_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_scheduler_needs_a_migrated_database_then_ticks_once(
    cli: CliRunner, tmp_path: Path
) -> None:
    from orchestrator.cli import _mount_optional, app
    from orchestrator.db.engine import make_engine
    from orchestrator.db.migrate import upgrade

    _mount_optional()
    refused = cli.invoke(app, ["scheduler", "--once"])
    assert refused.exit_code == 2
    message = " ".join(refused.output.split())
    assert "is at revision None" in message and "crowdclean db upgrade" in message

    engine = make_engine(f"sqlite:///{tmp_path / 'cc.db'}")
    upgrade(engine)
    engine.dispose()
    done = cli.invoke(app, ["scheduler", "--once", "--interval", "0.5"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["steps"] == 0 and report["campaigns"] == []
