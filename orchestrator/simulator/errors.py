"""MTurk's error shape, as the simulator raises it from its Requester operations.

The HTTP layer (:mod:`orchestrator.simulator.server`) turns an :class:`MTurkError` into the
wire body ``{"__type": "...#<kind>", "Message", "TurkErrorCode"}`` with its status code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.simulator.question_rules import QuestionRuleError


class MTurkError(Exception):
    """An error in MTurk's wire shape. ``kind``: RequestError / ServiceFault / other __type."""

    def __init__(
        self, message: str, *, kind: str = "RequestError", turk_code: str = "", status: int = 400
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.turk_code = turk_code
        self.status = status


def request_error(message: str, code: str) -> MTurkError:
    """A ``RequestError`` (400) whose ``TurkErrorCode`` is ``AWS.MechanicalTurk.<code>``."""
    return MTurkError(message, turk_code=f"AWS.MechanicalTurk.{code}")


def checked(check: Callable[..., Any], *args: Any) -> Any:
    """Run a rule of :mod:`question_rules`, turning its refusal into MTurk's error."""
    try:
        return check(*args)
    except QuestionRuleError as exc:
        raise request_error(str(exc), exc.code) from None
