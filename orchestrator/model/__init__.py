"""The deep probabilistic label model (torch): ``fit_label_model`` and its ``ModelConfig``."""

from orchestrator.model.base import LabelModel, LabelModelOutput
from orchestrator.model.config import ModelConfig
from orchestrator.model.dpm import DeepProbabilisticModel, fit_label_model

__all__ = [
    "DeepProbabilisticModel",
    "LabelModel",
    "LabelModelOutput",
    "ModelConfig",
    "fit_label_model",
]
