"""``crowdclean apikey`` and ``crowdclean serve`` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CROWDCLEAN_DATABASE_URL": f"sqlite:///{tmp_path / 'cc.db'}",
        "CROWDCLEAN_DATA_DIR": str(tmp_path / "data"),
        "CROWDCLEAN_MTURK__ENDPOINT_URL": "http://127.0.0.1:9",
        "OMP_NUM_THREADS": "1",
    }


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_apikey_create_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process (typer's runner): seven interpreter start-ups would cost a minute on 2 cores.
    from typer.testing import CliRunner

    from orchestrator.cli import _mount_optional, app
    from orchestrator.db.engine import get_engine
    from orchestrator.settings import get_settings

    for name, value in _env(tmp_path).items():
        if name.startswith("CROWDCLEAN_"):
            monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_engine.cache_clear()
    _mount_optional()
    runner = CliRunner()

    def cli(_tmp: Path, *args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args))

    made = cli(tmp_path, "apikey", "create", "--requester", "alice")
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("cc_") and len(key) == 3 + 12 + 1 + 43
    assert "cannot be shown again" in made.stderr
    op = cli(tmp_path, "apikey", "create", "--requester", "ops", "--operator")
    assert op.exit_code == 0

    listed = [json.loads(line) for line in cli(tmp_path, "apikey", "list").stdout.splitlines()]
    assert {(k["requester"], k["role"]) for k in listed} == {
        ("alice", "requester"),
        ("ops", "operator"),
    }
    assert key not in json.dumps(listed)
    prefix = key.split("_")[1]
    revoked = cli(tmp_path, "apikey", "revoke", prefix)
    assert revoked.exit_code == 0 and json.loads(revoked.stdout)["prefix"] == prefix
    listed = [
        json.loads(x)
        for x in cli(tmp_path, "apikey", "list", "--requester", "alice").stdout.splitlines()
    ]
    assert listed[0]["revoked_at"] is not None

    bad = cli(tmp_path, "apikey", "create", "--requester", "no spaces please")
    assert bad.exit_code == 2 and "requester name 'no spaces please'" in bad.stderr
    missing = cli(tmp_path, "apikey", "revoke", "ffffffffffff")
    assert missing.exit_code == 2 and "no API key" in missing.stderr
    both = cli(tmp_path, "serve", "--workers", "2", "--with-scheduler")
    assert both.exit_code == 2 and "run `crowdclean scheduler` as its own process" in both.stderr
    get_settings.cache_clear()
    get_engine.cache_clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_on_loopback(tmp_path: Path) -> None:
    """``serve --with-scheduler``: the API and the in-process scheduler, stopped by SIGTERM."""
    key = cli(tmp_path, "apikey", "create", "--requester", "alice").stdout.strip()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "serve", "--port", str(port), "--with-scheduler"],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "serve did not answer within 60 s"
            time.sleep(0.2)
        who = httpx.get(f"{base}/v1/whoami", headers={"Authorization": f"Bearer {key}"})
        assert who.json() == {"requester": "alice", "role": "requester"}
        assert httpx.get(f"{base}/v1/campaigns").status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    # uvicorn re-raises the SIGTERM it handled once shut down cleanly
    assert proc.returncode in (0, -15), out
    assert "Application shutdown complete" in out
