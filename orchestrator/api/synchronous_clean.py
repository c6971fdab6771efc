"""The rules of ``POST /v1/datasets/{ref}/clean``: a crowd-free fit while the client waits.

A synchronous request holds an API worker thread for the whole fit, so it is bounded three
ways, each answered before any fitting starts:

* **size**: datasets over ``api.clean_max_items`` items answer 422 ``dataset-too-large``
  (clean them with ``crowdclean clean``, which has no such limit);
* **cost per item**: the request's model overrides may make the fit cheaper than the default
  :class:`ModelConfig`, never dearer (:func:`check_model_cost`), and never pick the server's
  device or thread count;
* **concurrency**: at most ``api.clean_concurrency`` fits per process (:class:`CleanSlots`);
  a request beyond them answers 503 ``busy`` with ``Retry-After`` rather than queueing.

Visibility is the datasets' rule: a requester cleans only its own datasets (another's answers
404, like a missing one); an operator any.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError

from orchestrator.api import rules
from orchestrator.api.problems import Problem
from orchestrator.model.config import ModelConfig

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from orchestrator.api.keys import Principal
    from orchestrator.cleaning.crowd_free import LabelIssues
    from orchestrator.data.dataset import LabeledData
    from orchestrator.db.models import Dataset

#: Seconds a client is told to wait when every clean slot is taken (about one default fit).
RETRY_AFTER_S = 30

#: Fields that cost time (or memory) as they grow: a request may lower them, not raise them.
_AT_MOST_DEFAULT = ("epochs", "search_epochs", "posterior_samples", "latent_dim")
#: Fields the server decides: a request may only leave them at the default.
_SERVER_CHOSEN = ("device", "torch_threads")


def _too_costly(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", "model", field), "msg": message, "type": "value_error"}]
    )


def check_model_cost(config: ModelConfig, default: ModelConfig | None = None) -> None:
    """Refuse (422, naming the field) a model config dearer per item than ``default``.

    Dearer means: more epochs, search epochs, posterior samples or latent dimensions; more β
    candidates; more or wider hidden layers; smaller batches (more steps an epoch); another
    device or thread count than the server's.
    """
    base = default or ModelConfig()
    hint = "; a synchronous clean may not cost more than the default (`crowdclean clean` may)"
    for name in _AT_MOST_DEFAULT:
        if getattr(config, name) > getattr(base, name):
            raise _too_costly(name, f"at most {getattr(base, name)}{hint}")
    if config.beta is None and len(config.beta_grid) > len(base.beta_grid):
        raise _too_costly("beta_grid", f"at most {len(base.beta_grid)} candidates{hint}")
    if len(config.hidden) > len(base.hidden) or max(config.hidden) > max(base.hidden):
        raise _too_costly(
            "hidden", f"at most {len(base.hidden)} layers of {max(base.hidden)} units{hint}"
        )
    if config.batch_size < base.batch_size:
        raise _too_costly("batch_size", f"at least {base.batch_size}{hint}")
    for name in _SERVER_CHOSEN:
        if getattr(config, name) != getattr(base, name):
            raise _too_costly(name, "chosen by the server; leave it out")


class CleanSlots:
    """At most ``n`` synchronous fits at once in this process; the next one is refused."""

    def __init__(self, n: int) -> None:
        self._slots = threading.BoundedSemaphore(n)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Hold a slot for the block, or raise 503 ``busy`` at once when none is free."""
        if not self._slots.acquire(blocking=False):
            raise Problem(
                503,
                "busy",
                "every crowd-free clean slot of this server is fitting a model; retry in "
                f"about {RETRY_AFTER_S} s",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        try:
            yield
        finally:
            self._slots.release()


@dataclass(frozen=True)
class CleanOutcome:
    """The dataset row, its data and the crowd-free result."""

    dataset: Dataset
    data: LabeledData
    issues: LabelIssues


def clean_dataset_for(
    engine: Engine,
    principal: Principal,
    ref: str,
    *,
    config: ModelConfig,
    seed: int,
    max_items: int,
    slots: CleanSlots,
) -> CleanOutcome:
    """Check the request, then fit the principal's dataset ``ref`` with no crowd.

    Raises NotFoundError (404) for a dataset the principal may not see, 422 for a dataset over
    ``max_items`` or a too costly ``config``, 503 when no slot is free.
    """
    from orchestrator.cleaning.crowd_free import find_issues_without_crowd
    from orchestrator.data.store import load_dataset

    dataset = rules.dataset_for(engine, principal, ref)
    if dataset.n_items > max_items:
        raise Problem(
            422,
            "dataset-too-large",
            f"dataset {dataset.name!r} has {dataset.n_items} items; this server cleans at most "
            f"{max_items} while the request waits: run `crowdclean clean {dataset.id}` instead",
            n_items=dataset.n_items,
            limit_items=max_items,
        )
    check_model_cost(config)
    with slots.hold():
        data = load_dataset(engine, dataset.id)  # by id: visibility was checked above
        issues = find_issues_without_crowd(data, config=config, seed=seed)
    return CleanOutcome(dataset, data, issues)


def summary_headers(issues: LabelIssues) -> dict[str, Any]:
    """Headers that let a client read the outcome without parsing the body."""
    return {
        "X-Crowdclean-Label-Issues": str(issues.n_issues),
        "X-Crowdclean-Beta": f"{issues.beta:g}",
    }
