"""Named ranges for the numeric fields of the configuration models (settings, model, crowd,
campaign): a field is annotated with its range and keeps its own default and description.

``Share`` and ``ShareBelowOne`` are shares or probabilities; ``AtLeastOne`` is a count or a size
that must not be zero. Non-negative and positive reals are pydantic's ``NonNegativeFloat`` and
``PositiveFloat``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

#: A share or a probability, in [0, 1].
Share = Annotated[float, Field(ge=0, le=1)]
#: A share that must leave something over, in [0, 1).
ShareBelowOne = Annotated[float, Field(ge=0, lt=1)]
#: A count or size of at least one (epochs, items, workers, …).
AtLeastOne = Annotated[int, Field(ge=1)]
