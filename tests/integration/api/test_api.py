"""The HTTP API against a real database (SQLite and PostgreSQL): auth, isolation, problem
details, lifecycle, items, exports, status."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy.engine import Engine

from orchestrator.api.keys import create_api_key, revoke_api_key
from orchestrator.api.schemas import StatusOut
from orchestrator.campaigns.cleaned_labels import campaign_export_rows
from orchestrator.db.models import CampaignStatus
from orchestrator.export import EXPORT_COLUMNS
from tests.factories.stored_campaign import build_campaign
from tests.integration.api.api_client import Api, make_api

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance"}


def assert_problem(r, status: int, slug: str, *, contains: str = "") -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["type"] == f"urn:crowdclean:problem:{slug}"
    assert body["instance"].startswith("/")
    assert contains in body["detail"], body["detail"]
    return body


CSV_OK = "id,label,x,y\n" + "".join(
    f"i{k},{'cat' if k % 2 else 'dog'},{k / 10:.1f},{(k * 7 % 5) / 5:.1f}\n" for k in range(40)
)


def upload(api: Api, who: str, text: str, name: str = "pets", filename: str = "pets.csv"):  # type: ignore[no-untyped-def]
    return api.post(
        who,
        "/v1/datasets",
        files={"file": (filename, text.encode(), "text/csv")},
        data={"name": name, "feature_cols": "x,y"},
    )


# --------------------------------------------------------------------------- auth


def test_401_without_or_with_a_bad_key(api: Api) -> None:
    r = api.client.get("/v1/campaigns")
    body = assert_problem(r, 401, "unauthorized", contains="Authorization: Bearer")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert body["instance"] == "/v1/campaigns"
    for header in (
        "Bearer cc_000000000000_" + "A" * 43,  # well-formed, unknown
        "Bearer not-a-key",
        "Bearer " + api.keys["alice"][:-1] + ("B" if api.keys["alice"][-1] != "B" else "C"),
    ):
        r = api.client.get("/v1/campaigns", headers={"Authorization": header})
        assert_problem(r, 401, "unauthorized", contains="not valid")
        assert "www-authenticate" in r.headers
    r = api.client.get("/v1/campaigns", headers={"Authorization": "Basic abc"})
    assert_problem(r, 401, "unauthorized")
    assert api.get("alice", "/v1/whoami").json() == {"requester": "alice", "role": "requester"}
    assert api.get("op", "/v1/whoami").json() == {"requester": "ops", "role": "operator"}
    # a revoked key stops working (the fixture disables the auth cache)
    revoke_api_key(api.engine, api.keys["bob"])
    assert_problem(api.get("bob", "/v1/whoami"), 401, "unauthorized")
    # health and the OpenAPI document need no key
    assert api.client.get("/v1/health").json() == {"status": "ok"}
    spec = api.client.get("/v1/openapi.json").json()
    assert "/v1/campaigns/{campaign_id}/status" in spec["paths"]
    assert "HTTPBearer" in json.dumps(spec["components"]["securitySchemes"])


def test_keys_are_stored_hashed(api: Api) -> None:
    from sqlmodel import Session, select

    from orchestrator.db.models import ApiKey

    with Session(api.engine) as s:
        rows = s.exec(select(ApiKey)).all()
    stored = json.dumps([r.model_dump(mode="json") for r in rows])
    for key in api.keys.values():
        assert key not in stored and key[16:] not in stored  # cc_ + 12 hex + _ + secret


# --------------------------------------------------------------------------- isolation


def test_requesters_see_only_their_campaigns(api: Api) -> None:
    a = build_campaign(api.engine, api.data_dir, requester="alice", n_items=50, seed=1)
    b = build_campaign(api.engine, api.data_dir, requester="bob", n_items=50, seed=2)
    mine = api.get("alice", "/v1/campaigns").json()
    assert [c["id"] for c in mine["campaigns"]] == [str(a.campaign_id)] and mine["total"] == 1
    for path in ("", "/status", "/items", "/export", "/dashboard"):
        r = api.get("alice", f"/v1/campaigns/{b.campaign_id}{path}")
        assert_problem(r, 404, "not-found", contains="visible to this API key")
    for action in ("start", "pause", "resume", "cancel"):
        assert_problem(
            api.post("alice", f"/v1/campaigns/{b.campaign_id}/{action}"), 404, "not-found"
        )
    assert_problem(api.get("alice", "/v1/campaigns", params={"requester": "bob"}), 403, "forbidden")
    # datasets are private too
    assert [d["id"] for d in api.get("alice", "/v1/datasets").json()] == [str(a.dataset_id)]
    assert_problem(api.get("alice", f"/v1/datasets/{b.dataset_id}"), 404, "not-found")
    r = api.post(
        "alice", "/v1/campaigns", json={"dataset": str(b.dataset_id), "budget_usd": "5.00"}
    )
    assert_problem(r, 404, "not-found", contains="dataset")

    # the operator sees and acts on everything
    everything = api.get("op", "/v1/campaigns").json()
    assert {c["id"] for c in everything["campaigns"]} == {str(a.campaign_id), str(b.campaign_id)}
    only_bob = api.get("op", "/v1/campaigns", params={"requester": "bob"}).json()
    assert [c["id"] for c in only_bob["campaigns"]] == [str(b.campaign_id)]
    assert api.get("op", f"/v1/campaigns/{b.campaign_id}/status").status_code == 200
    # a campaign nobody has is missing for operators too (one visibility gate, every route)
    for path in ("", "/status", "/items", "/dashboard"):
        r = api.get("op", f"/v1/campaigns/{uuid.uuid4()}{path}")
        assert_problem(r, 404, "not-found", contains="visible to this API key")
    assert api.post("op", f"/v1/campaigns/{b.campaign_id}/pause").json()["status"] == "paused"
    r = api.post("op", f"/v1/campaigns/{b.campaign_id}/cancel")
    assert r.status_code == 200 and r.json()["campaign"]["status"] == "cancelled"
    # operators may create campaigns for a requester, requesters may not for others
    r = api.post(
        "op",
        "/v1/campaigns",
        json={"dataset": str(a.dataset_id), "budget_usd": "3.00", "requester": "alice"},
    )
    assert r.status_code == 201 and r.json()["requester"] == "alice"
    r = api.post(
        "bob",
        "/v1/campaigns",
        json={"dataset": str(b.dataset_id), "budget_usd": "3.00", "requester": "alice"},
    )
    assert_problem(r, 403, "forbidden")


# --------------------------------------------------------------------------- lifecycle


def test_upload_create_and_transitions(api: Api) -> None:
    r = upload(api, "alice", CSV_OK)
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["n_items"] == 40 and ds["classes"] == ["cat", "dog"] and ds["owner"] == "alice"
    assert ds["name"] == "pets"

    r = api.post(
        "alice",
        "/v1/campaigns",
        json={"dataset": "pets", "name": "first", "budget_usd": "12.50", "config": {"rounds": 2}},
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["status"] == "draft" and c["budget_usd"] == "12.50" and c["config"]["rounds"] == 2
    url = f"/v1/campaigns/{c['id']}"
    assert api.get("alice", url).json()["name"] == "first"

    body = assert_problem(api.post("alice", f"{url}/pause"), 409, "invalid-state")
    assert "it is draft" in body["detail"] and "pause works only from running" in body["detail"]
    assert_problem(api.post("alice", f"{url}/resume"), 409, "invalid-state")
    assert api.post("alice", f"{url}/start").json()["status"] == "running"
    assert_problem(api.post("alice", f"{url}/start"), 409, "invalid-state", contains="running")
    assert api.post("alice", f"{url}/pause").json()["status"] == "paused"
    assert api.get("alice", f"{url}/status").json()["status"] == "paused"
    assert api.post("alice", f"{url}/resume").json()["status"] == "running"
    r = api.post("alice", f"{url}/cancel")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "campaign": r.json()["campaign"],
        "open_hits": 0,
        "cleanup": None,
        "deferred": False,
    }
    assert r.json()["campaign"]["status"] == "cancelled"
    assert api.post("alice", f"{url}/cancel").status_code == 200  # idempotent
    assert_problem(api.post("alice", f"{url}/resume"), 409, "invalid-state", contains="cancelled")
    listed = api.get("alice", "/v1/campaigns", params={"status": "cancelled"}).json()
    assert [x["id"] for x in listed["campaigns"]] == [c["id"]]


def test_bad_input_is_refused_with_problem_details(api: Api) -> None:
    bad = "id,label,x,y\na,cat,0.1,0.2\nb,dog,zz,0.4\n"
    body = assert_problem(upload(api, "alice", bad, name="bad"), 422, "invalid-dataset")
    assert body["row"] == 2 and body["column"] == "x"
    assert body["detail"].startswith("pets.csv, row 2, column 'x'")
    assert api.get("alice", "/v1/datasets").json() == []
    assert_problem(
        upload(api, "alice", CSV_OK, filename="pets.xlsx"), 415, "unsupported-media-type"
    )
    assert upload(api, "alice", CSV_OK).status_code == 201
    body = assert_problem(upload(api, "alice", CSV_OK), 409, "name-taken")
    assert "you already have a dataset named 'pets'" in body["detail"]

    # JSON bodies: field errors are listed with their location
    r = api.post("alice", "/v1/campaigns", json={"dataset": "pets", "budget_usd": "-1"})
    body = assert_problem(r, 422, "validation-error", contains="budget_usd")
    assert body["errors"][0]["loc"] == "body.budget_usd"
    r = api.post(
        "alice", "/v1/campaigns", json={"dataset": "pets", "budget_usd": "1", "config": {"x": 1}}
    )
    assert_problem(r, 422, "validation-error", contains="config.x")
    r = api.post("alice", "/v1/campaigns", json={"dataset": "pets", "budget_usd": "1.001"})
    assert_problem(r, 422, "validation-error", contains="budget_usd")
    r = api.post(
        "alice",
        "/v1/campaigns",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_problem(r, 422, "validation-error")
    assert_problem(api.get("alice", "/v1/campaigns/not-a-uuid"), 422, "validation-error")
    assert_problem(api.get("alice", f"/v1/campaigns/{uuid.uuid4()}"), 404, "not-found")
    assert_problem(api.get("alice", "/v1/nothing-here"), 404, "not-found", contains="/v1")
    assert_problem(api.client.delete("/v1/health"), 405, "method-not-allowed")


def test_size_limits_answer_413(engine: Engine, tmp_path: Path) -> None:
    api = make_api(engine, tmp_path, max_body_bytes=2048, max_upload_bytes=4096)
    with api.client:
        r = api.post("alice", "/v1/campaigns", json={"dataset": "x" * 5000, "budget_usd": "1.00"})
        body = assert_problem(r, 413, "payload-too-large", contains="2048 bytes")
        assert body["limit_bytes"] == 2048
        big = "id,label,x,y\n" + "".join(f"i{k},a,0.1,0.2\n" for k in range(400))
        assert len(big) > 4096
        body = assert_problem(upload(api, "alice", big), 413, "payload-too-large")
        assert body["limit_bytes"] == 4096

        # no Content-Length (chunked): counted while read
        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b'{"dataset": "' + b"y" * 500

        r = api.client.post(
            "/v1/campaigns",
            content=chunks(),
            headers={**api.auth("alice"), "content-type": "application/json"},
        )
        assert_problem(r, 413, "payload-too-large")
        assert upload(api, "alice", CSV_OK).status_code == 201  # under the limit


# --------------------------------------------------------------------------- data endpoints


def test_items_pagination_and_filters(api: Api) -> None:
    sc = build_campaign(api.engine, api.data_dir, requester="alice", n_items=260, seed=4)
    url = f"/v1/campaigns/{sc.campaign_id}/items"
    want = list(campaign_export_rows(api.engine, sc.campaign_id))

    def collect(**params):  # type: ignore[no-untyped-def]
        got, cursor, pages = [], None, 0
        while True:
            q = {**params, **({"cursor": cursor} if cursor else {})}
            r = api.get("alice", url, params=q)
            assert r.status_code == 200, r.text
            page = r.json()
            assert len(page["items"]) <= page["limit"]
            got += page["items"]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                return got, pages

    everything, pages = collect(limit=50)
    assert pages == 6
    assert [i["item_id"] for i in everything] == [r.item_id for r in want]
    assert [i["cleaned_label"] for i in everything] == [r.cleaned_label for r in want]
    assert [i["position"] for i in everything] == list(range(260))

    for source in ("crowd", "propagated", "model", "original"):
        got, _ = collect(source=source, limit=7)
        assert [i["item_id"] for i in got] == [r.item_id for r in want if r.source == source]
    crowd, _ = collect(source="crowd", limit=1000)
    assert len(crowd) == len(sc.verified)
    changed, _ = collect(changed="true", limit=33)
    assert [i["item_id"] for i in changed] == [
        r.item_id for r in want if r.cleaned_label != r.original_label
    ]
    c1, _ = collect(label="c1", changed="false")
    assert [i["item_id"] for i in c1] == [
        r.item_id for r in want if r.cleaned_label == "c1" and r.original_label == "c1"
    ]
    r0, _ = collect(round=0, limit=9)
    assert {i["position"] for i in r0} == sc.validation
    none, _ = collect(round=-1)
    assert all(i["source"] in ("original", "model") for i in none)

    assert_problem(
        api.get("alice", url, params={"limit": 5000}),
        422,
        "validation-error",
        contains="maximum page size of 1000",
    )
    assert_problem(
        api.get("alice", url, params={"cursor": "garbage!"}),
        422,
        "validation-error",
        contains="cursor",
    )
    assert_problem(api.get("alice", url, params={"source": "magic"}), 422, "validation-error")
    assert_problem(
        api.get("alice", url, params={"label": "c9"}), 422, "validation-error", contains="c0, c1"
    )


def test_export_in_three_formats(api: Api) -> None:
    sc = build_campaign(api.engine, api.data_dir, requester="alice", n_items=150, seed=6)
    want = [
        (r.item_id, r.cleaned_label, r.source, r.n_workers, r.round)
        for r in campaign_export_rows(api.engine, sc.campaign_id)
    ]
    url = f"/v1/campaigns/{sc.campaign_id}/export"
    r = api.get("alice", url, params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert tuple(rows[0]) == EXPORT_COLUMNS
    got = [
        (x["item_id"], x["cleaned_label"], x["source"], int(x["n_workers"]), int(x["round"]))
        for x in rows
    ]
    assert got == want

    r = api.get("alice", url, params={"format": "jsonl"})
    assert r.headers["content-type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in r.text.splitlines()]
    assert [
        (x["item_id"], x["cleaned_label"], x["source"], x["n_workers"], x["round"]) for x in rows
    ] == want
    assert {x["schema_version"] for x in rows} == {2}

    r = api.get("alice", url, params={"format": "parquet"})
    table = pq.read_table(io.BytesIO(r.content))
    assert tuple(table.column_names) == EXPORT_COLUMNS
    d = table.to_pydict()
    assert (
        list(
            zip(
                d["item_id"],
                d["cleaned_label"],
                d["source"],
                d["n_workers"],
                d["round"],
                strict=True,
            )
        )
        == want
    )
    assert_problem(api.get("alice", url, params={"format": "xlsx"}), 422, "validation-error")


def test_status_fields(api: Api) -> None:
    sc = build_campaign(api.engine, api.data_dir, requester="alice", n_items=200, seed=8)
    s = api.get("alice", f"/v1/campaigns/{sc.campaign_id}/status").json()
    StatusOut.model_validate(s)  # the documented response model
    assert s["status"] == "running" and s["round"] == 1 and s["requester"] == "alice"
    n_answers = len(sc.verified) * sc.workers_per_item
    # each synthetic answer is paid 0.05 USD + 0.01 USD fee
    assert s["paid_usd"] == f"{0.06 * n_answers:.2f}" and s["fees_usd"] == f"{0.01 * n_answers:.2f}"
    assert s["spent_usd"] == s["paid_usd"] and s["reserved_usd"] == "0.00"
    assert s["budget_usd"] == "50.00"
    assert float(s["remaining_usd"]) == pytest.approx(50 - 0.06 * n_answers)
    assert s["items"] == {
        "total": 200,
        "inspected": len(sc.verified),
        "verified": len(sc.verified),
        "validation": len(sc.validation),
        "propagated": len(sc.propagated),
    }
    acc = s["accuracy"]
    assert acc["n_validation"] == len(sc.validation) and acc["confidence"] == 0.95
    assert 0 <= acc["low"] <= acc["estimate"] <= acc["high"] <= 1
    assert acc["crowd_share"] == pytest.approx(len(sc.verified) / 200)
    assert s["workers"] == {
        "count": 5,
        "answers": n_answers,
        "items_answered": len(sc.verified),
        "answers_per_item": 3.0,
        "blocked": 0,
    }
    from sqlmodel import Session, col, select

    from orchestrator.db.models import Answer, Worker

    with Session(api.engine) as db:  # block one worker who answered, and one who did not
        answered = db.exec(
            select(Worker)
            .join(Answer, col(Answer.worker_pk) == col(Worker.id))
            .where(Answer.campaign_id == sc.campaign_id)
        ).first()
        assert answered is not None
        answered.blocked = True
        db.add(answered)
        db.add(Worker(platform_worker_id="AIDLEWORKER", blocked=True))
        db.commit()
    s = api.get("alice", f"/v1/campaigns/{sc.campaign_id}/status").json()
    assert s["workers"]["blocked"] == 1
    assert [r["number"] for r in s["rounds"]] == [0, 1]
    assert s["rounds"][1]["metrics"]["accuracy_estimate"] == pytest.approx(0.8)

    empty = build_campaign(
        api.engine,
        api.data_dir,
        requester="alice",
        n_items=20,
        n_validation=0,
        n_verified=0,
        n_propagated=0,
        with_model=False,
        status=CampaignStatus.DRAFT,
        seed=9,
    )
    s = api.get("alice", f"/v1/campaigns/{empty.campaign_id}/status").json()
    assert s["accuracy"] is None and s["spent_usd"] == "0.00"
    assert s["workers"]["answers_per_item"] is None


def test_status_is_cached_for_the_ttl(engine: Engine, tmp_path: Path) -> None:
    api = make_api(engine, tmp_path, status_cache_ttl_s=60.0, auth_cache_ttl_s=60.0)
    with api.client:
        sc = build_campaign(engine, api.data_dir, requester="alice", n_items=30, seed=10)
        url = f"/v1/campaigns/{sc.campaign_id}/status"
        assert api.get("alice", url).json()["status"] == "running"
        from orchestrator.campaigns.lifecycle import transition

        transition(engine, sc.campaign_id, CampaignStatus.PAUSED)  # behind the API's back
        assert api.get("alice", url).json()["status"] == "running"  # cached
        # actions through the API invalidate the cache at once
        assert api.post("alice", f"/v1/campaigns/{sc.campaign_id}/resume").status_code == 200
        assert api.get("alice", url).json()["status"] == "running"
        assert api.post("alice", f"/v1/campaigns/{sc.campaign_id}/pause").status_code == 200
        assert api.get("alice", url).json()["status"] == "paused"
        # a new key for a requester works at once; the cached key keeps working for the TTL
        _, key = create_api_key(engine, "carol")
        r = api.client.get("/v1/whoami", headers={"Authorization": f"Bearer {key}"})
        assert r.json()["requester"] == "carol"


def test_unexpected_errors_are_problem_details_without_internals(api: Api) -> None:
    app = api.client.app

    @app.get("/v1/boom")  # type: ignore[attr-defined,untyped-decorator]
    def boom() -> None:
        raise RuntimeError("secret internals")

    r = api.client.get("/v1/boom")
    body = assert_problem(r, 500, "internal-error", contains="RuntimeError")
    assert "secret internals" not in r.text and body["instance"] == "/v1/boom"


def test_a_bug_is_a_500_not_a_client_error(api: Api) -> None:
    app = api.client.app

    @app.get("/v1/keyerror")  # type: ignore[attr-defined,untyped-decorator]
    def keyerror() -> None:
        raise KeyError("missing")

    @app.get("/v1/valueerror")  # type: ignore[attr-defined,untyped-decorator]
    def valueerror() -> None:
        raise ValueError("bad internal value")

    assert_problem(api.client.get("/v1/keyerror"), 500, "internal-error")
    assert_problem(api.client.get("/v1/valueerror"), 500, "internal-error")
