"""``crowdclean campaign create`` refuses a config that cannot run with a clear error naming
the field (exit 2, no traceback) and creates nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli.test_cli import run_cli

CSV = "id,label,x,y\n" + "".join(f"i{k},{'ab'[k % 2]},{k / 10:.1f},0.5\n" for k in range(10))

CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"model": {"nope": 1}}, "", "model.nope"),
    ({"crowd": {"lifetime_s": "abc"}}, "", "crowd.lifetime_s"),
    ({"crowd": {"typo_key": 1}}, "", "crowd.typo_key"),
    ({"strategy": "'; DROP TABLE campaign; --"}, "", "strategy"),
    ({"seed": -1}, "", "seed"),
    ({"reward_usd": "50"}, "", "reward_usd"),  # 50 × 3 + fee on a $1 budget
    ({}, "abc", "--budget"),
]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    # In-process (typer's runner): an interpreter start-up per case would cost a minute.
    from typer.testing import CliRunner

    from orchestrator.cli import app
    from orchestrator.db.engine import get_engine
    from orchestrator.settings import get_settings

    monkeypatch.setenv("CROWDCLEAN_DATABASE_URL", f"sqlite:///{tmp_path / 'cc.db'}")
    monkeypatch.setenv("CROWDCLEAN_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    get_engine.cache_clear()
    runner = CliRunner()
    (tmp_path / "d.csv").write_text(CSV)
    done = runner.invoke(
        app, ["dataset", "import", str(tmp_path / "d.csv"), "--feature-cols", "x,y"]
    )
    assert done.exit_code == 0, done.output
    yield lambda *args: runner.invoke(app, list(args))
    get_settings.cache_clear()
    get_engine.cache_clear()


def _campaigns(tmp_path: Path) -> int:
    from sqlmodel import Session, select

    from orchestrator.db.engine import get_engine
    from orchestrator.db.models import Campaign

    with Session(get_engine()) as s:
        return len(s.exec(select(Campaign)).all())


@pytest.mark.parametrize(("config", "budget", "field"), CASES, ids=[c[2] for c in CASES])
def test_create_refuses_a_config_that_cannot_run(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, config: dict[str, Any], budget: str, field: str
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = cli(
        "campaign", "create", "--dataset", "d", "--budget", budget or "1", "--config", str(path)
    )
    assert done.exit_code == 2, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    assert "Traceback" not in done.output and "error:" in done.output
    assert field in done.output, done.output
    assert _campaigns(tmp_path) == 0
    ok = cli("campaign", "create", "--dataset", "d", "--budget", "1")
    assert ok.exit_code == 0, ok.output


def test_a_bad_config_through_the_real_command_prints_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text(CSV)
    assert run_cli(tmp_path, "dataset", "import", "d.csv", "--feature-cols", "x,y").returncode == 0
    (tmp_path / "c.json").write_text(json.dumps({"crowd": {"lifetime_s": "abc"}, "seed": -1}))
    done = run_cli(
        tmp_path, "campaign", "create", "--dataset", "d", "--budget", "1", "--config", "c.json"
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "Traceback" not in out
    assert "crowd.lifetime_s" in out and "seed" in out
