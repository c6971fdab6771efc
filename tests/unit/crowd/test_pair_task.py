"""CINCER's pair HIT: valid HTMLQuestion XML, answers that parse back to both items, and
pair answers aggregated into per-item verified labels."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregation import MajorityVote, pair_item_answers
from orchestrator.crowd.pair_task import PAIR_TASK, PairView, parse_pair_answer, render_pair
from orchestrator.crowd.render import HTML_QUESTION_NS, ItemView, TaskRenderer
from orchestrator.simulator.question_rules import check_question
from orchestrator.simulator.workers import build_answer_xml

OPTS = ["cat", "dog", "<b>bird</b>"]
IMAGE = "data:image/png;base64,iVBORw0KGgo="


class _Form(HTMLParser):
    """The form's hidden inputs, radio values and select names, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.radios: list[str] = []
        self.selects: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"]] = a["value"]
        elif tag == "input" and a.get("type") == "radio" and a.get("name") == "wrong":
            self.radios.append(a["value"])
        elif tag == "select":
            self.selects.append(a["name"])


def _pair(first_text: str = "a cat, sitting", second_image: bool = True) -> PairView:
    return PairView(
        first=ItemView(key="item-1", current_label="dog", options=OPTS, text=first_text),
        second=ItemView(
            key="item-2",
            current_label="cat",
            options=OPTS,
            image_src=IMAGE if second_image else None,
            text=None if second_image else "a cat",
        ),
    )


def _html(xml: str) -> str:
    root = ET.fromstring(xml)
    assert root.tag == f"{{{HTML_QUESTION_NS}}}HTMLQuestion"
    node = root.find(f"{{{HTML_QUESTION_NS}}}HTMLContent")
    assert node is not None and node.text
    return node.text


@pytest.mark.parametrize("second_image", [True, False])
def test_pair_hit_renders_valid_html_question_and_answers_parse_back(second_image: bool) -> None:
    xml = render_pair(TaskRenderer(), _pair(second_image=second_image))
    assert check_question(xml) == "HTMLQuestion"
    html = _html(xml)
    assert ('<img id="cc-second-image"' in html) == second_image
    form = _Form()
    form.feed(html)
    assert form.radios == ["first", "second", "both", "neither"]
    assert form.selects == ["first_label", "second_label"]
    # A worker says the first label is wrong and picks "cat"; the second is kept.
    posted = {
        **{k: v for k, v in form.hidden.items() if k != "assignmentId"},
        "wrong": "first",
        "first_label": "cat",
    }
    ans = parse_pair_answer(build_answer_xml(posted), OPTS)
    assert ans.problem is None
    assert (ans.first_key, ans.first_label) == ("item-1", "cat")
    assert (ans.second_key, ans.second_label) == ("item-2", "cat")


def test_the_example_context_renders() -> None:
    r = TaskRenderer()
    assert PAIR_TASK in r.task_types()
    html = _html(r.render_question(PAIR_TASK, r.example_context(PAIR_TASK)))
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert 'src="data:image/png;base64,' in html


def test_hostile_text_stays_text_in_a_pair() -> None:
    hostile = "]]></HTMLContent><x><script>alert(1)</script>]]>"
    xml = render_pair(TaskRenderer(), _pair(first_text=hostile))
    assert check_question(xml) == "HTMLQuestion"
    assert "<script>alert(1)" not in _html(xml)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"wrong": "first"}, "without picking"),
        ({"wrong": "first", "first_label": "dog"}, "picked it again"),
        ({"wrong": "neither", "second_label": "dog"}, "kept the second label"),
        ({"wrong": "maybe"}, "no valid 'wrong'"),
        ({"wrong": "both", "first_label": "cat", "second_label": "fish"}, "not an option"),
    ],
)
def test_contradictory_pair_answers_are_unusable(fields: dict[str, str], problem: str) -> None:
    base = {
        "first_key": "item-1",
        "first_current_label": "dog",
        "second_key": "item-2",
        "second_current_label": "cat",
    }
    ans = parse_pair_answer(build_answer_xml({**base, **fields}), OPTS)
    assert ans.first_label is None and ans.second_label is None
    assert ans.problem is not None and problem in ans.problem
    assert ans.first_key == "item-1"  # still known, for the record


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200), st.dictionaries(st.text(max_size=15), st.text(max_size=30)))
def test_pair_parser_never_raises(raw: str, fields: dict[str, str]) -> None:
    parse_pair_answer(raw, OPTS)
    parse_pair_answer(build_answer_xml({k: v for k, v in fields.items() if k.isidentifier()}))


def test_pair_answers_aggregate_into_per_item_verified_labels() -> None:
    # Item a is in two pairs (with b, then with c); three workers per pair.
    pairs = pd.DataFrame(
        {
            "worker": ["w1", "w2", "w3", "w1", "w4", "w5"],
            "first": ["a", "a", "a", "c", "c", "c"],
            "second": ["b", "b", "b", "a", "a", "a"],
            "first_label": ["cat", "cat", "dog", "dog", "dog", None],
            "second_label": ["dog", "dog", "dog", "cat", "cat", None],
        }
    )
    answers = pair_item_answers(pairs)
    assert list(answers.columns) == ["task", "worker", "label"]
    assert len(answers) == 10  # the unusable answer (w5) is dropped on both items
    labels = MajorityVote().fit_predict(answers)
    assert labels.to_dict() == {"a": "cat", "b": "dog", "c": "dog"}
    with pytest.raises(ValueError, match="lacks columns"):
        pair_item_answers(pairs.drop(columns=["second_label"]))


def test_simulated_workers_anchor_on_a_shown_suggestion_with_the_configured_probability() -> None:
    import numpy as np

    from orchestrator.simulator.workers import FormInfo, SimWorker, simulate_answer

    worker = SimWorker("A1", "diligent", 1.0, 99, "US", 0.0, 1.0)
    form = FormInfo(
        hidden={"item_key": "k", "current_label": "cat", "suggested_label": "dog"},
        options=OPTS,
    )
    plain = FormInfo(hidden={"item_key": "k", "current_label": "cat"}, options=OPTS)
    rng = np.random.default_rng(0)
    answers = [simulate_answer(worker, "cat", form, rng, anchoring=0.3) for _ in range(2000)]
    share = np.mean([a.get("label") == "dog" for a in answers])
    assert 0.26 < share < 0.34  # a perfect worker copies the suggestion 30 % of the time
    # No suggestion shown, or no anchoring: the perfect worker keeps the true label, and no
    # random draw is spent on the suggestion (seeded runs stay as they were).
    r1, r2 = np.random.default_rng(1), np.random.default_rng(1)
    a = simulate_answer(worker, "cat", plain, r1, anchoring=0.3)
    b = simulate_answer(worker, "cat", form, r2, anchoring=0.0)
    assert a["is_correct"] == b["is_correct"] == "yes"
    assert r1.random() == r2.random()
