"""Every template's HIT passes MTurk's Question rules, for image, tabular, long-text and
(when its template exists) pair items.

The rules (MTurk API reference, HTMLQuestion and CreateHIT): the Question is well-formed XML
whose root is ``HTMLQuestion`` in the 2011-11-11 namespace, with ``HTMLContent`` and an integer
``FrameHeight``, and at most 65,535 bytes ("The XML question data must not be larger than 64
kilobytes (65,535 bytes) in size, including whitespace"). Checked here with the standard
library's XML parser, independently of the simulator, and again with the simulator's rules.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any, ClassVar

import pytest

from orchestrator.crowd.render import (
    HTML_QUESTION_NS,
    IMAGE_TASK,
    MAX_QUESTION_BYTES,
    TABLE_TASK,
    TEXT_TASK,
    ItemView,
    TaskRenderer,
)
from orchestrator.simulator.question_rules import check_question

MARKUP = '<script>window.__pwned=1</script><b onclick="x()">bold</b> ]]> &amp; end'
# Arabic, Hebrew, Chinese, Japanese, Hindi, Thai and an emoji, with markup inside
LONG_TEXT = (
    "هذا الفيلم رائع حقا، والتمثيل ممتاز. " * 120
    + "\n\n"
    + "הסרט הזה נהדר באמת. " * 100
    + "\n这部电影非常好看。日本語の文章も表示されます。यह फ़िल्म बहुत अच्छी है। ภาพยนตร์เรื่องนี้ดีมาก 🎬\n"
    + MARKUP
)
OPTIONS = ["negative", "positive"]


def _views() -> dict[str, ItemView]:
    return {
        "image": ItemView(
            key="img-1",
            current_label="cat",
            options=["cat", "dog"],
            image_src="https://images.example.com/pets/cat%201.jpg?X-Amz-Signature=" + "a" * 64,
            text="caption " + MARKUP,
        ),
        "tabular": ItemView(
            key="tab-1",
            current_label="Adelie",
            options=["Adelie", "Chinstrap", "Gentoo"],
            fields=[(f"measure_{j}", f"{j * 1.5:.1f}") for j in range(40)] + [("note", MARKUP)],
            fields_omitted=12,
        ),
        "long-text": ItemView(
            key="txt-1", current_label="positive", options=OPTIONS, text=LONG_TEXT
        ),
    }


def _assert_valid_question(xml: str) -> str:
    assert len(xml.encode("utf-8")) <= MAX_QUESTION_BYTES == 65_535
    root = ET.fromstring(xml)
    assert root.tag == f"{{{HTML_QUESTION_NS}}}HTMLQuestion"
    assert HTML_QUESTION_NS.endswith("/2011-11-11/HTMLQuestion.xsd")
    content = root.find(f"{{{HTML_QUESTION_NS}}}HTMLContent")
    height = root.find(f"{{{HTML_QUESTION_NS}}}FrameHeight")
    assert content is not None and (content.text or "").strip()
    assert height is not None and (height.text or "").strip().isdigit()
    assert check_question(xml) == "HTMLQuestion"
    html = content.text or ""
    assert html.lstrip().lower().startswith("<!doctype html>")
    _assert_balanced_html(html)
    return html


class _Tags(HTMLParser):
    VOID: ClassVar[set[str]] = {"meta", "input", "img", "br", "hr", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "script":
            self.scripts += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def _assert_balanced_html(html: str) -> None:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    assert parser.stack == []
    assert parser.scripts == 1  # the template's own script; item markup stayed text


@pytest.mark.parametrize("kind", ["image", "tabular", "long-text"])
@pytest.mark.parametrize("frame_height", [0, 900])
def test_each_item_kind_renders_a_valid_html_question(kind: str, frame_height: int) -> None:
    view = _views()[kind]
    html = _assert_valid_question(TaskRenderer(frame_height=frame_height).render_item(view))
    assert MARKUP not in html  # escaped, shown as text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html


def test_each_item_kind_picks_its_template() -> None:
    views = _views()
    assert views["image"].task_type == IMAGE_TASK
    assert views["tabular"].task_type == TABLE_TASK
    assert views["long-text"].task_type == TEXT_TASK


def test_every_template_folder_renders_its_example_and_every_item_kind_validly() -> None:
    renderer = TaskRenderer(frame_height=600)
    types = renderer.task_types()
    assert {IMAGE_TASK, TEXT_TASK, TABLE_TASK} <= set(types)
    for task_type in types:  # a pair template (issue 15), when present, is covered too
        _assert_valid_question(
            renderer.render_question(task_type, renderer.example_context(task_type))
        )
    for task_type in (IMAGE_TASK, TEXT_TASK, TABLE_TASK):
        for view in _views().values():
            ctx = renderer.context_for(view)
            if task_type == IMAGE_TASK and not ctx["item"]["image_src"]:
                continue  # an image page needs an image
            _assert_valid_question(renderer.render_question(task_type, ctx))


def test_long_non_latin_text_is_in_a_scrolling_auto_direction_box() -> None:
    html = _assert_valid_question(TaskRenderer().render_item(_views()["long-text"]))
    assert 'id="cc-item-text" dir="auto" lang=""' in html
    assert "max-height: 24rem; overflow-y: auto" in html
    assert "هذا الفيلم رائع" in html and "这部电影非常好看" in html


def test_table_cells_take_their_own_direction_and_say_what_was_left_out() -> None:
    html = _assert_valid_question(TaskRenderer().render_item(_views()["tabular"]))
    assert (
        '<th scope="row" dir="auto" lang="">measure_3</th><td dir="auto" lang="">4.5</td>' in html
    )
    assert "12 more values are not shown." in html


def test_an_image_url_is_shown_as_is_and_unsafe_ones_are_refused() -> None:
    from orchestrator.crowd.render import UnsafeImageSourceError

    html = _assert_valid_question(TaskRenderer().render_item(_views()["image"]))
    assert 'src="https://images.example.com/pets/cat%201.jpg?X-Amz-Signature=' in html
    for bad in ("javascript:alert(1)", "http://images.example.com/a.png", "ftp://h/a.png"):
        with pytest.raises(UnsafeImageSourceError):
            TaskRenderer().render_item(
                ItemView(key="k", current_label="a", options=["a", "b"], image_src=bad)
            )
    loopback = "http://127.0.0.1:9000/bucket/a.png?sig=1"
    with pytest.raises(UnsafeImageSourceError, match="ALLOW_LOOPBACK_HTTP"):
        TaskRenderer().render_item(
            ItemView(key="k", current_label="a", options=["a", "b"], image_src=loopback)
        )
    dev = TaskRenderer(allow_loopback_http=True).render_item(
        ItemView(key="k", current_label="a", options=["a", "b"], image_src=loopback)
    )
    assert 'src="http://127.0.0.1:9000/bucket/a.png?sig=1"' in dev


def test_a_local_image_is_inlined_whatever_its_size_up_to_the_question_limit(tmp_path) -> None:
    from orchestrator.crowd.render import QuestionTooLargeError

    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 44_000)  # over the former 40 KB cap
    view = ItemView(key="k", current_label="a", options=["a", "b"], image_src=str(png))
    assert "data:image/png;base64," in TaskRenderer().render_item(view)
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 60_000)  # base64 alone is over 64 KiB
    with pytest.raises(QuestionTooLargeError):
        TaskRenderer().render_item(view)
