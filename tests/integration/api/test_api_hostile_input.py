"""Hostile requests against the API on SQLite and PostgreSQL: integers that would overflow SQL,
cross-requester datasets, name conflicts that must not reveal other requesters' objects, and
concurrent uploads of one name. None of them may answer 500."""

from __future__ import annotations

import base64
import threading

from tests.factories.stored_campaign import build_campaign
from tests.integration.api.api_client import Api
from tests.integration.api.test_api import CSV_OK, assert_problem, upload


def test_integers_past_sql_range_are_422_not_500(api: Api) -> None:
    sc = build_campaign(api.engine, api.data_dir, requester="alice", n_items=20, seed=1)
    for offset in ("100000000000000000000", str(2**63)):
        r = api.get("alice", "/v1/campaigns", params={"offset": offset})
        assert_problem(r, 422, "validation-error", contains="offset")
    assert (
        api.get("alice", "/v1/campaigns", params={"offset": str(2**40)}).json()["campaigns"] == []
    )
    for pos in ("1" * 25, str(2**63)):
        cursor = base64.urlsafe_b64encode(f"p1:{pos}".encode()).decode().rstrip("=")
        r = api.get("alice", f"/v1/campaigns/{sc.campaign_id}/items", params={"cursor": cursor})
        assert_problem(r, 422, "validation-error", contains="cursor")


def test_operator_cannot_give_a_requester_someone_elses_dataset(api: Api) -> None:
    bob = build_campaign(api.engine, api.data_dir, requester="bob", n_items=20, seed=2)
    r = api.post(
        "op",
        "/v1/campaigns",
        json={"dataset": str(bob.dataset_id), "budget_usd": "3.00", "requester": "alice"},
    )
    assert_problem(r, 403, "forbidden", contains="does not belong to requester alice")
    assert api.get("alice", "/v1/campaigns").json()["total"] == 0
    # for its owner it works, and an operator may still run it for itself
    r = api.post(
        "op",
        "/v1/campaigns",
        json={"dataset": str(bob.dataset_id), "budget_usd": "3.00", "requester": "bob"},
    )
    assert r.status_code == 201, r.text
    r = api.post("op", "/v1/campaigns", json={"dataset": str(bob.dataset_id), "budget_usd": "3"})
    assert r.status_code == 201, r.text


def test_names_are_per_requester_and_conflicts_reveal_nothing(api: Api) -> None:
    assert upload(api, "alice", CSV_OK, name="alice-ds").status_code == 201
    # bob's upload under alice's name is answered like a free name: it is his own now
    r = upload(api, "bob", CSV_OK, name="alice-ds")
    assert r.status_code == 201, r.text
    assert r.json()["owner"] == "bob"
    mine = api.get("bob", "/v1/datasets/alice-ds").json()
    assert mine["id"] == r.json()["id"]
    assert api.get("alice", "/v1/datasets/alice-ds").json()["owner"] == "alice"
    # a campaign by name uses the caller's own dataset
    c = api.post("bob", "/v1/campaigns", json={"dataset": "alice-ds", "budget_usd": "2"})
    assert c.status_code == 201 and c.json()["dataset_id"] == mine["id"], c.text
    # the operator, seeing both, must say which one
    r = api.post("op", "/v1/campaigns", json={"dataset": "alice-ds", "budget_usd": "2"})
    assert r.status_code == 404, r.text


def test_concurrent_uploads_of_one_name_one_201_and_409s(api: Api) -> None:
    barrier = threading.Barrier(6)
    codes: list[int] = []

    def one() -> None:
        barrier.wait()
        codes.append(upload(api, "alice", CSV_OK, name="same").status_code)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201] + [409] * 5, codes
    assert [d["name"] for d in api.get("alice", "/v1/datasets").json()] == ["same"]
