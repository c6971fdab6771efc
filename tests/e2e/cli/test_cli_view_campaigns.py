"""Two campaigns run end to end through the console script against the simulator: one on a
CSV of image URLs (served by a real HTTP server on loopback, development setting on), one on a
tabular CSV with named columns. The HITs the simulator holds show workers the real item.

The CLI runs as subprocesses (``python -m orchestrator``: import, campaign create/start/run,
export); the simulator and the image server run in the test process on loopback ports.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.crowd.mturk import MTurkPlatform
from tests.factories.image_server import serve_images

REPO = Path(__file__).resolve().parents[3]
CONFIG = {
    "rounds": 1,
    "seed": 0,
    "poll_interval_s": 0.05,
    "crowd": {"gold_rate": 0.0},
    "model": {"beta_grid": [0.1], "search_epochs": 5, "epochs": 30, "latent_dim": 4},
}


def _cli(env: dict[str, str], cwd: Path, *args: str, timeout: int = 300) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{args}: {done.stderr[-3000:]}"
    return done.stdout


@contextmanager
def simulator(tmp_path: Path, oracle: dict[str, str]) -> Iterator[tuple[dict[str, str], Any]]:
    """(environment for the CLI, the running simulator answering from ``oracle``)."""
    from orchestrator.simulator import SimulatorConfig, run_simulator

    cfg = SimulatorConfig(seed=0, time_factor=0.0005, state_path=tmp_path / "sim.db", oracle=oracle)
    with run_simulator(cfg) as sim:
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "OMP_NUM_THREADS": "1",
            "CROWDCLEAN_DATABASE_URL": f"sqlite:///{tmp_path / 'cc.db'}",
            "CROWDCLEAN_DATA_DIR": str(tmp_path / "data"),
            "CROWDCLEAN_TORCH_THREADS": "1",
            "CROWDCLEAN_MTURK__ENDPOINT_URL": sim.endpoint_url,
            "CROWDCLEAN_MTURK__AWS_ACCESS_KEY_ID": "AKIDSIMULATOR",
            "CROWDCLEAN_MTURK__AWS_SECRET_ACCESS_KEY": "simulator-secret",
            "CROWDCLEAN_MTURK__MAX_REQUESTS_PER_SECOND": "500",
        }
        yield env, sim


def _run_campaign(
    env: dict[str, str], cwd: Path, dataset: str, budget: str
) -> list[dict[str, str]]:
    """create → start → run → export; the export's rows."""
    (cwd / "campaign.json").write_text(json.dumps(CONFIG), encoding="utf-8")
    made = json.loads(
        _cli(
            env,
            cwd,
            "campaign",
            "create",
            "--dataset",
            dataset,
            "--budget",
            budget,
            "--config",
            str(cwd / "campaign.json"),
        )
    )
    cid = made["id"]
    _cli(env, cwd, "campaign", "start", cid)
    _cli(env, cwd, "campaign", "run", cid, timeout=600)
    status = json.loads(_cli(env, cwd, "campaign", "status", cid))
    assert status["status"] == "completed", status
    assert status["items"]["verified"] > 0
    assert float(status["spent_usd"]) <= float(budget)
    _cli(env, cwd, "export", cid, "--out", str(cwd / "clean.csv"))
    with open(cwd / "clean.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _worker_pages(sim: Any) -> list[str]:
    """The HTMLQuestion of every HIT the simulator holds, read back over MTurk's wire protocol."""
    import boto3

    client = boto3.client(
        "mturk",
        endpoint_url=sim.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDSIMULATOR",
        aws_secret_access_key="simulator-secret",
    )
    platform = MTurkPlatform.connect(
        sim.endpoint_url, aws_access_key_id="AKIDSIMULATOR", aws_secret_access_key="s"
    )
    return [client.get_hit(HITId=h.hit_id)["HIT"]["Question"] for h in platform.iter_hits()]


def _digit_png(pixels: np.ndarray) -> bytes:
    """An 8×8 digit (0-16 ink) as a 64×64 grey PNG, ink dark on white."""
    import io

    from PIL import Image

    grey = (255 - pixels.reshape(8, 8) / 16 * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(grey, mode="L").resize((64, 64), Image.NEAREST).save(out, format="PNG")
    return out.getvalue()


def test_a_campaign_on_a_csv_of_image_urls(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(3)
    keep = rng.choice(len(digits.target), size=150, replace=False)
    y = digits.target[keep]
    noisy = np.where(rng.random(len(y)) < 0.2, (y + rng.integers(1, 10, len(y))) % 10, y)
    images = {f"/digits/{k:03d}.png": _digit_png(digits.data[i]) for k, i in enumerate(keep)}
    oracle = {f"d{k:03d}": str(int(y[k])) for k in range(len(y))}
    with simulator(tmp_path, oracle) as (env, sim), serve_images(images) as server:
        env = {**env, "CROWDCLEAN_IMAGES__ALLOW_LOOPBACK_HTTP": "1"}
        with open(tmp_path / "urls.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "label", "image_url"])
            for k in range(len(y)):
                w.writerow([f"d{k:03d}", int(noisy[k]), server.url(f"/digits/{k:03d}.png")])
        imported = json.loads(
            _cli(
                env,
                tmp_path,
                "dataset",
                "import",
                str(tmp_path / "urls.csv"),
                "--image-col",
                "image_url",
            )
        )
        assert imported["feature_kind"] == "pixels" and imported["features"] == 784
        assert sorted(server.requests) == sorted(images)  # each image fetched once, at import
        fetched = len(server.requests)
        rows = _run_campaign(env, tmp_path, "urls", "4.00")
        assert len(server.requests) == fetched  # the campaign itself fetched nothing
        pages = _worker_pages(sim)
    assert len(rows) == len(y)
    crowd = [r for r in rows if r["source"] == "crowd"]
    assert crowd and np.mean([r["cleaned_label"] == oracle[r["item_id"]] for r in crowd]) > 0.8
    assert pages
    for page in pages:  # each HIT shows its image by URL, never a bare id
        assert f'id="cc-item-image" src="{server.base_url}/digits/' in page
        assert "Item d" not in page


def test_a_campaign_on_a_tabular_csv_with_named_columns(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine

    wine = load_wine()
    names = [n.replace("/", "_") for n in wine.feature_names]
    rng = np.random.default_rng(5)
    y = wine.target
    noisy = np.where(rng.random(len(y)) < 0.2, (y + rng.integers(1, 3, len(y))) % 3, y)
    classes = ["barolo", "grignolino", "barbera"]
    oracle = {f"w{k:03d}": classes[int(y[k])] for k in range(len(y))}
    with open(tmp_path / "wine.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label", "cellar", *names])
        for k in range(len(y)):
            w.writerow(
                [
                    f"w{k:03d}",
                    classes[int(noisy[k])],
                    f"row {k % 7}",
                    *[f"{v:g}" for v in wine.data[k]],
                ]
            )
    with simulator(tmp_path, oracle) as (env, sim):
        imported = json.loads(
            _cli(
                env,
                tmp_path,
                "dataset",
                "import",
                str(tmp_path / "wine.csv"),
                "--feature-cols",
                ",".join(names),
            )
        )
        assert imported["features"] == len(names)
        rows = _run_campaign(env, tmp_path, "wine", "4.00")
        pages = _worker_pages(sim)
    assert len(rows) == len(y)
    crowd = [r for r in rows if r["source"] == "crowd"]
    assert crowd and np.mean([r["cleaned_label"] == oracle[r["item_id"]] for r in crowd]) > 0.8
    assert pages
    for page in pages:  # a table of the named values: never "Item <id>"
        assert 'id="cc-item-fields"' in page
        assert '<th scope="row" dir="auto" lang="">alcohol</th>' in page
        assert '<th scope="row" dir="auto" lang="">cellar</th>' in page
        assert "Item w" not in page
