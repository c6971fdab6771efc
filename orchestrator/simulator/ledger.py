"""The simulated requester account: MTurk's fees, the balance and the payment ledger.

Money is stored as text decimals; the balance is the initial balance minus every ledger row
(reward or bonus plus MTurk's fee: 20 %, 40 % on the rewards of HITs with 10 or more
assignments). These are MTurk's rates as the stand-in charges them, not the orchestrator's
budget rule (the simulator imports nothing of ``orchestrator`` outside this package).
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

from orchestrator.simulator.errors import request_error

FEE_RATE = Decimal("0.20")
"""MTurk's fee on rewards and bonuses."""

LARGE_HIT_FEE_RATE = Decimal("0.40")
"""MTurk's fee on the rewards of HITs with 10 or more assignments (20 % plus 20 %); bonuses
stay at 20 %."""


def fee(amount: Decimal, rate: Decimal = FEE_RATE) -> Decimal:
    """MTurk's fee on ``amount`` USD, to a hundredth of a cent."""
    return (amount * rate).quantize(Decimal("0.0001"))


def balance(db: sqlite3.Connection, initial_balance_usd: Decimal) -> Decimal:
    """Available balance, USD: ``initial_balance_usd`` minus every payment with its fee."""
    total = Decimal("0")
    for r in db.execute("SELECT amount, fee FROM ledger"):
        total += Decimal(r["amount"]) + Decimal(r["fee"])
    return (Decimal(initial_balance_usd) - total).quantize(Decimal("0.0001"))


def debit(
    db: sqlite3.Connection,
    initial_balance_usd: Decimal,
    kind: str,
    amount: Decimal,
    assignment_id: str,
    worker_id: str,
    reason: str,
    now: float,
    *,
    fee_rate: Decimal = FEE_RATE,
) -> None:
    """Write one payment of ``amount`` USD plus its fee, or refuse it as MTurk does when the
    balance cannot cover both."""
    charge = fee(amount, fee_rate)
    if balance(db, initial_balance_usd) < amount + charge:
        raise request_error(
            "You do not have enough funds to complete this transaction.", "InsufficientFunds"
        )
    db.execute(
        "INSERT INTO ledger(kind, amount, fee, assignment_id, worker_id, reason, created) "
        "VALUES (?,?,?,?,?,?,?)",
        (kind, str(amount), str(charge), assignment_id, worker_id, reason, now),
    )


def pay_reward(
    db: sqlite3.Connection,
    initial_balance_usd: Decimal,
    assignment_id: str,
    worker_id: str,
    now: float,
    *,
    kind: str,
) -> None:
    """Pay the HIT type's reward for one assignment and mark it Approved.

    ``kind``: ``reward`` (ApproveAssignment) or ``auto_reward`` (the auto-approval delay ran out).
    """
    row = db.execute(
        "SELECT t.spec, h.max_assignments FROM assignments a JOIN hits h ON h.id=a.hit_id "
        "JOIN hit_types t ON t.id=h.hit_type_id WHERE a.id=?",
        (assignment_id,),
    ).fetchone()
    reward = Decimal(json.loads(row["spec"])["Reward"])
    rate = LARGE_HIT_FEE_RATE if int(row["max_assignments"]) >= 10 else FEE_RATE
    debit(db, initial_balance_usd, kind, reward, assignment_id, worker_id, "", now, fee_rate=rate)
    db.execute(
        "UPDATE assignments SET status='Approved', approval_time=? WHERE id=?",
        (now, assignment_id),
    )
