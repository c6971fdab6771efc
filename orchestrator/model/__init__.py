"""The deep probabilistic label model (torch): ``fit_label_model`` and its ``ModelConfig``.

``ModelConfig`` (pydantic only) is imported eagerly; the torch parts load on first use, so that
validating a campaign config (API, CLI) does not import torch.
"""

from typing import TYPE_CHECKING, Any

from orchestrator.model.base import LabelModelOutput
from orchestrator.model.config import ModelConfig

if TYPE_CHECKING:
    from orchestrator.model.dpm import fit_label_model

__all__ = [
    "LabelModelOutput",
    "ModelConfig",
    "fit_label_model",
]


def __getattr__(name: str) -> Any:
    if name == "fit_label_model":
        from orchestrator.model import dpm

        return getattr(dpm, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
