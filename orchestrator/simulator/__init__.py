"""An MTurk-compatible local simulator (a stand-in for Amazon Mechanical Turk).

Nothing in ``orchestrator`` imports this package except the CLI that starts it and the tests;
the orchestrator talks to it over HTTP with the same boto3 code it uses for MTurk.

Public API::

    from orchestrator.simulator import SimulatorConfig, run_simulator, start_simulator

    with run_simulator(SimulatorConfig(seed=1, time_factor=0.001, oracle={"item-1": "7"})) as sim:
        platform = MTurkPlatform.connect(sim.endpoint_url,
                                         aws_access_key_id="sim", aws_secret_access_key="sim")
        ...
        sim.stats()  # HITs, duplicate tokens, double payments, balance

``crowdclean simulator serve`` runs the same server in the foreground.

Item identity: the simulator reads the item key of a HIT from its ``RequesterAnnotation``
(the JSON field ``"k"`` written by :mod:`orchestrator.crowd`, or the whole annotation when it is
not JSON), falling back to the form's hidden ``item_key`` field. Label options are read from
the form's ``label`` select/radio inputs and the label to verify from its hidden
``current_label`` field.
"""

from orchestrator.simulator.config import (
    FaultConfig,
    SimulatorConfig,
    WorkerKindConfig,
    WorkerPoolConfig,
)
from orchestrator.simulator.server import (
    RunningSimulator,
    Simulator,
    run_simulator,
    start_simulator,
)

__all__ = [
    "FaultConfig",
    "RunningSimulator",
    "Simulator",
    "SimulatorConfig",
    "WorkerKindConfig",
    "WorkerPoolConfig",
    "run_simulator",
    "start_simulator",
]
