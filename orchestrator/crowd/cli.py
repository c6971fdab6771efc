"""``crowdclean campaign estimate | cancel | reconcile`` (a typer sub-app named ``app``)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from orchestrator.crowd.money import MoneyError, estimate_cost

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from orchestrator.crowd.mturk import MTurkPlatform

app = typer.Typer(help="Crowd side of a campaign: cost, cancellation, reconciliation.")


def _engine_and_platform(database_url: str | None) -> tuple[Engine, MTurkPlatform]:
    from orchestrator.crowd.mturk import MTurkPlatform
    from orchestrator.db.engine import make_engine
    from orchestrator.settings import get_settings

    settings = get_settings()
    engine = make_engine(database_url or settings.database_url)
    return engine, MTurkPlatform.from_settings(settings.mturk)


@app.command()
def estimate(
    items: Annotated[int, typer.Option("--items", "-n", help="Items to verify.")],
    assignments: Annotated[int, typer.Option(help="Workers per item (1-9).")] = 3,
    reward: Annotated[str, typer.Option(help="Reward per assignment, USD, e.g. 0.05.")] = "0.05",
    gold_rate: Annotated[float, typer.Option(help="Gold-check HITs per item (0-1).")] = 0.0,
) -> None:
    """Print the worst-case cost (rewards + 20 % MTurk fee) before launching."""
    try:
        est = estimate_cost(items, assignments, Decimal(reward), gold_rate=gold_rate)
    except (MoneyError, ArithmeticError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for line in est.lines():
        typer.echo(line)


@app.command()
def reconcile(
    campaign_id: Annotated[
        uuid.UUID | None, typer.Argument(help="Campaign (default: every crowdclean HIT).")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="Overrides settings.")] = None,
    dispose: Annotated[bool, typer.Option(help="Expire and delete orphan HITs.")] = False,
) -> None:
    """Find HITs on the platform the database does not know (and adopt crashed intents)."""
    from orchestrator.crowd.cancel import reconcile_campaign

    engine, platform = _engine_and_platform(database_url)
    report = reconcile_campaign(engine, platform, campaign_id, dispose_orphans=dispose)
    typer.echo(
        f"adopted {len(report.adopted)}, orphans {len(report.orphans)}, "
        f"disposed {len(report.disposed)}, missing {len(report.missing)}"
    )
    for hit_id in report.orphans:
        typer.echo(f"orphan: {hit_id}")
    for hit_id in report.missing:
        typer.echo(f"missing on platform: {hit_id}")
    for err in report.errors:
        typer.echo(f"error: {err}", err=True)
    if report.errors:
        raise typer.Exit(1)
