"""CINCER's pair task: two items whose labels the model finds incompatible, one HIT.

The worker says which label is wrong (``first``, ``second``, ``both`` or ``neither``) and picks
the right label for each wrong one; see ``task_templates/label_verification_pair/``. One pair
answer is an answer about both items: :func:`parse_pair_answer` turns it into one label per
item (the picked label where that side was said wrong, the shown label otherwise), and
:func:`aggregation.pairs.pair_item_answers` turns a frame of them into the ordinary answers
frame every aggregator reads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.crowd.answers import parse_fields
from orchestrator.crowd.render import ItemView, TaskRenderer, safe_image_src

PAIR_TASK = "label_verification_pair"
WRONG_CHOICES = ("first", "second", "both", "neither")


@dataclass(frozen=True)
class PairView:
    """What a worker sees of a pair: two items (``ItemView``: key, current label, text, image
    and/or table of values) sharing one list of options (the first item's)."""

    first: ItemView
    second: ItemView
    title: str | None = None
    instructions: str | None = None


def pair_context(renderer: TaskRenderer, pair: PairView) -> dict[str, Any]:
    """The template context of a pair; unset texts come from the task's ``example.json``."""
    defaults = renderer.example_context(PAIR_TASK)
    options = list(pair.first.options)
    if list(pair.second.options) != options:
        raise ValueError("both items of a pair must offer the same options")

    loopback = renderer.allow_loopback_http

    def side(view: ItemView) -> dict[str, Any]:
        if view.current_label not in options:
            raise ValueError(f"current label {view.current_label!r} is not among the options")
        src = safe_image_src(view.image_src, allow_loopback_http=loopback) if view.image_src else ""
        return {
            "key": view.key,
            "text": view.text or "",
            "image_src": src,
            "current_label": view.current_label,
            "fields": [{"name": n, "value": v} for n, v in view.fields],
            "fields_omitted": view.fields_omitted,
        }

    return {
        "title": pair.title or defaults["title"],
        "instructions": pair.instructions or defaults["instructions"],
        "first": side(pair.first),
        "second": side(pair.second),
        "options": options,
        "worked_example": defaults["worked_example"],
    }


def render_pair(renderer: TaskRenderer, pair: PairView) -> str:
    """HTMLQuestion XML of a pair HIT (raises ``QuestionTooLargeError`` over 64 KiB)."""
    return renderer.render_question(PAIR_TASK, pair_context(renderer, pair))


@dataclass(frozen=True)
class ParsedPairAnswer:
    """One assignment's answer to a pair HIT; labels are None when unusable (``problem``).

    Attributes:
        first_key, second_key: the items' keys as posted back.
        first_label, second_label: the label the worker gives each item.
        wrong: the worker's choice among ``WRONG_CHOICES``.
    """

    first_key: str | None
    second_key: str | None
    first_label: str | None
    second_label: str | None
    wrong: str | None
    fields: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


def _side_label(
    fields: Mapping[str, str], side: str, said_wrong: bool
) -> tuple[str | None, str | None]:
    """(label, problem) of one side: the picked label if said wrong, else the shown one."""
    current = fields.get(f"{side}_current_label", "")
    picked = fields.get(f"{side}_label", "")
    if said_wrong:
        if not picked:
            return None, f"said the {side} label is wrong without picking one"
        if picked == current:
            return None, f"said the {side} label is wrong but picked it again"
        return picked, None
    if picked and picked != current:
        return None, f"kept the {side} label but picked another"
    return (current or None), (None if current else f"the {side} current label was not posted")


def parse_pair_answer(xml: str | None, options: Collection[str] | None = None) -> ParsedPairAnswer:
    """Interpret a pair answer; never raises (like :func:`orchestrator.crowd.answers.parse_answer`).

    A contradiction on either side (said wrong without a label, or kept but picked another)
    makes the whole answer unusable: a worker who contradicts themselves on one item is not
    trusted on the other.
    """
    fields, problem = parse_fields(xml)
    keys = (fields.get("first_key") or None, fields.get("second_key") or None)
    if problem:
        return ParsedPairAnswer(*keys, None, None, None, fields, problem)
    wrong = fields.get("wrong", "").lower()
    if wrong not in WRONG_CHOICES:
        return ParsedPairAnswer(*keys, None, None, None, fields, "no valid 'wrong' field")
    first, p1 = _side_label(fields, "first", wrong in ("first", "both"))
    second, p2 = _side_label(fields, "second", wrong in ("second", "both"))
    problem = p1 or p2
    if problem is None and options is not None:
        bad = [v for v in (first, second) if v not in options]
        if bad:
            problem = f"label {str(bad[0])[:40]!r} is not an option"
    if problem:
        return ParsedPairAnswer(*keys, None, None, wrong, fields, problem)
    return ParsedPairAnswer(*keys, first, second, wrong, fields, None)
