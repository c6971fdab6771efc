"""MTurk's rules for the ``Question`` of CreateHIT and for CreateHITType, as the simulator
enforces them, so a HIT MTurk would refuse is refused here too, with MTurk's error code.

The rules (MTurk API reference: HTMLQuestion, ExternalQuestion, CreateHITType, Data Structure
Schema Locations):

* ``Question`` is at most 65,535 bytes (UTF-8) and well-formed XML: a control character such as
  ``\\x0b`` or ``\\x00``, or a noncharacter such as ``\\ufffe``, anywhere in it (CDATA included)
  makes the whole document invalid;
* its root is ``HTMLQuestion`` in the 2011-11-11 namespace or ``ExternalQuestion`` in the
  2006-07-14 namespace (a missing or other namespace does not validate against the schema);
* an ``HTMLQuestion`` has a non-empty ``HTMLContent`` and an integer ``FrameHeight`` >= 0 (0:
  the frame takes the whole page); its HTML holds a form, the assignmentId field and a submit;
* an ``ExternalQuestion`` has an ``https`` ``ExternalURL`` and an integer ``FrameHeight`` >= 0;
* CreateHITType: ``Title`` 1-128 characters, ``Description`` 1-2,000, ``Keywords`` at most 1,000,
  ``AssignmentDurationInSeconds`` 30-31,536,000, ``AutoApprovalDelayInSeconds`` 0-2,592,000,
  ``Reward`` a decimal of at least 0.01 USD.

Every refusal is a ``ParameterValidationError`` whose message says which rule failed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation
from typing import Any

HTML_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
)
EXTERNAL_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/"
    "ExternalQuestion.xsd"
)
MAX_QUESTION_BYTES = 65_535

# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
# Python's expat is laxer about some of these inside CDATA, so they are checked explicitly.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class QuestionRuleError(ValueError):
    """A request MTurk would refuse; ``code`` is MTurk's error code (without the prefix)."""

    def __init__(self, message: str, code: str = "ParameterValidationError") -> None:
        super().__init__(message)
        self.code = code


def _frame_height(root: ET.Element, ns: str, what: str) -> None:
    node = root.find(f"{{{ns}}}FrameHeight")
    text = (node.text or "").strip() if node is not None else ""
    if not text.isdigit():
        raise QuestionRuleError(f"{what}: FrameHeight must be a non-negative integer.")


def check_question(question: str) -> str:
    """The question's kind (``"HTMLQuestion"`` or ``"ExternalQuestion"``), or raise
    :class:`QuestionRuleError` naming the rule it breaks."""
    if not question:
        raise QuestionRuleError("Question or HITLayoutId is required.")
    if len(question.encode("utf-8", "surrogatepass")) > MAX_QUESTION_BYTES:
        raise QuestionRuleError(f"Question is larger than {MAX_QUESTION_BYTES} bytes.")
    bad = _NOT_XML_CHAR.search(question)
    if bad is not None:
        raise QuestionRuleError(
            f"Question is not well-formed XML: character U+{ord(bad.group()):04X} at offset "
            f"{bad.start()} is not allowed in XML."
        )
    try:
        root = ET.fromstring(question)
    except ET.ParseError as exc:
        raise QuestionRuleError(f"Question is not well-formed XML: {exc}.") from None
    if root.tag == f"{{{HTML_QUESTION_NS}}}HTMLQuestion":
        content = root.find(f"{{{HTML_QUESTION_NS}}}HTMLContent")
        html = (content.text or "") if content is not None else ""
        if not html.strip():
            raise QuestionRuleError("HTMLQuestion: HTMLContent is required and non-empty.")
        _frame_height(root, HTML_QUESTION_NS, "HTMLQuestion")
        lowered = html.lower()
        if "<form" not in lowered or "assignmentid" not in lowered or "submit" not in lowered:
            raise QuestionRuleError(
                "HTMLQuestion: HTMLContent must hold a form with the assignmentId field and a "
                "submit control."
            )
        return "HTMLQuestion"
    if root.tag == f"{{{EXTERNAL_QUESTION_NS}}}ExternalQuestion":
        url = root.find(f"{{{EXTERNAL_QUESTION_NS}}}ExternalURL")
        if url is None or not (url.text or "").strip().startswith("https://"):
            raise QuestionRuleError("ExternalQuestion: ExternalURL must be an https URL.")
        _frame_height(root, EXTERNAL_QUESTION_NS, "ExternalQuestion")
        return "ExternalQuestion"
    raise QuestionRuleError(
        f"Question does not validate against a schema: root {root.tag!r} is neither "
        "HTMLQuestion (2011-11-11) nor ExternalQuestion (2006-07-14) in its namespace."
    )


def _int_in(spec: dict[str, Any], key: str, lo: int, hi: int) -> None:
    try:
        value = int(spec[key])
    except (KeyError, TypeError, ValueError):
        raise QuestionRuleError(f"{key} is required and must be an integer.") from None
    if not lo <= value <= hi:
        raise QuestionRuleError(f"{key} must be in [{lo}, {hi}].")


def _text_len(spec: dict[str, Any], key: str, lo: int, hi: int) -> None:
    value = spec.get(key, "")
    if not isinstance(value, str) or not lo <= len(value) <= hi:
        raise QuestionRuleError(f"{key} must be a string of {lo} to {hi} characters.")


def check_hit_type(spec: dict[str, Any]) -> None:
    """Raise :class:`QuestionRuleError` if CreateHITType's request breaks MTurk's ranges."""
    _text_len(spec, "Title", 1, 128)
    _text_len(spec, "Description", 1, 2000)
    _text_len(spec, "Keywords", 0, 1000)
    _int_in(spec, "AssignmentDurationInSeconds", 30, 31_536_000)
    _int_in(spec, "AutoApprovalDelayInSeconds", 0, 2_592_000)
    try:
        reward = Decimal(str(spec["Reward"]))
    except (KeyError, InvalidOperation):
        raise QuestionRuleError("Reward is required and must be a decimal USD amount.") from None
    if not reward.is_finite() or reward < Decimal("0.01"):
        raise QuestionRuleError("Reward must be at least 0.01 USD.")
