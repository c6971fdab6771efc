"""The orchestrator's side of a simulator in tests: a real boto3 platform pointed at it.

Starting the simulator itself is a fixture (``sim`` in ``tests/integration/crowd/conftest.py``)
or :func:`orchestrator.simulator.start_simulator`; this is the client the product would use.
"""

from __future__ import annotations

from orchestrator.crowd.mturk import MTurkPlatform
from orchestrator.simulator.server import RunningSimulator


def connect(sim: RunningSimulator, rps: float = 200.0) -> MTurkPlatform:
    """A real boto3-backed platform pointed at the simulator."""
    return MTurkPlatform.connect(
        sim.endpoint_url,
        aws_access_key_id="AKIDSIMULATOR",
        aws_secret_access_key="simulator-secret",
        max_requests_per_second=rps,
    )
