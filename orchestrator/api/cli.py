"""``crowdclean serve`` and ``crowdclean apikey create|list|revoke`` (typer apps).

Mounted by :mod:`orchestrator.cli`. Every command reads the settings when it runs.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

apikey_app = typer.Typer(help="HTTP API keys (stored hashed; shown once).", no_args_is_help=True)


def _engine():  # type: ignore[no-untyped-def]
    from orchestrator.db.engine import get_engine
    from orchestrator.db.migrate import upgrade

    engine = get_engine()
    upgrade(engine)
    return engine


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@apikey_app.command("create")
def apikey_create(
    requester: Annotated[str, typer.Option(help="Requester the key acts for.")],
    operator: Annotated[
        bool, typer.Option("--operator", help="Operator role: sees and steers every campaign.")
    ] = False,
    note: Annotated[str, typer.Option(help="Free text kept with the key.")] = "",
) -> None:
    """Create a key and print it once (only its SHA-256 digest is stored)."""
    from orchestrator.api.keys import create_api_key
    from orchestrator.db.models import ApiKeyRole

    role = ApiKeyRole.OPERATOR if operator else ApiKeyRole.REQUESTER
    try:
        row, key = create_api_key(_engine(), requester, role=role, note=note)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(key)
    typer.echo(
        f"key {row.prefix} for requester {row.requester!r} ({row.role.value}); "
        "store it now, it cannot be shown again",
        err=True,
    )


@apikey_app.command("list")
def apikey_list(
    requester: Annotated[str | None, typer.Option(help="Only this requester's keys.")] = None,
) -> None:
    """List keys as JSON lines (prefix, requester, role, created, revoked); never the keys."""
    from orchestrator.api.keys import list_api_keys

    for k in list_api_keys(_engine(), requester):
        typer.echo(
            json.dumps(
                {
                    "prefix": k.prefix,
                    "requester": k.requester,
                    "role": k.role.value,
                    "note": k.note,
                    "created_at": k.created_at.isoformat(),
                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                }
            )
        )


@apikey_app.command("revoke")
def apikey_revoke(
    key: Annotated[str, typer.Argument(help="The key's prefix (from `apikey list`) or the key.")],
) -> None:
    """Revoke a key (API processes stop accepting it within `api.auth_cache_ttl_s`)."""
    from orchestrator.api.keys import revoke_api_key

    try:
        row = revoke_api_key(_engine(), key)
    except LookupError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps({"prefix": row.prefix, "revoked_at": str(row.revoked_at)}))


def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default: api.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings api.port).")] = None,
    with_scheduler: Annotated[
        bool,
        typer.Option(
            "--with-scheduler/--no-scheduler",
            help="Also run the campaign scheduler in this process (single-process setups).",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="uvicorn worker processes (each with its own caches and connections)."
        ),
    ] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the HTTP API (uvicorn) on the configured database; migrates it first."""
    import uvicorn

    from orchestrator.api.app import create_app
    from orchestrator.settings import get_settings

    settings = get_settings()
    engine = _engine()
    bind_host = host or settings.api.host
    bind_port = settings.api.port if port is None else port
    if workers > 1:
        if with_scheduler:
            raise _fail(
                "--with-scheduler runs inside a single process; with --workers > 1 run "
                "`crowdclean scheduler` as its own process"
            )
        engine.dispose()  # each worker process builds its own app and engine
        uvicorn.run(
            "orchestrator.api.app:create_app",
            factory=True,
            host=bind_host,
            port=bind_port,
            workers=workers,
            log_level=log_level,
        )
        return
    scheduler = None
    if with_scheduler:
        try:
            from orchestrator.scheduler.service import build_scheduler
        except ImportError as exc:
            raise _fail(f"scheduler not available ({exc})") from exc
        scheduler = build_scheduler(settings, engine=engine, background=True)
        scheduler.start()
    app = create_app(settings, engine=engine)
    try:
        uvicorn.run(app, host=bind_host, port=bind_port, log_level=log_level)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
