"""The benchmark harness end to end on a tiny digits pool (real simulator, boto3, SQLite)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, select

from benchmarks import bench_cells
from benchmarks.aggregation import extra_answer_value
from benchmarks.propagation import region_evidence
from orchestrator.bench.protocol import ROW_KEYS, BenchOptions, Noise, load_split, run_bench

FAST_METHODS = ["original", "random", "verified_only", "oracle"]


@pytest.fixture(scope="module")
def bench_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], BenchOptions]:
    root = tmp_path_factory.mktemp("bench")
    options = BenchOptions(
        rows_dir=root / "bench",
        workdir=root / "work",
        cache_dir=None,
        max_items=200,
        threads=1,
    )
    rows = run_bench(["digits"], [Noise.parse("random:0.2")], [0.05], [0], FAST_METHODS, options)
    return rows, options


def test_rows_have_the_documented_keys_and_sane_values(bench_rows) -> None:
    rows, _ = bench_rows
    assert [r["method"] for r in rows] == FAST_METHODS
    by = {r["method"]: r for r in rows}
    for r in rows:
        assert set(ROW_KEYS) <= set(r)
        assert (r["dataset"], r["noise"], r["budget"], r["seed"]) == (
            "digits",
            "random:0.2",
            0.05,
            0,
        )
        assert 0 <= r["accuracy"] <= 1 and 0 <= r["auc"] <= 1
        assert 0 <= r["downstream_accuracy"] <= 1
        assert r["n_items"] == 200 and r["budget_items"] == 10
        assert r["spend_usd"] <= r["budget_usd"] == 1.80
        assert r["n_gold_given"] == 0
        assert r["seconds"] >= 0
    assert by["original"]["accuracy"] == pytest.approx(0.8) == by["original"]["accuracy_noisy"]
    assert by["original"]["spend_usd"] == 0 and by["original"]["noisy_hit_rate"] is None
    # 10 items × 3 answers × ($0.05 + 20 % fee), read back from the spend ledger
    assert by["random"]["spend_usd"] == pytest.approx(1.80)
    assert by["random"]["n_inspected"] == 10 and by["random"]["n_answers"] == 30
    # the oracle re-checks only wrong labels; the crowd (mean accuracy 0.85) fixes most
    assert by["oracle"]["noisy_hit_rate"] == 1.0
    assert by["oracle"]["accuracy"] > by["original"]["accuracy"]


def test_rows_are_on_disk_and_a_rerun_skips_them(bench_rows) -> None:
    rows, options = bench_rows
    path = options.rows_dir / "digits.jsonl"
    lines = path.read_text().splitlines()
    assert len(lines) == len(FAST_METHODS)
    again = run_bench(["digits"], [Noise.parse("random:0.2")], [0.05], [0], FAST_METHODS, options)
    assert again == rows
    assert path.read_text().splitlines() == lines


def test_the_crowd_database_holds_no_gold_labels(bench_rows) -> None:
    from orchestrator.db.engine import make_engine
    from orchestrator.db.models import Item

    _, options = bench_rows
    dbs = list(Path(options.workdir).glob("*/bench.db"))
    assert dbs
    engine = make_engine(f"sqlite:///{dbs[0]}")
    with Session(engine) as s:
        items = s.exec(select(Item)).all()
    engine.dispose()
    assert len(items) == 200 and all(i.gold_label is None for i in items)


def test_methods_cannot_see_gold_and_cannot_overspend(tmp_path: Path) -> None:
    from orchestrator.bench.crowd import BenchCrowd, CrowdAccess, CrowdBudgetError, without_gold
    from orchestrator.bench.methods import MethodInput
    from orchestrator.bench.shared import SharedWork
    from orchestrator.data.noise import inject_noise

    split = load_split("digits", max_items=200)
    noisy = inject_noise(split.pool, rate=0.2, kind="random", rng=np.random.default_rng(1))
    public = without_gold(noisy)
    with pytest.raises(ValueError, match="gold"):
        SharedWork(noisy, "x", cache_dir=None, seed=0)
    with BenchCrowd(noisy, tmp_path / "cell", seed=1) as crowd:
        access = CrowdAccess(crowd, Decimal("0.36"), "probe")  # pays for 2 items × 3 answers
        shared = SharedWork(public, "x", cache_dir=None, seed=0)
        with pytest.raises(ValueError, match="gold"):
            MethodInput(noisy, access, shared, 2, Decimal("0.36"), 0)
        inp = MethodInput(public, access, shared, 2, Decimal("0.36"), 0)
        assert not hasattr(inp, "gold") and (inp.data.gold == -1).all()
        assert access.affordable_items() == 2
        with pytest.raises(CrowdBudgetError):
            access.label(np.array([0, 1, 2]))
        assert access.spent_usd == 0  # refused before any HIT was created
        purchase = access.label(np.array([5, 7]))
        assert access.spent_usd == Decimal("0.36") and len(purchase.answers) == 6
        assert set(purchase.rows) == {5, 7}
        with pytest.raises(CrowdBudgetError):
            access.label(np.array([9]))
        stats = crowd.sim.stats()
        # the platform's own books agree with the ledger: 6 approved answers, paid once
        assert stats["double_paid_assignments"] == 0 and stats["duplicate_tokens"] == 0
        assert Decimal(stats["paid_usd"]) == Decimal("0.36")


def test_bench_cli_prints_json_rows(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from orchestrator.cli import _mount_optional, app

    _mount_optional()
    args = [
        "bench", "--dataset", "digits", "--noise", "random:0.2", "--budget", "0.05",
        "--seeds", "0", "--methods", "original", "--max-items", "200", "--json",
        "--out-dir", str(tmp_path / "benchmarks"), "--workdir", str(tmp_path / "work"),
        "--no-report",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["method"] for r in rows] == ["original"]
    assert rows[0]["command"].startswith("crowdclean bench --dataset digits")
    bad = CliRunner().invoke(app, [*args[:3], "--noise", "gaussian:0.2", *args[5:]])
    assert bad.exit_code == 2 and "gaussian" in bad.output


def test_crowdclean_campaign_row_spends_every_item_on_targeted_rounds_with_evidence(
    tmp_path: Path,
) -> None:
    # A real campaign through the harness: 400 digits, 5 % budget = 20 items × 3 answers.
    options = BenchOptions(
        rows_dir=tmp_path / "bench", workdir=tmp_path / "work", max_items=400, threads=1, rounds=2
    )
    rows = run_bench(["digits"], [Noise.parse("random:0.2")], [0.05], [0], ["crowdclean"], options)
    (row,) = rows
    assert row["method"] == "crowdclean" and row["n_gold_given"] == 0
    assert 0 < row["spend_usd"] <= row["budget_usd"] == 3.60
    rounds = row["extra"]["rounds"]
    # No random validation round: round 0 is skipped, both model rounds pick targeted items
    # and draw an evidence slice with known probabilities.
    assert rounds[0]["n"] in (0, None) and len(rounds) == 3
    for r in rounds[1:]:
        assert r["strategy"] != "stratified_random" and r["n"] > 0
        assert r["picks"]["evidence"] >= 2 and sum(r["picks"].values()) == r["n"]
        assert r["relabel_evidence"]["n_evidence"] > 0
    # Extra answers come from the 5 % reserve only ($0.18 = 3 answers at $0.06), so they do
    # not starve the last round of its first answers.
    assert row["n_answers"] - 3 * row["n_inspected"] <= 3
    # Every inspectable item (19 after the 5 % reserve) gets its first answers: 10 + 9.
    assert row["n_inspected"] == 19 == sum(r["n"] for r in rounds[1:])
    # The first model round records the crowd-free β search on held-out delivered labels.
    assert rounds[1]["beta_search"] and rounds[1]["beta"] is not None
    # Bench rows report what propagation and the model's relabelling did, and their precision.
    assert "n_propagated" in row["extra"] and "precision_model" in row["extra"]
    assert row["accuracy"] > row["accuracy_noisy"]
    # The diagnostics that score a campaign against gold read the same cell folder back: the
    # extra answers they count are the row's, every verified item is an inspected one, and
    # each checked region's counts fit inside it.
    (campaign,) = [
        {"cell": c.name, **extra_answer_value.campaign_row(c, cid)}
        for c in bench_cells.cells([tmp_path / "work"])
        for cid, _ in c.crowdclean_campaigns()
    ]
    assert campaign["n_verified"] == row["n_inspected"]
    assert campaign["n_extra_answers"] == row["n_answers"] - 3 * row["n_inspected"]
    assert campaign["final_wrong"] <= campaign["n_items_asked_again"]
    out = tmp_path / "regions.jsonl"
    region_evidence.main(["--workdir", str(tmp_path / "work"), "--out", str(out)])
    for region in map(json.loads, out.read_text().splitlines()):
        assert 0 < region["n_checks"] <= region["n_members"]
        assert region["n_relabelled_right"] <= region["n_relabelled"] <= region["n_members"]
        assert region["acted"] == (region["n_relabelled"] > 0)


def test_a_methods_answers_do_not_depend_on_the_methods_before_it(tmp_path: Path) -> None:
    # Two cells with the same seed: in one, another method buys answers first. The probe
    # method's k-th HIT must get the same workers and labels in both (its own answer stream);
    # with draws keyed by the simulator's global HIT number it did not, and a benchmark row
    # moved with the method list (crowdclean digits structural seed 0: 0.864 vs 0.810).
    from orchestrator.bench.crowd import BenchCrowd, CrowdAccess
    from orchestrator.data.noise import inject_noise

    split = load_split("digits", max_items=200)
    noisy = inject_noise(split.pool, rate=0.2, kind="random", rng=np.random.default_rng(1))
    rows = np.array([3, 11, 40, 77])

    def probe(cell: str, before: np.ndarray | None) -> list[tuple[int, str, int]]:
        with BenchCrowd(noisy, tmp_path / cell, seed=4) as crowd:
            if before is not None:
                CrowdAccess(crowd, Decimal("10"), "earlier").label(before)
            got = CrowdAccess(crowd, Decimal("10"), "probe").label(rows).answers
        return sorted(zip(got["row"], got["worker"], got["label"], strict=True))

    alone = probe("alone", None)
    after = probe("after", np.arange(100, 130))
    assert len(alone) == 3 * len(rows)
    assert alone == after
