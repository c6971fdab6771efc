"""Answer parsing never crashes; templates render safe, valid HTMLQuestion XML."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.crowd.answers import parse_answer
from orchestrator.crowd.identity import unique_request_token
from orchestrator.crowd.ratelimit import TokenBucket
from orchestrator.crowd.render import (
    HTML_QUESTION_NS,
    ItemView,
    QuestionTooLargeError,
    TaskRenderer,
    UnsafeImageSourceError,
    cdata,
    grayscale_png_data_uri,
    html_question,
)
from orchestrator.simulator.workers import build_answer_xml

OPTS = ["cat", "dog"]


@pytest.mark.parametrize(
    "xml",
    [
        "",
        "   ",
        "<a",
        "<QuestionFormAnswers/>",
        "<Other/>",
        "not xml at all",
        '<!DOCTYPE x [<!ENTITY a "aaaa">]><QuestionFormAnswers>&a;</QuestionFormAnswers>',
        build_answer_xml({"unexpected": "field"}),
        build_answer_xml({"is_correct": "no"}),
        build_answer_xml({"is_correct": "no", "label": "horse"}),
        build_answer_xml({"is_correct": "yes", "label": "dog", "current_label": "cat"}),
    ],
)
def test_unusable_answers_give_no_label(xml):
    parsed = parse_answer(xml, OPTS)
    assert parsed.label is None and parsed.problem


def test_usable_answers():
    assert (
        parse_answer(
            build_answer_xml({"is_correct": "no", "label": "dog", "current_label": "cat"}), OPTS
        ).label
        == "dog"
    )
    yes = parse_answer(build_answer_xml({"is_correct": "yes", "current_label": "cat"}), OPTS)
    assert yes.label == "cat" and yes.said_correct is True


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.dictionaries(st.text(max_size=20), st.text(max_size=50)))
def test_parser_never_raises(raw, fields):
    parse_answer(raw, OPTS)
    parse_answer(build_answer_xml({k: v for k, v in fields.items() if k.isidentifier()}), OPTS)


@pytest.mark.parametrize("task", ["label_verification_text", "label_verification_image"])
def test_example_contexts_render_valid_html_question(task):
    r = TaskRenderer()
    xml = r.render_question(task, r.example_context(task))
    root = ET.fromstring(xml)
    assert root.tag == f"{{{HTML_QUESTION_NS}}}HTMLQuestion"
    html = root.find(f"{{{HTML_QUESTION_NS}}}HTMLContent").text
    assert 'name="assignmentId"' in html and "turkSubmitTo" in html
    assert "externalSubmit" in html
    assert "<script>alert" not in html


def test_item_text_cannot_break_cdata_or_inject_markup():
    hostile = "]]></HTMLContent><FrameHeight>1</FrameHeight><x><script>alert(1)</script>]]>"
    r = TaskRenderer()
    xml = r.render_item(ItemView(key="k", current_label="cat", options=OPTS, text=hostile))
    root = ET.fromstring(xml)
    html = root.find(f"{{{HTML_QUESTION_NS}}}HTMLContent").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert root.find(f"{{{HTML_QUESTION_NS}}}FrameHeight").text == "0"


def test_cdata_split():
    raw = "a]]>b"
    root = ET.fromstring(f"<x>{cdata(raw)}</x>")
    assert root.text == raw


def test_strict_undefined_and_limits():
    r = TaskRenderer()
    ctx = r.example_context("label_verification_text")
    del ctx["worked_example"]
    with pytest.raises(Exception, match="worked_example"):
        r.render_html("label_verification_text", ctx)
    with pytest.raises(QuestionTooLargeError):
        html_question("x" * 70_000)
    with pytest.raises(UnsafeImageSourceError):
        r.render_item(
            ItemView(key="k", current_label="cat", options=OPTS, image_src="javascript:alert(1)")
        )
    with pytest.raises(ValueError):
        r.render_item(ItemView(key="k", current_label="emu", options=OPTS, text="x"))


def test_pixel_images_render():
    uri = grayscale_png_data_uri([[0.0, 1.0], [1.0, 0.0]], scale=4)
    assert uri.startswith("data:image/png;base64,")
    xml = TaskRenderer().render_item(
        ItemView(key="k", current_label="cat", options=OPTS, image_src=uri)
    )
    assert uri in xml


def test_tokens_are_deterministic_and_short():
    c, i = uuid.uuid4(), uuid.uuid4()
    t = unique_request_token(c, i, 0)
    assert t == unique_request_token(c, i, 0) != unique_request_token(c, i, 1)
    assert len(t) <= 64


def test_token_bucket_limits_rate():
    now = [0.0]
    slept: list[float] = []

    def sleep(d: float) -> None:
        slept.append(d)
        now[0] += d

    bucket = TokenBucket(5.0, capacity=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(12):
        bucket.acquire()
    assert now[0] == pytest.approx(2.0, abs=1e-6)  # 2 burst + 10 at 5/s
