"""The console script as a user runs it: a real subprocess, a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(tmp_path: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CROWDCLEAN_DATABASE_URL": f"sqlite:///{tmp_path / 'cc.db'}",
        "CROWDCLEAN_DATA_DIR": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=timeout,
        check=False,
    )


def test_import_good_then_bad_file(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("id,label,x,y\na,cat,0.1,0.2\nb,dog,0.3,0.4\n", encoding="utf-8")
    done = run_cli(tmp_path, "dataset", "import", str(good), "--feature-cols", "x,y")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["items"] == 2

    bad = tmp_path / "bad.csv"
    bad.write_text("id,label,x,y\nc,cat,0.1,0.2\nc,dog,0.3,0.4\n", encoding="utf-8")
    failed = run_cli(tmp_path, "dataset", "import", str(bad), "--feature-cols", "x,y")
    assert failed.returncode == 2
    assert "bad.csv, row 2, column 'id': duplicate id 'c'" in " ".join(failed.stderr.split())

    listed = run_cli(tmp_path, "dataset", "list")
    assert listed.returncode == 0
    assert "good" in listed.stdout and "bad" not in listed.stdout


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        done = run_cli(tmp_path, "db", "upgrade")
        assert done.returncode == 0, done.stderr
        assert f"at revision {_head_revision()}" in " ".join(done.stderr.split())


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    from orchestrator.db.migrate import MIGRATIONS_DIR, alembic_config

    cfg = alembic_config("sqlite://")
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


@pytest.mark.slow
def test_demo_cleans_labels(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "demo", "--json", "--workdir", str(tmp_path / "demo"), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["accuracy_after"] > report["accuracy_before"]
    assert float(report["spend_usd"]) <= float(report["budget_usd"])
    assert report["items_inspected"] > 0
    assert Path(report["export"]).is_file()
    # The report says how many labels propagated, and why (or why none did), and whether the
    # model's relabels were exported, on what evidence.
    assert isinstance(report["items_propagated"], int)
    assert report["why_propagated"].startswith("none") == (report["items_propagated"] == 0)
    assert report["model_relabel"].startswith(("on:", "off"))
    assert "bound" in report["model_relabel"]
