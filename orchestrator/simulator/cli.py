"""``crowdclean simulator serve`` (a typer sub-app named ``app``)."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The local MTurk-compatible simulator.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0 = any free port).")] = 8443,
    state: Annotated[Path, typer.Option(help="SQLite file holding the simulator's state.")] = Path(
        "./crowdclean-simulator.sqlite"
    ),
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="JSON SimulatorConfig (oracle, workers, faults)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Overrides the config's seed.")] = None,
    time_factor: Annotated[
        float | None, typer.Option(help="Multiplies simulated delays (0.01 = 100x faster).")
    ] = None,
) -> None:
    """Run the simulator in the foreground until Ctrl-C."""
    from orchestrator.simulator.config import SimulatorConfig
    from orchestrator.simulator.server import start_simulator

    data = json.loads(config.read_text("utf-8")) if config else {}
    cfg = SimulatorConfig.model_validate(data)
    updates: dict[str, object] = {"host": host, "port": port, "state_path": state}
    if seed is not None:
        updates["seed"] = seed
    if time_factor is not None:
        updates["time_factor"] = time_factor
    cfg = cfg.model_copy(update=updates)
    running = start_simulator(cfg)
    typer.echo(f"MTurk simulator listening on {running.endpoint_url}")
    typer.echo(f"  set CROWDCLEAN_MTURK__ENDPOINT_URL={running.endpoint_url}")
    typer.echo("  any access key / secret is accepted; worker view at /worker")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
