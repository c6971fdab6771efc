"""The simulator refuses what MTurk refuses, with MTurk's error codes, over the real wire
(boto3 through ``MTurkPlatform``), and charges MTurk's 40 % fee tier; every template's output
for hostile items passes the same rules."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orchestrator.crowd.platform import HitRequest, HitTypeSpec, InvalidRequestError
from orchestrator.crowd.render import ItemView, TaskRenderer, html_question
from orchestrator.simulator.question_rules import (
    EXTERNAL_QUESTION_NS,
    QuestionRuleError,
    check_question,
)
from tests.factories.simulators import connect
from tests.integration.crowd.test_crowd_platform_contract import SPEC, question, wait_n

FORM = '<!DOCTYPE html><form><input name="assignmentId"><button type="submit">go</button></form>'


@pytest.fixture
def platform(simulator_factory: Any) -> Any:
    return connect(simulator_factory(oracle={"k1": "dog"}))


def _code(exc: BaseException) -> str:
    cause = exc.__cause__
    assert isinstance(cause, ClientError), repr(cause)
    return str(cause.response.get("TurkErrorCode") or cause.response["Error"]["Code"])


BAD_QUESTIONS = {
    "vertical tab in CDATA": html_question(FORM).replace("go", "g\x0bo"),
    "NUL": html_question(FORM).replace("go", "g\x00o"),
    "noncharacter": html_question(FORM).replace("go", "g\ufffeo"),
    "not XML": "<HTMLQuestion><HTMLContent>",
    "no namespace": "<HTMLQuestion><HTMLContent>x</HTMLContent><FrameHeight>0</FrameHeight>"
    "</HTMLQuestion>",
    "frame height": html_question(FORM).replace("<FrameHeight>0", "<FrameHeight>tall"),
    "no form": html_question("<!DOCTYPE html><p>hello</p>"),
    "http external": f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}"><ExternalURL>'
    "http://example.com/task</ExternalURL><FrameHeight>400</FrameHeight></ExternalQuestion>",
    "too large": html_question(FORM + "x" * 60_000).replace("x" * 100, "x" * 6_000, 1),
}


@pytest.mark.parametrize("case", sorted(BAD_QUESTIONS))
def test_create_hit_refuses_questions_mturk_refuses(platform: Any, case: str) -> None:
    type_id = platform.create_hit_type(SPEC)
    with pytest.raises(InvalidRequestError) as err:
        platform.create_hit(HitRequest(type_id, BAD_QUESTIONS[case], 1, 3600, f"t-{case}", "{}"))
    assert _code(err.value) == "AWS.MechanicalTurk.ParameterValidationError"


def test_https_external_question_is_accepted(platform: Any) -> None:
    ext = (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_NS}"><ExternalURL>https://example.com/t'
        "</ExternalURL><FrameHeight>400</FrameHeight></ExternalQuestion>"
    )
    assert check_question(ext) == "ExternalQuestion"
    type_id = platform.create_hit_type(SPEC)
    assert platform.create_hit(HitRequest(type_id, ext, 1, 3600, "ext-ok", "{}"))


@pytest.mark.parametrize(
    "change",
    [
        {"title": ""},
        {"title": "t" * 129},
        {"description": "d" * 2001},
        {"keywords": "k" * 1001},
        {"assignment_duration_s": 10},
        {"auto_approval_delay_s": 2_592_001},
    ],
    ids=lambda c: next(iter(c)),
)
def test_create_hit_type_enforces_mturk_ranges(platform: Any, change: dict[str, Any]) -> None:
    import dataclasses

    fields = {f.name for f in dataclasses.fields(HitTypeSpec)}
    assert set(change) <= fields, fields
    with pytest.raises(InvalidRequestError) as err:
        platform.create_hit_type(dataclasses.replace(SPEC, **change))
    assert _code(err.value) == "AWS.MechanicalTurk.ParameterValidationError"


def test_send_bonus_needs_a_reason(platform: Any) -> None:
    type_id = platform.create_hit_type(SPEC)
    hit_id = platform.create_hit(HitRequest(type_id, question(), 1, 3600, "bonus-r", "{}"))
    (a,) = wait_n(platform, hit_id, 1)
    platform.approve_assignment(a.assignment_id)
    raw = platform._client  # the boto3 client: MTurkPlatform itself refuses a blank reason
    with pytest.raises(ClientError) as err:
        raw.send_bonus(
            WorkerId=a.worker_id, AssignmentId=a.assignment_id, BonusAmount="0.10", Reason=" "
        )
    assert err.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.ParameterValidationError"


def test_hits_with_ten_or_more_assignments_pay_the_40_percent_fee(platform: Any) -> None:
    type_id = platform.create_hit_type(SPEC)
    small = platform.create_hit(HitRequest(type_id, question(), 9, 3600, "fee-9", "{}"))
    large = platform.create_hit(HitRequest(type_id, question(), 10, 3600, "fee-10", "{}"))
    for hit_id, per_answer in ((small, Decimal("0.06")), (large, Decimal("0.07"))):
        first = wait_n(platform, hit_id, 9 if hit_id == small else 10)[0]
        before = platform.get_account_balance().available_usd
        platform.approve_assignment(first.assignment_id)
        assert before - platform.get_account_balance().available_usd == per_answer


HOSTILE_TEXTS = [
    "tab\tvertical\x0btab, NUL\x00, escape\x1b, nonchar\ufffe\uffff",
    "]]> <![CDATA[ </HTMLContent></HTMLQuestion> <script>alert(1)</script> {{ 7*7 }}",
    "שלום עולם — مرحبا بالعالم — 你好，世界 — " * 20,
    "x" * 20_000,
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
def test_every_template_renders_hostile_items_into_a_valid_question(text: str) -> None:
    renderer = TaskRenderer()
    labels = ["cat", "dog\x0b", "<b>bird</b>", "]]>"]
    # The pair task has two items and its own context (tests/unit/crowd/test_pair_task.py).
    for task_type in [t for t in renderer.task_types() if t != "label_verification_pair"]:
        ctx = renderer.context_for(
            ItemView(
                key="k\x00" + json.dumps(text[:50]),
                current_label=labels[1],
                options=labels,
                text=text,
                image_src="data:image/png;base64,iVBORw0KGgo=" if "image" in task_type else None,
            )
        )
        xml = renderer.render_question(task_type, ctx)
        assert check_question(xml) == "HTMLQuestion", task_type
        assert "<script>alert(1)</script>" not in xml  # item markup stays text


def test_check_question_reports_the_offending_character() -> None:
    with pytest.raises(QuestionRuleError, match="U\\+000B at offset"):
        check_question(html_question(FORM).replace("go", "\x0b"))
