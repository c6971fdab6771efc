"""``find_label_issues``: features and noisy labels in, one row of label issues per item out.

Nothing heavy is imported here at import time (numpy, pandas and torch load on the first call),
so ``import crowdclean`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from orchestrator.model.config import ModelConfig

#: The columns of :func:`find_label_issues`' frame, in order.
ISSUE_COLUMNS = (
    "given_label",
    "suggested_label",
    "p_label_wrong",
    "is_label_issue",
    "label_quality",
)


def find_label_issues(
    features: Any,
    labels: Any,
    *,
    classes: Sequence[Any] | None = None,
    feature_kind: str = "auto",
    seed: int = 0,
    model: Mapping[str, Any] | ModelConfig | None = None,
) -> pd.DataFrame:
    """Which labels are probably wrong, and what they should be, with no crowd at all.

    Fits crowdclean's deep probabilistic label model (latent class ``y`` and latent features
    ``z`` generating both the features and the noisy label) to the data and reads, for every
    item, the posterior ``p(y | x, ŷ)`` over its true class.

    Args:
        features: (n, d) numbers: a numpy array, a pandas DataFrame of numeric columns, nested
            lists or a scipy sparse matrix; (n, h, w) images are flattened per item. Finite.
        labels: (n,) the delivered labels, ints or strings (array, Series or list), no missing
            value.
        classes: the class set, when some class may not occur in ``labels`` (default: the
            distinct labels, or a categorical's categories).
        feature_kind: the model's data likelihood: ``"auto"`` (inferred: values in [0, 1] →
            ``"pixels"``, non-negative integers → ``"counts"``, else ``"continuous"``),
            ``"pixels"``, ``"counts"`` (e.g. bag-of-words) or ``"continuous"`` (e.g. embeddings).
        seed: seeds the fit; the same inputs and seed give the same frame.
        model: overrides of :class:`orchestrator.model.ModelConfig` (a dict such as
            ``{"epochs": 50}``, or a ``ModelConfig``); unknown keys are refused.

    Returns:
        A DataFrame indexed like the input (the labels' index, else the features', else
        0..n-1), one row per item, columns:

        * ``given_label``: the label passed in;
        * ``suggested_label``: the most probable true class (the posterior's argmax);
        * ``p_label_wrong``: probability (0-1) that ``given_label`` is wrong,
          ``1 - p(y = given_label | x, ŷ)``; sort by it to review the likeliest errors first;
        * ``is_label_issue``: ``suggested_label != given_label``, i.e. some other class is more
          probable than the given one;
        * ``label_quality``: ``1 - p_label_wrong``.

    Raises:
        ValueError: on bad input, naming the problem (shape mismatch, NaN or infinite features,
            non-numeric feature columns, missing labels, a single class, labels outside
            ``classes``, unknown ``model`` keys …).
    """
    import numpy as np
    import pandas as pd

    from orchestrator.cleaning.crowd_free import find_issues_without_crowd
    from orchestrator.data.arrays import dataset_from_arrays

    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    config = _model_config(model)
    arrays = dataset_from_arrays(features, labels, classes=classes, feature_kind=feature_kind)
    issues = find_issues_without_crowd(arrays.data, config=config, seed=int(seed))
    values = pd.Series(arrays.class_values, dtype=_label_dtype(arrays.given))
    return pd.DataFrame(
        {
            "given_label": arrays.given,
            "suggested_label": values.iloc[issues.suggested].to_numpy(),
            "p_label_wrong": issues.p_label_wrong,
            "is_label_issue": issues.is_issue,
            "label_quality": 1.0 - issues.p_label_wrong,
        },
        index=arrays.index,
        columns=list(ISSUE_COLUMNS),
    )


def _model_config(model: Mapping[str, Any] | ModelConfig | None) -> ModelConfig:
    from orchestrator.model.config import ModelConfig

    if model is None:
        return ModelConfig()
    if isinstance(model, ModelConfig):
        return model
    if not isinstance(model, Mapping):
        raise ValueError(f"model must be a dict of ModelConfig fields, got {type(model).__name__}")
    # pydantic's ValidationError is a ValueError naming each bad field.
    return ModelConfig.model_validate(dict(model))


def _label_dtype(given: Any) -> Any:
    """The dtype suggested labels share with the given ones (object unless both are numbers)."""
    import numpy as np

    return given.dtype if np.issubdtype(given.dtype, np.number) else object
