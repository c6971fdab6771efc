"""Count what hostile input does to each surface: tried, accepted, refused with a clear error,
crashed, partial imports. Writes the table of ``benchmarks/results/robustness.md``.

Surfaces and how each is probed (seeded, so a rerun draws the same cases):
* import: the Hypothesis tables of ``tests/unit/data/test_import_fuzz.py`` (valid tables with
  hostile edits) in CSV, JSONL and Parquet, read and stored on SQLite and on PostgreSQL; a
  refusal must leave both databases without a row (no partial import);
* campaign config: the config strategy of the same test module;
* HTTP API: the OpenAPI operations with the hostile values of ``tests/e2e/api/test_openapi_fuzz``
  against the in-process app (SQLite), as requester alice; a crash is a 5xx (502 from cancel
  excepted: it may reach MTurk) or a traceback in the body;
* HIT rendering: hostile item texts and labels through every template, checked against the
  simulator's MTurk Question rules.

Run: ``OMP_NUM_THREADS=1 nice python benchmarks/robustness/probe_surfaces.py --examples 400``
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# The strategies live with the tests that use them; import them by path (tests are not a
# package the distribution ships).
sys.path[:0] = [str(ROOT / "tests" / "unit" / "data"), str(ROOT / "tests" / "e2e" / "api")]


def _hypothesis_examples(strategy: Any, n: int) -> list[Any]:
    from hypothesis import HealthCheck, given, settings

    out: list[Any] = []

    @settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(x: Any) -> None:
        out.append(x)

    collect()
    return out


def probe_import(n: int, pg_url: str | None) -> dict[str, collections.Counter[str]]:
    import test_import_fuzz as f
    from hypothesis import strategies as st
    from sqlalchemy import text

    from orchestrator.data.errors import DatasetError
    from orchestrator.data.importer import read_dataset_file
    from orchestrator.data.store import save_dataset
    from orchestrator.db.engine import make_engine
    from orchestrator.db.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="probe-import-"))
    engines = {"sqlite": make_engine(f"sqlite:///{tmp / 'p.db'}")}
    if pg_url:
        admin = make_engine(pg_url, isolation_level="AUTOCOMMIT")
        db = f"probe_{uuid.uuid4().hex[:8]}"
        with admin.connect() as c:
            c.execute(text(f"CREATE DATABASE {db}"))
        engines["postgresql"] = make_engine(pg_url.rsplit("/", 1)[0] + f"/{db}")
    for e in engines.values():
        upgrade(e)
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    cases = _hypothesis_examples(
        st.tuples(st.sampled_from(["csv", "jsonl", "parquet"]), f.frames(), f.MAPPINGS), n
    )
    for k, (fmt, rows, mapping) in enumerate(cases):
        c = counts[f"import ({fmt})"]
        c["tried"] += 1
        path = f._write(tmp, fmt, rows)
        try:
            data = read_dataset_file(path, mapping)
        except DatasetError:
            c["refused"] += 1
            continue
        except Exception as exc:
            c["crashed"] += 1
            print("import crash:", fmt, repr(exc)[:200], file=sys.stderr)
            continue
        stored = 0
        for backend, engine in engines.items():
            try:
                save_dataset(engine, data, name=f"d{k}", source=str(path), data_dir=tmp / "art")
                stored += 1
            except DatasetError:
                c[f"refused at store ({backend})"] += 1
            except Exception as exc:
                c["crashed"] += 1
                print("store crash:", backend, repr(exc)[:200], file=sys.stderr)
        c["accepted"] += stored == len(engines)
    with_rows = {}
    for backend, engine in engines.items():
        with engine.connect() as conn:
            datasets = conn.execute(text("SELECT count(*) FROM dataset")).scalar_one()
            orphans = conn.execute(
                text("SELECT count(*) FROM item WHERE dataset_id NOT IN (SELECT id FROM dataset)")
            ).scalar_one()
        with_rows[backend] = (int(datasets), int(orphans))
    for backend, (_, orphans) in with_rows.items():
        counts["import: rows left by refused imports"][f"partial ({backend})"] += orphans
    for e in engines.values():
        e.dispose()
    return counts


def probe_config(n: int) -> collections.Counter[str]:
    import test_import_fuzz as f
    from hypothesis import strategies as st
    from pydantic import ValidationError

    from orchestrator.campaigns.config import CampaignConfig

    c: collections.Counter[str] = collections.Counter()
    raws = _hypothesis_examples(st.dictionaries(f.CONFIG_KEYS, f.CONFIG_VALUES, max_size=5), n)
    for raw in raws:
        c["tried"] += 1
        try:
            CampaignConfig.model_validate(raw)
            c["accepted"] += 1
        except ValidationError:
            c["refused"] += 1
        except Exception as exc:
            c["crashed"] += 1
            print("config crash:", repr(exc)[:200], file=sys.stderr)
    return c


def probe_api(n: int) -> collections.Counter[str]:
    import test_openapi_fuzz as fz
    from fastapi.testclient import TestClient

    from orchestrator.api import create_app
    from orchestrator.api.keys import create_api_key
    from orchestrator.db.engine import make_engine
    from orchestrator.db.migrate import upgrade
    from orchestrator.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="probe-api-"))
    engine = make_engine(f"sqlite:///{tmp / 'api.db'}")
    upgrade(engine)
    settings = Settings(
        data_dir=tmp / "data",
        database_url=str(engine.url),
        mturk={"endpoint_url": "http://127.0.0.1:9"},
        api={"status_cache_ttl_s": 0.0, "auth_cache_ttl_s": 60.0},
    )
    client = TestClient(create_app(settings, engine=engine), raise_server_exceptions=False)
    keys = {w: create_api_key(engine, w)[1] for w in ("alice", "bob")}
    ids: dict[str, dict[str, str]] = {}
    for who, key in keys.items():
        h = {"Authorization": f"Bearer {key}"}
        ds = client.post(
            "/v1/datasets",
            headers=h,
            files={"file": ("d.csv", fz.CSV.encode(), "text/csv")},
            data={"name": f"{who}-ds", "feature_cols": "x,y"},
        )
        camp = client.post(
            "/v1/campaigns", headers=h, json={"dataset": f"{who}-ds", "budget_usd": "5"}
        )
        ids[who] = {"dataset": ds.json()["id"], "campaign": camp.json()["id"]}
    client.headers["Authorization"] = f"Bearer {keys['alice']}"
    doc = client.get("/v1/openapi.json").json()
    secret = set(ids["bob"].values())
    c: collections.Counter[str] = collections.Counter()
    for method, path in fz._operations():
        strategy = fz._request_strategy(method, path, doc["paths"][path][method], ids)
        for draw in _hypothesis_examples(strategy, n):
            r = fz._send(client, method, path, draw)  # type: ignore[arg-type]
            c["tried"] += 1
            crash = r.status_code >= 500 and not (path.endswith("/cancel") and r.status_code == 502)
            crash = crash or "Traceback" in r.text
            asked = str(r.request.url) + r.request.read().decode("utf-8", "replace")
            leak = any(s in r.text and (s not in asked or r.is_success) for s in secret)
            if crash:
                c["crashed"] += 1
                print("api crash:", method, r.request.url, r.status_code, file=sys.stderr)
            elif leak:
                c["leaked"] += 1
            elif r.status_code < 400:
                c["accepted"] += 1
            else:
                c["refused"] += 1
    return c


def probe_render() -> collections.Counter[str]:
    from orchestrator.crowd.render import ItemView, TaskRenderer
    from orchestrator.simulator.question_rules import QuestionRuleError, check_question

    texts = [
        "a\x0bb",
        "\x00",
        "\x1b[31m",
        "\ufffe\uffff",
        "]]>",
        "</HTMLContent>",
        "<script>x</script>",
        "{{ 7*7 }}",
        "שלום",
        "مرحبا",
        "你好",
        "x" * 20_000,
        "\u202egnp.exe",
    ]
    renderer = TaskRenderer()
    c: collections.Counter[str] = collections.Counter()
    for task_type in renderer.task_types():
        for t in texts:
            labels = ["cat", t[:40] or "x"]
            c["tried"] += 1
            view = ItemView(
                key="k" + t[:20],
                current_label="cat",
                options=labels,
                text=t,
                image_src="data:image/png;base64,iVBORw0KGgo=" if "image" in task_type else None,
            )
            try:
                check_question(renderer.render_question(task_type, renderer.context_for(view)))
                c["accepted"] += 1
            except QuestionRuleError:
                c["crashed"] += 1  # a HIT MTurk would refuse, after money was planned for it
    return c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--api-examples", type=int, default=60, help="per operation")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "CROWDCLEAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows: dict[str, collections.Counter[str]] = {}
    rows.update(probe_import(args.examples, args.postgres or None))
    rows["campaign config"] = probe_config(args.examples)
    rows["HTTP API (alice)"] = probe_api(args.api_examples)
    rows["HIT rendering"] = probe_render()
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps({k: dict(v) for k, v in rows.items()}, indent=1))
    if args.out:
        lines = [
            "| surface | tried | accepted | refused, clear error | crashed | partial imports "
            "| leaks |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, c in rows.items():
            refused = sum(v for k, v in c.items() if k.startswith("refused"))
            partial = sum(v for k, v in c.items() if k.startswith("partial"))
            lines.append(
                f"| {name} | {c['tried'] or '—'} | {c['accepted'] or 0} | {refused} | "
                f"{c['crashed']} | {partial} | {c['leaked']} |"
            )
        args.out.write_text("\n".join(lines) + f"\n\nload average: {' '.join(load)}\n")


if __name__ == "__main__":
    main()
