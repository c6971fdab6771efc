"""Defensive parsing of MTurk's ``QuestionFormAnswers`` XML (``Assignment.Answer``).

Workers, browsers and MTurk all get a say in what arrives here, so nothing in this module
raises: an empty, malformed, oversized or entity-laden document, or one with unexpected or
missing fields, yields a :class:`ParsedAnswer` whose ``label`` is ``None`` and whose ``problem``
says why.

The label-verification form posts ``is_correct`` (``yes``/``no``), ``label`` (only when the
answer is no), ``current_label`` and ``item_key``; see ``task_templates/README.md``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Collection
from dataclasses import dataclass, field

#: Documents larger than this many bytes are not parsed at all.
MAX_ANSWER_BYTES = 256 * 1024


@dataclass(frozen=True)
class ParsedAnswer:
    """One assignment's answer. ``label`` is None when unusable (see ``problem``)."""

    label: str | None
    said_correct: bool | None
    item_key: str | None
    fields: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_fields(xml: str | None) -> tuple[dict[str, str], str | None]:
    """The ``QuestionIdentifier → FreeText`` pairs of a document, and a problem (or None)."""
    root, problem = _parse_root(xml)
    if root is None:
        return {}, problem
    fields: dict[str, str] = {}
    for ans in root:
        if _local(ans.tag) != "Answer":
            continue
        qid, value = _answer_field(ans)
        if qid:
            fields[qid] = (value or "").strip()
    return fields, None


def _parse_root(xml: str | None) -> tuple[ET.Element | None, str | None]:
    """(the ``QuestionFormAnswers`` element, None), or (None, why the document is refused).

    Refused before parsing: empty, oversized, or declaring a DTD or entities (the worker
    controls this text; entity expansion is how XML bombs work)."""
    if not xml or not xml.strip():
        return None, "empty answer"
    if len(xml.encode("utf-8", errors="replace")) > MAX_ANSWER_BYTES:
        return None, "answer too large"
    head = xml[:4096].upper()
    if "<!DOCTYPE" in head or "<!ENTITY" in xml.upper():
        return None, "answer declares a DTD or entities"
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        return None, f"malformed XML: {exc}"
    if _local(root.tag) != "QuestionFormAnswers":
        return None, f"unexpected root element {_local(root.tag)!r}"
    return root, None


def _answer_field(ans: ET.Element) -> tuple[str | None, str | None]:
    """(question id, value) of one ``Answer``; several selections join with ``|``."""
    qid: str | None = None
    value: str | None = None
    for child in ans:
        name = _local(child.tag)
        if name == "QuestionIdentifier":
            qid = (child.text or "").strip()
        elif name == "FreeText":
            value = child.text or ""
        elif name == "SelectionIdentifier":
            value = (child.text or "") if value is None else value + "|" + (child.text or "")
    return qid, value


def parse_answer(xml: str | None, options: Collection[str] | None = None) -> ParsedAnswer:
    """Interpret a label-verification answer.

    ``options``: the labels the worker could pick; a label outside them is unusable. The label
    is ``label`` when given, else ``current_label`` when the worker said the label is correct.
    Contradictions (said correct but picked another label) are unusable.
    """
    fields, problem = parse_fields(xml)
    if problem:
        return ParsedAnswer(None, None, None, fields, problem)
    raw_correct = fields.get("is_correct", "").lower()
    said_correct = {"yes": True, "true": True, "no": False, "false": False}.get(raw_correct)
    item_key = fields.get("item_key") or None
    picked = fields.get("label", "")
    current = fields.get("current_label", "")
    label: str | None
    problem = None
    if said_correct is True:
        if picked and current and picked != current:
            label, problem = None, "said correct but picked another label"
        else:
            label = picked or current or None
            if label is None:
                problem = "said correct but the current label was not posted"
    elif said_correct is False:
        label = picked or None
        if label is None:
            problem = "said incorrect without picking a label"
        elif current and label == current:
            label, problem = None, "said incorrect but picked the current label"
    else:
        label = picked or None
        if label is None:
            problem = "no is_correct or label field"
    if label is not None and options is not None and label not in options:
        problem = f"label {label[:40]!r} is not an option"
        label = None
    return ParsedAnswer(label, said_correct, item_key, fields, problem)
