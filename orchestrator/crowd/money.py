"""Money rules of the crowd boundary: exact ``Decimal`` USD, two decimals, MTurk's 20 % fee.

Every amount that can reach MTurk passes through :func:`validate_usd` first, so a malformed
reward or bonus is refused here, before any network call (botocore does not check the
``CurrencyAmount`` pattern). Internal bookkeeping keeps four decimals (1/100 cent) so the fee on
a one-cent reward stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

#: MTurk commission on rewards and bonuses for HITs with at most 9 assignments (fraction).
FEE_RATE = Decimal("0.20")
#: HITs with 10 or more assignments pay another 20 %; we never create them.
MAX_ASSIGNMENTS_PER_HIT = 9
#: MTurk's minimum reward per assignment, USD.
MIN_REWARD_USD = Decimal("0.01")
#: A sanity ceiling per assignment or bonus, USD: a typo such as "50" for "0.50" is refused.
MAX_SINGLE_PAYMENT_USD = Decimal("100.00")

CENT = Decimal("0.01")
LEDGER_QUANTUM = Decimal("0.0001")


class MoneyError(ValueError):
    """An amount that must never be sent to the platform (bad format, sign, precision or size)."""


def validate_usd(
    value: Decimal | str | int,
    *,
    what: str = "amount",
    minimum: Decimal = MIN_REWARD_USD,
    maximum: Decimal = MAX_SINGLE_PAYMENT_USD,
) -> Decimal:
    """Return ``value`` as a ``Decimal`` USD amount with exactly two decimals, or raise.

    Accepts ``Decimal``, ``int`` or a decimal string; refuses ``float`` (binary rounding),
    NaN/infinity, more than two decimals, and amounts outside ``[minimum, maximum]`` USD.
    """
    if isinstance(value, (bool, float)):
        raise MoneyError(f"{what} must be a Decimal or decimal string, not {type(value).__name__}")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise MoneyError(f"{what} {value!r} is not a decimal number") from exc
    if not amount.is_finite():
        raise MoneyError(f"{what} {value!r} is not finite")
    if amount > maximum:
        raise MoneyError(f"{what} {amount} USD is above the ceiling {maximum} USD")
    # Before quantize: an amount with more digits than the context's precision (e.g. -1e26)
    # makes quantize raise InvalidOperation instead of answering.
    if amount < minimum:
        raise MoneyError(f"{what} {amount} USD is below the minimum {minimum} USD")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise MoneyError(f"{what} {value!r} has more than two decimals")
    amount = amount.quantize(CENT)
    if amount < minimum:
        raise MoneyError(f"{what} {amount} USD is below the minimum {minimum} USD")
    if amount > maximum:
        raise MoneyError(f"{what} {amount} USD is above the ceiling {maximum} USD")
    return amount


def format_usd(amount: Decimal) -> str:
    """The wire form MTurk expects (``CurrencyAmount``: digits, a dot, two decimals)."""
    return f"{validate_usd(amount, minimum=Decimal('0')):.2f}"


def fee_for(amount: Decimal) -> Decimal:
    """MTurk's commission on ``amount`` USD (rewards and bonuses), exact to 1/100 cent."""
    return (amount * FEE_RATE).quantize(LEDGER_QUANTUM)


def with_fee(amount: Decimal) -> Decimal:
    """``amount`` USD plus MTurk's commission."""
    return amount + fee_for(amount)


def split_fee(total: Decimal) -> tuple[Decimal, Decimal]:
    """``(amount, fee)`` USD of a ``total`` that includes MTurk's commission (``with_fee``'s
    inverse); the amount is rounded to 1/100 cent and the fee takes the rest, so the two always
    add up to ``total`` exactly (a release gives back to the cent what was reserved)."""
    amount = (total / (1 + FEE_RATE)).quantize(LEDGER_QUANTUM)
    return amount, total - amount


#: Items a pair HIT (CINCER's counter-example task) puts in front of its worker.
ITEMS_PER_PAIR = 2


def pair_reward(reward: Decimal) -> Decimal:
    """The reward of one pair HIT assignment, USD: the per-item reward for each of its two items.

    A worker judges two items in it, so paying one item's reward would halve the hourly rate
    the campaign's reward was set for; and the runner's budget, like the ``cincer_pairs``
    bench row, counts a pair as two items, so a pair HIT costs exactly what two single HITs do.
    """
    return validate_usd(reward * ITEMS_PER_PAIR, what="pair reward")


def validate_assignments(n: int) -> int:
    """Assignments per HIT must be in ``[1, 9]`` so the 10+ surcharge never applies."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_ASSIGNMENTS_PER_HIT:
        raise MoneyError(
            f"assignments per HIT must be an integer in [1, {MAX_ASSIGNMENTS_PER_HIT}], got {n!r}"
        )
    return n


@dataclass(frozen=True)
class CostEstimate:
    """What a batch of HITs costs at most, USD. ``total_usd = rewards_usd + fees_usd``."""

    n_items: int
    n_gold_items: int
    assignments_per_item: int
    reward_usd: Decimal
    n_assignments: int
    rewards_usd: Decimal
    fees_usd: Decimal
    total_usd: Decimal

    def lines(self) -> list[str]:
        """Human-readable breakdown, one line per figure (cents unless sub-cent)."""

        def usd(v: Decimal) -> str:
            return f"{v:.2f}" if v == v.quantize(CENT) else f"{v.normalize():f}"

        return [
            f"items:              {self.n_items} (+ {self.n_gold_items} gold checks)",
            f"assignments:        {self.n_assignments} "
            f"({self.assignments_per_item} per item × {self.reward_usd} USD)",
            f"worker rewards:     {usd(self.rewards_usd)} USD",
            f"MTurk fees ({FEE_RATE * 100:.0f} %):  {usd(self.fees_usd)} USD",
            f"total:              {usd(self.total_usd)} USD",
        ]


def estimate_cost(
    n_items: int,
    assignments_per_item: int,
    reward: Decimal | str,
    *,
    gold_rate: float = 0.0,
) -> CostEstimate:
    """Worst-case cost of publishing ``n_items`` HITs (every assignment approved), USD.

    ``gold_rate`` is the fraction of extra gold-check HITs mixed in per published item
    (``ceil(n_items × gold_rate)`` more HITs, same reward). Raises :class:`MoneyError` for a bad
    reward or assignment count.
    """
    if n_items < 0:
        raise MoneyError(f"n_items must be >= 0, got {n_items}")
    if not 0.0 <= gold_rate < 1.0:
        raise MoneyError(f"gold_rate must be in [0, 1), got {gold_rate}")
    r = validate_usd(reward, what="reward")
    a = validate_assignments(assignments_per_item)
    n_gold = n_gold_for(n_items, gold_rate)
    n_assign = (n_items + n_gold) * a
    rewards = (r * n_assign).quantize(LEDGER_QUANTUM)
    fees = fee_for(rewards)
    return CostEstimate(
        n_items=n_items,
        n_gold_items=n_gold,
        assignments_per_item=a,
        reward_usd=r,
        n_assignments=n_assign,
        rewards_usd=rewards,
        fees_usd=fees,
        total_usd=rewards + fees,
    )


def n_gold_for(n_items: int, gold_rate: float) -> int:
    """Number of gold-check HITs mixed into a batch of ``n_items`` (ceil, 0 when rate is 0)."""
    if gold_rate <= 0 or n_items <= 0:
        return 0
    exact = Decimal(str(gold_rate)) * n_items
    return int(exact.to_integral_value(rounding="ROUND_CEILING"))
