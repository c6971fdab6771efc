"""crowdclean from Python: find wrong labels in a training set with no crowd at all.

>>> import crowdclean
>>> issues = crowdclean.find_label_issues(X, y)          # doctest: +SKIP
>>> issues.sort_values("p_label_wrong", ascending=False).head()  # doctest: +SKIP

One row per item (indexed like ``y``): ``given_label``, ``suggested_label``, ``p_label_wrong``
(probability that the given label is wrong), ``is_label_issue``, ``label_quality``. See
:func:`crowdclean.label_issues.find_label_issues`. The service (campaigns with a paid crowd, the
HTTP API, the ``crowdclean`` command) lives in :mod:`orchestrator`.

Importing this package is cheap: numpy, pandas and torch load on the first call.
"""

from crowdclean.label_issues import ISSUE_COLUMNS, find_label_issues

__version__ = "0.1.0"
__all__ = ["ISSUE_COLUMNS", "__version__", "find_label_issues"]
