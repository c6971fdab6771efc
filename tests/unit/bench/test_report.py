"""The benchmark report: verdicts, mean ± std over seeds, missing cells, plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.bench.report import missing_cells, summarise, verdicts, write_report


def _row(method: str, seed: int, acc: float, noise: str = "random:0.2") -> dict:
    return {
        "dataset": "digits",
        "noise": noise,
        "budget": 0.028,
        "method": method,
        "seed": seed,
        "accuracy": acc,
        "auc": acc,
        "noisy_hit_rate": 0.5,
        "spend_usd": 7.2,
        "seconds": 1.0,
        "downstream_accuracy": 0.9,
        "accuracy_noisy": 0.8,
        "n_inspected": 40,
        "budget_usd": 7.2,
        "n_items": 1438,
        "max_items": None,
        "command": "crowdclean bench --dataset digits",
    }


def _write(tmp_path: Path, rows: list[dict]) -> Path:
    rows_dir = tmp_path / "bench"
    rows_dir.mkdir()
    (rows_dir / "digits.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows_dir


def test_verdict_compares_crowdclean_mean_with_every_baseline_but_not_oracle_or_ablations() -> None:
    rows = [_row("crowdclean", s, a) for s, a in enumerate([0.90, 0.92, 0.94])]
    rows += [_row("dpm", s, 0.91) for s in range(3)]  # mean 0.91 < 0.92
    rows += [_row("oracle", s, 0.99) for s in range(3)]  # a ceiling, not a baseline
    rows += [_row("crowdclean_argmax", s, 0.99) for s in range(3)]  # an ablation
    rows += [_row("crowdclean", s, 0.80, "structural:0.2") for s in range(3)]
    rows += [_row("uncertainty", s, 0.85, "structural:0.2") for s in range(3)]
    summary = summarise(rows)
    assert summary[("digits", "random:0.2", 0.028, "crowdclean")]["accuracy"][0] == pytest.approx(
        0.92
    )
    by_noise = {v["noise"]: v for v in verdicts(summary)}
    assert by_noise["random:0.2"]["beaten_by"] == []
    assert by_noise["structural:0.2"]["beaten_by"] == ["uncertainty"]


def test_report_lists_missing_protocol_cells_with_their_commands(tmp_path: Path) -> None:
    rows = [_row("crowdclean", 0, 0.9)]
    lines = missing_cells(rows)
    assert any(
        "digits, random:0.2, 2.8 % (0/3" in line
        and "`crowdclean bench --dataset digits --noise random:0.2 --budget 0.028" in line
        for line in lines
    )
    path = write_report(_write(tmp_path, rows), tmp_path / "results", plots=False)
    text = path.read_text()
    assert "crowdclean bench --dataset digits" in text and "not yet run" in text


def test_a_cell_counts_as_run_without_the_c1_ablation() -> None:
    from orchestrator.bench.report import PROTOCOL_METHODS

    cell = ("digits", "random:0.2", 0.01)
    rows = [
        {**_row(m, s, 0.9), "budget": cell[2]}
        for m in PROTOCOL_METHODS
        if m != "crowdclean_c1"
        for s in range(3)
    ]
    assert not any("digits, random:0.2, 1 %" in line for line in missing_cells(rows))
    # Without one required method the cell is still missing.
    rows = [r for r in rows if r["method"] != "uncertainty"]
    assert any("digits, random:0.2, 1 % (0/3" in line for line in missing_cells(rows))


def test_report_writes_a_png_per_dataset_and_noise(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rows = [_row(m, s, 0.9) for m in ("crowdclean", "dpm") for s in range(3)]
    path = write_report(_write(tmp_path, rows), tmp_path / "results")
    png = tmp_path / "results" / "bench-digits-random-0.2.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "bench-digits-random-0.2.png" in path.read_text()


def test_verdict_compares_on_the_seeds_both_sides_ran() -> None:
    # crowdclean ran seeds 0-1 only; the baseline's seed 2 (a lucky 0.99) must not count.
    rows = [_row("crowdclean", s, 0.93) for s in (0, 1)]
    rows += [_row("uncertainty", s, a) for s, a in ((0, 0.92), (1, 0.92), (2, 0.99))]
    (v,) = verdicts(summarise(rows))
    assert v["beaten_by"] == [] and v["seeds"] == 2
    assert v["best_accuracy"] == pytest.approx(0.92) and v["margin"] == pytest.approx(0.01)


def test_report_has_a_verdict_table_per_budget(tmp_path: Path) -> None:
    rows = [
        {**_row(m, s, a), "budget": b}
        for b in (0.01, 0.028)
        for m, a in (("crowdclean", 0.9), ("dpm", 0.91))
        for s in range(3)
    ]
    text = write_report(_write(tmp_path, rows), tmp_path / "results", plots=False).read_text()
    assert "## Verdict at 2.8 %" in text and "## Verdict at 1 %" in text
    assert text.index("## Verdict at 2.8 %") < text.index("## Verdict at 1 %")
    assert "below: dpm" in text and "-0.0100" in text


def test_a_file_of_other_rows_in_the_rows_dir_is_refused_with_its_place(tmp_path: Path) -> None:
    from orchestrator.bench.protocol import read_rows

    rows_dir = _write(tmp_path, [_row("dpm", 0, 0.9)])
    (rows_dir / "notes.jsonl").write_text('{"dataset": "digits", "beta": 0.1}\n')
    with pytest.raises(ValueError, match=r"notes\.jsonl:1: not a benchmark row .*budget"):
        read_rows(rows_dir)
