"""Errors raised on bad input. Each says what was wrong and where."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset could not be imported or loaded. Nothing was written.

    Attributes:
        source: the file (or built-in dataset name) that was being read.
        row: 1-based data row (header excluded) or line number for JSONL, when known.
        column: the column concerned, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source = source
        self.row = row
        self.column = column
        where = [source]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")
        self.message = message


class MissingExtraError(ImportError):
    """An optional dependency is needed; the message names the extra that installs it."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package {package!r}; "
            f"install it with: pip install 'crowdclean[{extra}]'"
        )
        self.extra = extra


class DatasetNameTakenError(DatasetError):
    """The owner already has a dataset of this name (the API answers 409). Names are per owner,
    so the message never concerns another requester's datasets."""
