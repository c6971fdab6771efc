"""Money validation happens before any platform call; estimates include MTurk's 20 % fee."""

from __future__ import annotations

from decimal import Decimal

import pytest
from botocore.exceptions import ClientError

from orchestrator.crowd.money import (
    MoneyError,
    estimate_cost,
    fee_for,
    format_usd,
    validate_assignments,
    validate_usd,
)
from orchestrator.crowd.mturk import MTurkPlatform, classify_client_error
from orchestrator.crowd.platform import (
    AlreadyDoneError,
    BonusRequest,
    HitTypeSpec,
    InvalidRequestError,
    NotReadyError,
    TransientPlatformError,
)


@pytest.mark.parametrize(
    "bad",
    # -1e26 has more digits than Decimal's precision: quantize itself used to raise
    ["0.001", "-0.05", "0", "abc", "NaN", "Infinity", 0.05, True, "1e400", "100.01", "-1e26"],
)
def test_bad_amounts_are_refused(bad):
    with pytest.raises(MoneyError):
        validate_usd(bad)


@pytest.mark.parametrize("good,wire", [("0.05", "0.05"), ("1", "1.00"), (Decimal("2.5"), "2.50")])
def test_good_amounts(good, wire):
    assert format_usd(validate_usd(good)) == wire


@pytest.mark.parametrize("n", [0, 10, -1, 3.0, True])
def test_assignments_between_one_and_nine(n):
    with pytest.raises(MoneyError):
        validate_assignments(n)


def test_fee_is_exact():
    assert fee_for(Decimal("0.01")) == Decimal("0.0020")
    assert fee_for(Decimal("0.05")) == Decimal("0.0100")


def test_estimate_cost():
    est = estimate_cost(100, 3, "0.05", gold_rate=0.1)
    assert est.n_gold_items == 10
    assert est.n_assignments == 330
    assert est.rewards_usd == Decimal("16.50")
    assert est.fees_usd == Decimal("3.30")
    assert est.total_usd == Decimal("19.80")
    assert any("19.80" in line for line in est.lines())
    with pytest.raises(MoneyError):
        estimate_cost(10, 10, "0.05")
    with pytest.raises(MoneyError):
        estimate_cost(10, 3, "0.055")


class _NoCallClient:
    """A client stub that fails the test if the platform ever reaches it."""

    def __getattr__(self, name):
        raise AssertionError(f"platform called {name} with a bad amount")


def test_platform_validates_before_calling():
    platform = MTurkPlatform(_NoCallClient(), max_requests_per_second=100)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        platform.create_hit_type(
            HitTypeSpec(title="t", description="d", reward_usd=Decimal("0.123"))
        )
    with pytest.raises(MoneyError):
        platform.send_bonus(BonusRequest("AW", "A1", Decimal("0"), "r", "tok"))
    with pytest.raises(MoneyError):
        platform.send_bonus(BonusRequest("AW", "A1", Decimal("1e3"), "r", "tok"))


def _err(code, message, turk="", status=400):
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "TurkErrorCode": turk,
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Op",
    )


def test_error_classification():
    hit = "3" + "A" * 29
    e = classify_client_error(
        _err(
            "RequestError",
            f"The HIT with ID {hit} already exists for the UniqueRequestToken cc1-abc.",
            "AWS.MechanicalTurk.HitAlreadyExists",
        ),
        "CreateHITWithHITType",
    )
    assert isinstance(e, AlreadyDoneError) and e.hit_id == hit
    assert isinstance(
        classify_client_error(_err("ServiceFault", "x", status=500), "Op"), TransientPlatformError
    )
    assert isinstance(
        classify_client_error(_err("ThrottlingException", "x"), "Op"), TransientPlatformError
    )
    assert isinstance(
        classify_client_error(_err("RequestError", "Assignment A does not exist."), "Op"),
        NotReadyError,
    )
    assert isinstance(classify_client_error(_err("RequestError", "bad"), "Op"), InvalidRequestError)
