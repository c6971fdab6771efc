"""``crowdclean clean``: crowd-free cleaning of a file or a stored dataset, as a user runs it.

In-process (typer's runner) with a real SQLite file: an interpreter start-up with torch costs
several seconds a command on 2 cores.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner, Result

from orchestrator.data.builtin import load_builtin
from orchestrator.data.noise import inject_noise
from orchestrator.export import EXPORT_COLUMNS

Cli = Callable[..., Result]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    from orchestrator.cli import _mount_optional, app
    from orchestrator.db.engine import get_engine
    from orchestrator.settings import get_settings

    monkeypatch.setenv("CROWDCLEAN_DATABASE_URL", f"sqlite:///{tmp_path / 'cc.db'}")
    monkeypatch.setenv("CROWDCLEAN_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    get_engine.cache_clear()
    _mount_optional()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, [str(a) for a in args])
    get_settings.cache_clear()
    get_engine.cache_clear()


def _model_file(tmp_path: Path, **fields: object) -> Path:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(fields), encoding="utf-8")
    return path


def test_clean_a_file_writes_p_label_wrong(cli: Cli, tmp_path: Path) -> None:
    data = inject_noise(load_builtin("digits"), rate=0.2, rng=np.random.default_rng(1))
    flipped = data.noisy_labels != data.gold
    src = tmp_path / "digits.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "digit", *(f"px{j}" for j in range(64))])
        for i in range(data.n_items):
            w.writerow([f"d{i}", int(data.noisy_labels[i]), *data.features[i].tolist()])
    out = tmp_path / "clean.csv"
    done = cli(
        "clean",
        src,
        "--out",
        out,
        "--label-col",
        "digit",
        "--feature-cols",
        ",".join(f"px{j}" for j in range(64)),
        "--model-config",
        _model_file(tmp_path, epochs=30, beta=0.1),
    )
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["rows"] == data.n_items and summary["path"] == str(out)
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert [r["item_id"] for r in rows] == [f"d{i}" for i in range(data.n_items)]
    assert {r["schema_version"] for r in rows} == {"2"}
    p_wrong = np.array([float(r["p_label_wrong"]) for r in rows])
    assert ((p_wrong >= 0) & (p_wrong <= 1)).all()
    assert roc_auc_score(flipped, p_wrong) > 0.97  # measured 0.995
    changed = [r["cleaned_label"] != r["original_label"] for r in rows]
    assert summary["label_issues"] == sum(changed)
    assert [r["source"] for r in rows] == ["model" if c else "original" for c in changed]
    assert all(r["n_workers"] == "0" and r["vote_counts"] == "{}" for r in rows)
    cleaned = np.array([int(r["cleaned_label"]) for r in rows])
    assert (cleaned == data.gold).mean() > data.label_accuracy() + 0.12
    assert not (tmp_path / "data" / "datasets").exists()  # a file is cleaned, never stored


def test_clean_a_stored_dataset_and_clear_errors(cli: Cli, tmp_path: Path) -> None:
    made = cli("dataset", "builtin", "digits", "--noise", "0.2", "--name", "noisy")
    assert made.exit_code == 0, made.output
    out = tmp_path / "clean.parquet"
    model = _model_file(tmp_path, epochs=5, beta=0.1)
    done = cli("clean", "noisy", "--out", out, "--model-config", model, "--seed", "2")
    assert done.exit_code == 0, done.output
    table = pq.read_table(out)
    assert tuple(table.column_names) == EXPORT_COLUMNS and table.num_rows == 1797
    assert table.column("p_label_wrong").null_count == 0
    assert table.column("item_id").to_pylist()[:2] == ["digits-0000", "digits-0001"]

    for args, message in [
        (("missing.csv", "--out", out), "missing.csv: no such file, and no stored dataset"),
        (("nothing-by-this-name", "--out", out), "no such dataset"),
        (("noisy", "--out", tmp_path / "x.xlsx"), "cannot tell the export format"),
        (("noisy", "--out", out, "--model-config", _model_file(tmp_path, epochz=1)), "epochz"),
        (("noisy", "--out", out, "--kind", "images"), "images"),
    ]:
        failed = cli("clean", *args)
        text = " ".join(failed.output.split())
        assert failed.exit_code == 2, text
        assert message in text, text
        assert "Traceback" not in text
