"""Answer aggregation for crowdclean: answers frame in → labels, posteriors, worker skills out.

A leaf package (it never imports ``orchestrator``). Aggregators follow crowd-kit's calling
convention so they can be swapped for each other:

>>> import pandas as pd
>>> from aggregation import DawidSkene
>>> answers = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": ["a", "b", "c"] * 2,
...                         "label": ["cat", "cat", "dog", "dog", "dog", "dog"]})
>>> DawidSkene().fit_predict(answers).to_dict()
{1: 'cat', 2: 'dog'}

* ``fit(frame)`` returns the aggregator; ``fit_predict(frame)`` → Series task → label;
  ``fit_predict_proba(frame)`` → DataFrame task × label whose rows sum to 1.
* Fitted attributes end in ``_``: ``labels_``, ``probas_``, ``classes_``, ``skills_`` and,
  for the EM models, ``priors_``, ``errors_``, ``n_iter_``, ``loss_history_``.
* The answers frame, its validation, NaN labels, duplicate ``(task, worker)`` rows and the
  class order are documented in :mod:`aggregation._answers`; in short: missing columns or
  missing task/worker ids raise ``ValueError``; NaN labels are dropped; duplicates keep the
  last row by default (``duplicates=`` "last" | "first" | "keep" | "error"); classes are
  the sorted label values unless ``classes=`` is given.
* Ties are broken deterministically towards the first class of ``classes_`` (the lowest
  label); posteriors within 1e-12 of the maximum count as tied.
* Labels may be ints, strings, bools…; outputs carry the same values.

Models: :class:`MajorityVote` (optionally skill-weighted), :class:`DawidSkene`,
:class:`OneCoinDawidSkene` (our vectorised EM), :class:`GLAD`, :class:`MACE` (crowd-kit,
imported lazily). Helpers: :func:`needs_more_answers` (adaptive redundancy),
:func:`worker_quality`, :func:`worker_confusion`, :func:`spammer_score`,
:func:`score_on_gold` (worker quality), :func:`with_model_annotator` (model as a worker),
:func:`pair_item_answers` (two-item pair answers as per-item answers).
"""

from aggregation._answers import REQUIRED_COLUMNS, EncodedAnswers, encode_answers
from aggregation.adapters import GLAD, MACE
from aggregation.dawid_skene import DawidSkene, OneCoinDawidSkene
from aggregation.majority_vote import MajorityVote
from aggregation.model_annotator import with_model_annotator
from aggregation.pairs import pair_item_answers
from aggregation.redundancy import needs_more_answers
from aggregation.worker_scoring import (
    score_on_gold,
    spammer_score,
    worker_confusion,
    worker_quality,
)

__all__ = [
    "GLAD",
    "MACE",
    "REQUIRED_COLUMNS",
    "DawidSkene",
    "EncodedAnswers",
    "MajorityVote",
    "OneCoinDawidSkene",
    "encode_answers",
    "needs_more_answers",
    "pair_item_answers",
    "score_on_gold",
    "spammer_score",
    "with_model_annotator",
    "worker_confusion",
    "worker_quality",
]
