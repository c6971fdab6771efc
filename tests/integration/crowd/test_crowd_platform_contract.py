"""Contract suite for CrowdPlatform: every implementation must pass it.

Run here through the production ``MTurkPlatform`` (real boto3, real HTTP, SigV4-signed) against
the simulator; pointing ``connect`` at the MTurk sandbox would run the same assertions.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orchestrator.crowd.platform import (
    QUAL_PERCENT_APPROVED,
    AlreadyDoneError,
    BonusRequest,
    HitRequest,
    HitTypeSpec,
    InvalidRequestError,
    NotReadyError,
    PlatformAssignmentStatus,
    PlatformError,
    PlatformHitStatus,
    QualificationRequirement,
)
from orchestrator.crowd.render import ItemView, TaskRenderer
from tests.factories.simulators import connect

SPEC = HitTypeSpec(
    title="Verify a label",
    description="Is this label right?",
    reward_usd=Decimal("0.05"),
    qualification_requirements=(
        QualificationRequirement(QUAL_PERCENT_APPROVED, "GreaterThanOrEqualTo", (90,)),
    ),
)


def question(key: str = "k1", current: str = "cat") -> str:
    return TaskRenderer().render_item(
        ItemView(key=key, current_label=current, options=["cat", "dog"], text="a purring animal")
    )


def wait_n(platform, hit_id, n, timeout=10.0):
    """The HIT's assignments once there are ``n`` of them."""
    return wait_for(
        lambda: (lambda lst: lst if len(lst) == n else None)(
            list(platform.iter_assignments(hit_id))
        ),
        timeout,
    )


def wait_for(fn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = fn()
        if out:
            return out
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def sim(simulator_factory):
    return simulator_factory(oracle={"k1": "dog", "k2": "cat"})


@pytest.fixture
def platform(sim):
    return connect(sim)


def make_hit(platform, token, n=3, key="k1", lifetime=3600):
    type_id = platform.create_hit_type(SPEC)
    return platform.create_hit(
        HitRequest(type_id, question(key), n, lifetime, token, json.dumps({"k": key}))
    )


def test_hit_type_is_stable(platform):
    assert platform.create_hit_type(SPEC) == platform.create_hit_type(SPEC)


def test_create_hit_is_idempotent_by_token(platform, sim):
    hit_id = make_hit(platform, "tok-a")
    with pytest.raises(AlreadyDoneError) as err:
        make_hit(platform, "tok-a")
    assert err.value.hit_id == hit_id
    assert sim.stats()["hits"] == 1
    hit = platform.get_hit(hit_id)
    assert hit.max_assignments == 3 and hit.reward_usd == Decimal("0.05")
    assert json.loads(hit.requester_annotation) == {"k": "k1"}


def test_workers_answer_from_the_oracle(platform):
    hit_id = make_hit(platform, "tok-b", n=5)
    assignments = wait_n(platform, hit_id, 5)
    assert {a.status for a in assignments} == {PlatformAssignmentStatus.SUBMITTED}
    assert len({a.worker_id for a in assignments}) == 5
    assert all("QuestionFormAnswers" in a.answer_xml for a in assignments)
    assert hit_id in set(platform.iter_reviewable_hit_ids())
    assert platform.get_hit(hit_id).status == PlatformHitStatus.REVIEWABLE


def test_approve_pays_once_with_fee_and_reject_needs_feedback(platform):
    hit_id = make_hit(platform, "tok-c", n=2)
    a, b = wait_n(platform, hit_id, 2)
    before = platform.get_account_balance().available_usd
    platform.approve_assignment(a.assignment_id)
    with pytest.raises(InvalidRequestError):
        platform.approve_assignment(a.assignment_id)
    assert platform.get_assignment(a.assignment_id).status == PlatformAssignmentStatus.APPROVED
    assert before - platform.get_account_balance().available_usd == Decimal("0.06")
    with pytest.raises(ValueError):
        platform.reject_assignment(b.assignment_id, "  ")
    platform.reject_assignment(b.assignment_id, "Control answer was 'dog'.")
    assert platform.get_assignment(b.assignment_id).status == PlatformAssignmentStatus.REJECTED


def test_bonus_is_idempotent(platform):
    hit_id = make_hit(platform, "tok-d", n=1)
    (a,) = wait_n(platform, hit_id, 1)
    before = platform.get_account_balance().available_usd
    bonus = BonusRequest(a.worker_id, a.assignment_id, Decimal("0.10"), "thanks", "bonus-1")
    platform.send_bonus(bonus)
    with pytest.raises(AlreadyDoneError):
        platform.send_bonus(bonus)
    assert before - platform.get_account_balance().available_usd == Decimal("0.12")


def test_additional_assignments_respect_the_ten_limit(platform):
    hit_id = make_hit(platform, "tok-e", n=8)
    platform.create_additional_assignments(hit_id, 1, "extra-1")
    with pytest.raises(AlreadyDoneError):
        platform.create_additional_assignments(hit_id, 1, "extra-1")
    assert platform.get_hit(hit_id).max_assignments == 9
    with pytest.raises(InvalidRequestError):
        platform.create_additional_assignments(hit_id, 1, "extra-2")


def test_expire_and_delete(platform, simulator_factory):
    quiet = connect(simulator_factory(simulate_workers=False))
    hit_id = make_hit(quiet, "tok-f", n=2)
    with pytest.raises(InvalidRequestError):
        quiet.delete_hit(hit_id)  # still assignable
    quiet.update_expiration(hit_id, datetime.now(UTC) - timedelta(minutes=1))
    assert quiet.get_hit(hit_id).status == PlatformHitStatus.REVIEWABLE
    quiet.delete_hit(hit_id)
    assert quiet.get_hit(hit_id).status == PlatformHitStatus.DISPOSED
    assert hit_id not in {h.hit_id for h in quiet.iter_hits()}


def test_qualifications_and_blocks(platform, sim):
    q1 = platform.create_qualification_type("excluded-x", "test")
    assert platform.create_qualification_type("excluded-x", "test") == q1
    spec = HitTypeSpec(
        title="t",
        description="d",
        reward_usd=Decimal("0.02"),
        qualification_requirements=(QualificationRequirement(q1, "DoesNotExist"),),
    )
    type_id = platform.create_hit_type(spec)
    first = platform.create_hit(HitRequest(type_id, question(), 3, 3600, "tok-g", '{"k":"k1"}'))
    workers = [a.worker_id for a in wait_n(platform, first, 3)]
    for w in workers:
        platform.associate_qualification(q1, w, 1)
    platform.block_worker(workers[0], "failed controls")
    second = platform.create_hit(HitRequest(type_id, question(), 3, 3600, "tok-h", '{"k":"k1"}'))
    later = wait_n(platform, second, 3)
    assert not {a.worker_id for a in later} & set(workers)
    res = platform.notify_workers([*workers, "ANOBODY0000000"], "hello", "thanks")
    assert set(res.failures) == {"ANOBODY0000000"}


def test_paginators_walk_every_page(platform, sim):
    type_id = platform.create_hit_type(SPEC)
    ids = {
        platform.create_hit(HitRequest(type_id, question(), 1, 3600, f"tok-p{i}", ""))
        for i in range(23)
    }
    client = platform._client  # the raw boto3 client: check small pages too
    pages = list(client.get_paginator("list_hits").paginate(PaginationConfig={"PageSize": 5}))
    assert len(pages) == 5
    assert {h["HITId"] for p in pages for h in p["HITs"]} == ids
    assert {h.hit_id for h in platform.iter_hits()} == ids


def test_eventual_consistency_is_reported_as_not_ready(simulator_factory):
    sim = simulator_factory(
        faults={"consistency_lag_s": 3600.0}, time_factor=1.0, workers={"mean_arrival_s": 0.01}
    )
    platform = connect(sim)
    hit_id = make_hit(platform, "tok-i", n=1)
    (a,) = wait_n(platform, hit_id, 1)
    with pytest.raises(NotReadyError):
        platform.approve_assignment(a.assignment_id)
    with pytest.raises(NotReadyError):
        platform.send_bonus(BonusRequest(a.worker_id, a.assignment_id, Decimal("0.01"), "r", "b-i"))


def test_throttling_and_faults_are_retried_by_botocore(simulator_factory):
    sim = simulator_factory(faults={"throttle_rate": 0.3, "error_rate": 0.1})
    platform = connect(sim)
    for _ in range(8):
        assert platform.get_account_balance().available_usd == Decimal("10000.00")
    req = sim.stats()["requests"]
    assert req.get("throttled", 0) + req.get("fault", 0) > 0


def test_wire_protocol_errors_have_mturk_shape(sim):
    def post(target, body, auth=True):
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
        if auth:
            headers["Authorization"] = (
                "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/mturk-requester/"
                "aws4_request, SignedHeaders=host, Signature=abc"
            )
        req = urllib.request.Request(sim.endpoint_url + "/", data=body, headers=headers)
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    t = "MTurkRequesterServiceV20170117."
    status, body = post(t + "GetAccountBalance", b"{}", auth=False)
    assert status == 403
    status, body = post(t + "CreateHITType", json.dumps({"Title": "x"}).encode())
    assert status == 400 and body["__type"].endswith("#RequestError")
    assert "Missing required parameter" in body["Message"] and body["TurkErrorCode"]
    status, body = post(
        t + "CreateHITType",
        json.dumps(
            {"Title": "x", "Description": "d", "Reward": "0.123", "AssignmentDurationInSeconds": 60}
        ).encode(),
    )
    assert status == 400 and "Reward" in body["Message"]
    status, body = post(t + "GetHIT", json.dumps({"HITId": "NOPE"}).encode())
    assert status == 400 and body["TurkErrorCode"] == "AWS.MechanicalTurk.HITDoesNotExist"
    status, body = post(t + "NoSuchOp", b"{}")
    assert status == 400 and body["__type"] == "UnknownOperationException"
    status, body = post(t + "GetAccountBalance", b"{}")
    assert status == 200 and body["AvailableBalance"] == "10000.00"


def test_state_survives_a_simulator_restart(tmp_path, simulator_factory):
    from orchestrator.simulator import SimulatorConfig, start_simulator

    path = tmp_path / "persist.sqlite"
    sim = start_simulator(SimulatorConfig(state_path=path, time_factor=0.001))
    try:
        hit_id = make_hit(connect(sim), "tok-r")
    finally:
        sim.stop()
    sim2 = start_simulator(SimulatorConfig(state_path=path, time_factor=0.001))
    try:
        platform = connect(sim2)
        assert platform.get_hit(hit_id).hit_id == hit_id
        with pytest.raises(AlreadyDoneError):
            make_hit(platform, "tok-r")
    finally:
        sim2.stop()


def test_platform_errors_are_platform_errors():
    assert issubclass(NotReadyError, PlatformError)
