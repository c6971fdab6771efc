"""The simulator's HTTP server: MTurk's JSON 1.1 Requester API plus a worker view.

API: ``POST /`` with ``X-Amz-Target: MTurkRequesterServiceV20170117.<Operation>`` and
``Content-Type: application/x-amz-json-1.1``. Requests must carry a SigV4 ``Authorization``
header (its signature is not verified) and are validated against botocore's own service model
(``ParamValidator`` plus the ``max``/``pattern``/``enum`` constraints botocore leaves to the
server). Errors use MTurk's shape ``{"__type": "...#RequestError", "Message", "TurkErrorCode"}``
(400), ``ServiceFault`` (500) and ``ThrottlingException`` (400, retried by botocore).

Worker view (for browsers):

* ``GET /worker`` lists assignable HITs;
* ``GET /mturk/preview?hitId=H`` shows a HIT in preview
  (``assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE``);
* ``GET /worker/hit/<H>?workerId=A...`` accepts it and redirects to its frame;
* ``GET /worker/frame/<H>?assignmentId=..&hitId=..&workerId=..&turkSubmitTo=..`` serves the
  HIT's HTML exactly as MTurk frames it;
* ``POST /mturk/externalSubmit`` records the form as the assignment's ``QuestionFormAnswers``.
* ``GET /sim/stats`` returns JSON counters (HITs, duplicates, payments, balance).
"""

from __future__ import annotations

import html
import json
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import botocore.session
import numpy as np
from botocore import xform_name
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

from orchestrator.simulator.config import SimulatorConfig
from orchestrator.simulator.errors import MTurkError
from orchestrator.simulator.state import SimulatorState

TARGET_PREFIX = "MTurkRequesterServiceV20170117."
ERROR_PREFIX = "com.amazonaws.mechanicalturk.requester#"
NOT_AVAILABLE = "ASSIGNMENT_ID_NOT_AVAILABLE"
"""The ``assignmentId`` MTurk puts in a HIT's frame URL while a worker only previews it."""
_AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=[^/,\s]+/\d{8}/[^/]+/[^/]+/aws4_request,")
#: Operations whose effect a "lost response" fault may keep (5xx after the state changed).
_MUTATING = {
    "CreateHITWithHITType",
    "ApproveAssignment",
    "RejectAssignment",
    "SendBonus",
    "CreateAdditionalAssignmentsForHIT",
    "DeleteHIT",
    "UpdateExpirationForHIT",
    "CreateQualificationType",
}
_MODEL: ServiceModel | None = None


def service_model() -> ServiceModel:
    """botocore's MTurk service model (loaded once)."""
    global _MODEL
    if _MODEL is None:
        _MODEL = botocore.session.get_session().get_service_model("mturk")
    return _MODEL


def _check_constraints(value: Any, shape: Shape, path: str, errors: list[str]) -> None:
    """The constraints botocore's client-side validator skips (string max, pattern, enum)."""
    if value is None:
        return
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            if name in value:
                _check_constraints(value[name], member, f"{path}.{name}", errors)
    elif t == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            _check_constraints(v, shape.member, f"{path}[{i}]", errors)  # type: ignore[attr-defined]
    elif t == "string" and isinstance(value, str):
        meta = shape.metadata
        if "max" in meta and len(value) > int(meta["max"]):
            errors.append(f"{path}: longer than {meta['max']} characters")
        if "pattern" in meta and not re.fullmatch(str(meta["pattern"]).strip("^$"), value):
            errors.append(f"{path}: does not match {meta['pattern']}")
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            errors.append(f"{path}: must be one of {list(enum)}")
    elif t in ("integer", "long") and isinstance(value, int):
        meta = shape.metadata
        if "min" in meta and value < int(meta["min"]):
            errors.append(f"{path}: below {meta['min']}")
        if "max" in meta and value > int(meta["max"]):
            errors.append(f"{path}: above {meta['max']}")


def validate_request(operation: OperationModel, params: Any) -> None:
    """Raise a ``RequestError`` MTurkError when ``params`` does not fit the operation's input."""
    shape = operation.input_shape
    if not isinstance(params, dict):
        raise MTurkError("The request body must be a JSON object.", turk_code="ValidationError")
    if shape is None:
        return
    report = ParamValidator().validate(params, shape)
    errors: list[str] = []
    if report.has_errors():
        errors.append(report.generate_report())
    _check_constraints(params, shape, "input", errors)
    if errors:
        raise MTurkError(
            "Parameter validation failed: " + "; ".join(errors),
            turk_code="AWS.MechanicalTurk.ParameterValidationError",
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


class Simulator:
    """The simulator core: state + fault injection + the request dispatcher (no sockets)."""

    def __init__(self, config: SimulatorConfig, state_path: Path) -> None:
        self.config = config
        self.state = SimulatorState(config, state_path)
        self._fault_rng = np.random.default_rng([config.seed, 5])
        self._fault_lock = threading.Lock()
        self._ops: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        model = service_model()
        for name in model.operation_names:
            fn = getattr(self.state, "op_" + xform_name(name), None)
            if fn is not None:
                self._ops[name] = fn

    @property
    def operations(self) -> list[str]:
        """The MTurk operations this simulator implements."""
        return sorted(self._ops)

    def _draw(self) -> float:
        with self._fault_lock:
            return float(self._fault_rng.random())

    def handle_api(self, target: str, auth: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """One API call → (HTTP status, JSON body)."""
        if self.config.require_auth and not _AUTH_RE.match(auth or ""):
            return 403, {
                "__type": "MissingAuthenticationTokenException",
                "message": "Missing or malformed SigV4 Authorization header.",
            }
        if not target.startswith(TARGET_PREFIX):
            return 400, {"__type": "UnknownOperationException", "message": target}
        op_name = target[len(TARGET_PREFIX) :]
        fn = self._ops.get(op_name)
        if fn is None:
            return 400, {"__type": "UnknownOperationException", "message": op_name}
        faults = self.config.faults
        if faults.latency_s:
            time.sleep(faults.latency_s)
        roll = self._draw()
        if roll < faults.throttle_rate:
            self.state.record_request(op_name, "throttled")
            return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        fault = roll < faults.throttle_rate + faults.error_rate
        lost_response = fault and op_name in _MUTATING and self._draw() < 0.5
        if fault and not lost_response:
            self.state.record_request(op_name, "fault")
            return 500, self._service_fault()
        try:
            params = json.loads(body.decode("utf-8") or "{}")
            validate_request(service_model().operation_model(op_name), params)
            self.state.tick()
            result = fn(params)
        except MTurkError as exc:
            self.state.record_request(op_name, "error")
            return exc.status, {
                "__type": ERROR_PREFIX + exc.kind,
                "Message": str(exc),
                "TurkErrorCode": exc.turk_code,
            }
        except (ValueError, UnicodeDecodeError) as exc:
            self.state.record_request(op_name, "error")
            return 400, {
                "__type": ERROR_PREFIX + "RequestError",
                "Message": f"Malformed request: {exc}",
                "TurkErrorCode": "AWS.MechanicalTurk.ParameterValidationError",
            }
        if lost_response:
            self.state.record_request(op_name, "lost_response")
            return 500, self._service_fault()
        self.state.record_request(op_name, "ok")
        return 200, _jsonable(result)

    @staticmethod
    def _service_fault() -> dict[str, Any]:
        return {
            "__type": ERROR_PREFIX + "ServiceFault",
            "Message": "Amazon Mechanical Turk is temporarily unable to process your request.",
            "TurkErrorCode": "AWS.ServiceUnavailable",
        }


# --------------------------------------------------------------------------- HTTP


def _page(title: str, body: str) -> bytes:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        + html.escape(title)
        + "</title></head><body>"
        + body
        + "</body></html>"
    ).encode()


def _url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    if isinstance(host, bytes):
        host = host.decode()
    return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests and the demo print their own progress

    def _send(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _base_url(self) -> str:
        return _url_of(self.server)

    def do_POST(self) -> None:
        sim = self.server.sim
        path = urllib.parse.urlparse(self.path).path
        body = self._read_body()
        if path == "/":
            status, payload = sim.handle_api(
                self.headers.get("X-Amz-Target", ""), self.headers.get("Authorization", ""), body
            )
            out = json.dumps(payload).encode()
            self._send(
                status,
                out,
                "application/x-amz-json-1.1",
                {"x-amzn-RequestId": f"sim-{time.time_ns()}"},
            )
            return
        if path == "/mturk/externalSubmit":
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            fields = {k: v[-1] for k, v in form.items()}
            aid = fields.pop("assignmentId", "")
            try:
                hit_id = sim.state.submit(aid, fields)
            except MTurkError as exc:
                self._send(
                    409,
                    _page("Not submitted", f"<p>{html.escape(str(exc))}</p>"),
                    "text/html; charset=utf-8",
                )
                return
            self._send(
                200,
                _page(
                    "Submitted",
                    f"<p id='submitted'>Thank you: assignment {html.escape(aid)} for HIT "
                    f"{html.escape(hit_id)} was submitted.</p>"
                    "<p><a href='/worker'>More HITs</a></p>",
                ),
                "text/html; charset=utf-8",
            )
            return
        self._send(404, b"not found", "text/plain")

    def do_GET(self) -> None:
        sim = self.server.sim
        url = urllib.parse.urlparse(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        path = url.path
        try:
            if path == "/health":
                self._send(200, b"ok", "text/plain")
            elif path == "/sim/stats":
                self._send(200, json.dumps(sim.state.stats()).encode(), "application/json")
            elif path == "/worker":
                sim.state.tick()
                items = "".join(
                    f"<li><a href='/worker/hit/{html.escape(h)}'>{html.escape(t)}</a> "
                    f"(<a href='/mturk/preview?hitId={html.escape(h)}'>preview</a>)</li>"
                    for h, t in sim.state.assignable_hits()
                )
                self._send(
                    200,
                    _page("HITs", f"<h1>Assignable HITs</h1><ul>{items}</ul>"),
                    "text/html; charset=utf-8",
                )
            elif path == "/mturk/preview":
                hit_id = q.get("hitId", "")
                sim.state.question_html(hit_id)  # 404 when unknown
                self._redirect(hit_id, NOT_AVAILABLE, "")
            elif path.startswith("/worker/hit/"):
                hit_id = path.rsplit("/", 1)[-1]
                worker = q.get("workerId") or "ABROWSERWORKER0"
                aid = sim.state.accept(hit_id, worker)
                self._redirect(hit_id, aid, worker)
            elif path.startswith("/worker/frame/"):
                hit_id = path.rsplit("/", 1)[-1]
                self._send(
                    200, sim.state.question_html(hit_id).encode(), "text/html; charset=utf-8"
                )
            else:
                self._send(404, b"not found", "text/plain")
        except MTurkError as exc:
            status = 404 if "does not exist" in str(exc) else 409
            self._send(
                status,
                _page("Unavailable", f"<p>{html.escape(str(exc))}</p>"),
                "text/html; charset=utf-8",
            )

    def _redirect(self, hit_id: str, assignment_id: str, worker_id: str) -> None:
        params = {
            "assignmentId": assignment_id,
            "hitId": hit_id,
            "turkSubmitTo": self._base_url(),
        }
        if worker_id:
            params["workerId"] = worker_id
        loc = f"/worker/frame/{urllib.parse.quote(hit_id)}?{urllib.parse.urlencode(params)}"
        self._send(302, b"", "text/plain", {"Location": loc})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        super().__init__(address, _Handler)
        self.sim = sim


@dataclass
class RunningSimulator:
    """A started simulator. ``endpoint_url`` goes into ``MTurkPlatform.connect``."""

    simulator: Simulator
    server: _Server
    thread: threading.Thread
    state_path: Path
    _tmpdir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the MTurk API (and the worker view)."""
        return _url_of(self.server)

    @property
    def state(self) -> SimulatorState:
        """Direct access to the simulator's state (tests, demo)."""
        return self.simulator.state

    def worker_url(self, hit_id: str, worker_id: str = "ABROWSERWORKER0") -> str:
        """URL at which a browser accepts and works on a HIT."""
        return f"{self.endpoint_url}/worker/hit/{hit_id}?workerId={worker_id}"

    def preview_url(self, hit_id: str) -> str:
        """URL of a HIT's preview (submit disabled)."""
        return f"{self.endpoint_url}/mturk/preview?hitId={hit_id}"

    def stats(self) -> dict[str, Any]:
        """See :meth:`SimulatorState.stats`."""
        return self.simulator.state.stats()

    def stop(self) -> None:
        """Shut the server down and close the state file (which stays on disk)."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.simulator.state.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()


def start_simulator(config: SimulatorConfig | None = None) -> RunningSimulator:
    """Start the simulator on ``config.host:config.port`` (0 = a free port) in a thread."""
    config = config or SimulatorConfig()
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if config.state_path is None:
        tmp = tempfile.TemporaryDirectory(prefix="crowdclean-sim-")
        state_path = Path(tmp.name) / "simulator.sqlite"
    else:
        state_path = config.state_path
    sim = Simulator(config, state_path)
    server = _Server((config.host, config.port), sim)
    thread = threading.Thread(target=server.serve_forever, name="mturk-simulator", daemon=True)
    thread.start()
    return RunningSimulator(sim, server, thread, state_path, tmp)


@contextmanager
def run_simulator(config: SimulatorConfig | None = None) -> Iterator[RunningSimulator]:
    """``with run_simulator(cfg) as sim: MTurkPlatform.connect(sim.endpoint_url, ...)``."""
    running = start_simulator(config)
    try:
        yield running
    finally:
        running.stop()
