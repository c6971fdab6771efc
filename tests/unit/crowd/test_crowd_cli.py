"""``crowdclean campaign estimate`` prints the cost before launch."""

from __future__ import annotations

from typer.testing import CliRunner

from orchestrator.crowd.cli import app


def test_estimate_prints_total_with_fees():
    res = CliRunner().invoke(
        app,
        [
            "estimate",
            "--items",
            "100",
            "--assignments",
            "3",
            "--reward",
            "0.05",
            "--gold-rate",
            "0.1",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "19.80 USD" in res.output and "3.30 USD" in res.output


def test_estimate_refuses_bad_money():
    res = CliRunner().invoke(app, ["estimate", "--items", "10", "--reward", "0.055"])
    assert res.exit_code == 2
    res = CliRunner().invoke(app, ["estimate", "--items", "10", "--assignments", "10"])
    assert res.exit_code == 2
