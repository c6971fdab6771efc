"""The old name of :mod:`orchestrator.scheduler.platform_stage`, kept for one caller.

``orchestrator/cli.py`` still imports ``MTurkStage`` from here; it is being edited under
another change, so its import line moves to ``platform_stage.PlatformStage`` there, and this
module is then deleted. Nothing else may import it.
"""

from __future__ import annotations

from orchestrator.scheduler.platform_stage import PlatformStage as MTurkStage

__all__ = ["MTurkStage"]
