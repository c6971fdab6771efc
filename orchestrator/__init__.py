"""crowdclean: debug noisy training labels with a deep generative model and a crowd.

Importing this package touches no database, file or network; resources are opened by the
functions that need them (see :mod:`orchestrator.settings` and :mod:`orchestrator.db.engine`).
"""

__version__ = "0.1.0"
