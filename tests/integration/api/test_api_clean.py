"""``POST /v1/datasets/{ref}/clean``: crowd-free cleaning over the API (SQLite and PostgreSQL):
the rows, the owner's visibility, and the limits of a synchronous fit."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score

from orchestrator.data.builtin import load_builtin
from orchestrator.data.dataset import LabeledData
from orchestrator.data.noise import inject_noise
from orchestrator.export import EXPORT_COLUMNS
from tests.integration.api.api_client import Api, make_api
from tests.integration.api.test_api import assert_problem

N_ITEMS = 500
FAST = {"epochs": 30, "beta": 0.1}  # ~1 s on one core for 500 digits


@pytest.fixture(scope="module")
def digits() -> LabeledData:
    d = load_builtin("digits")
    sub = replace(
        d,
        ids=d.ids[:N_ITEMS],
        features=d.features[:N_ITEMS],
        noisy_labels=d.noisy_labels[:N_ITEMS],
        gold=d.gold[:N_ITEMS],
        validation=d.validation[:N_ITEMS],
    )
    return inject_noise(sub, rate=0.2, rng=np.random.default_rng(0))


def _upload(api: Api, who: str, data: LabeledData, name: str) -> dict:  # type: ignore[type-arg]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "label", *(f"px{j}" for j in range(data.features.shape[1]))])
    for i in range(data.n_items):
        w.writerow([data.ids[i], data.classes[data.noisy_labels[i]], *data.features[i].tolist()])
    r = api.post(
        who,
        "/v1/datasets",
        files={"file": (f"{name}.csv", buf.getvalue().encode(), "text/csv")},
        data={"name": name, "feature_cols": ",".join(f"px{j}" for j in range(64))},
    )
    assert r.status_code == 201, r.text
    body: dict = r.json()  # type: ignore[type-arg]
    return body


def test_clean_streams_issues_of_your_own_dataset(api: Api, digits: LabeledData) -> None:
    ds = _upload(api, "alice", digits, "digits-noisy")
    r = api.post("alice", "/v1/datasets/digits-noisy/clean", json={"model": FAST})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert f"crowdclean-clean-{ds['id']}.csv" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert tuple(rows[0]) == EXPORT_COLUMNS and len(rows) == N_ITEMS
    assert [row["item_id"] for row in rows] == digits.ids.tolist()
    p_wrong = np.array([float(row["p_label_wrong"]) for row in rows])
    flipped = digits.noisy_labels != digits.gold
    assert roc_auc_score(flipped, p_wrong) > 0.95  # measured 0.996-0.999 over noise seeds
    changed = sum(row["source"] == "model" for row in rows)
    assert int(r.headers["x-crowdclean-label-issues"]) == changed > 0
    assert float(r.headers["x-crowdclean-beta"]) == 0.1

    # another requester cannot see it, by name or by id; an operator can
    for ref in ("digits-noisy", ds["id"]):
        assert_problem(api.post("bob", f"/v1/datasets/{ref}/clean"), 404, "not-found")
    r = api.post(
        "op",
        f"/v1/datasets/{ds['id']}/clean",
        params={"format": "parquet"},
        json={"seed": 1, "model": {"epochs": 2, "beta": 0.1}},
    )
    assert r.status_code == 200, r.text
    table = pq.read_table(io.BytesIO(r.content))
    assert tuple(table.column_names) == EXPORT_COLUMNS and table.num_rows == N_ITEMS
    assert table.column("p_label_wrong").null_count == 0


def test_clean_refuses_what_a_synchronous_fit_cannot_afford(api: Api) -> None:
    text = "id,label,x,y\n" + "".join(f"i{k},{'ab'[k % 2]},{k % 7},{k % 3}\n" for k in range(60))
    r = api.post(
        "alice",
        "/v1/datasets",
        files={"file": ("small.csv", text.encode(), "text/csv")},
        data={"name": "small", "feature_cols": "x,y"},
    )
    assert r.status_code == 201, r.text
    url = "/v1/datasets/small/clean"
    for model, field in [
        ({"epochs": 1000}, "epochs"),
        ({"hidden": [128, 128]}, "hidden"),
        ({"beta_grid": [0.1, 1, 2, 3, 4, 5, 6]}, "beta_grid"),
        ({"batch_size": 1}, "batch_size"),
        ({"device": "cpu"}, "device"),
        ({"torch_threads": 64}, "torch_threads"),
    ]:
        body = assert_problem(
            api.post("alice", url, json={"model": model}), 422, "validation-error"
        )
        assert body["errors"][0]["loc"] == f"body.model.{field}", body
    body = assert_problem(api.post("alice", url, json={"nope": 1}), 422, "validation-error")
    assert body["errors"][0]["loc"] == "body.nope"
    assert_problem(api.post("alice", url, params={"format": "xlsx"}), 422, "validation-error")

    # every slot busy: 503 at once with Retry-After, not a queue
    with api.client.app.state.clean_slots.hold():  # type: ignore[attr-defined]
        r = api.post("alice", url, json={"model": {"epochs": 1, "beta": 0.1}})
    body = assert_problem(r, 503, "busy", contains="retry")
    assert int(r.headers["retry-after"]) > 0
    # and the slot is free again afterwards
    r = api.post("alice", url, params={"format": "jsonl"}, json={"model": {"epochs": 1}})
    assert r.status_code == 200, r.text
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert len(rows) == 60 and all(0 <= row["p_label_wrong"] <= 1 for row in rows)


def test_clean_refuses_a_dataset_over_the_limit(api: Api) -> None:
    small = make_api(api.engine, api.data_dir, clean_max_items=50)
    text = "id,label,x\n" + "".join(f"i{k},{'ab'[k % 2]},{k}\n" for k in range(51))
    r = small.post(
        "alice",
        "/v1/datasets",
        files={"file": ("big.csv", text.encode(), "text/csv")},
        data={"name": "big", "feature_cols": "x"},
    )
    assert r.status_code == 201, r.text
    body = assert_problem(
        small.post("alice", "/v1/datasets/big/clean"), 422, "dataset-too-large", contains="51"
    )
    assert body["limit_items"] == 50 and "crowdclean clean" in body["detail"]
