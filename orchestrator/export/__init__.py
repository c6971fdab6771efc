"""Cleaned-label exports (CSV, JSONL, Parquet) with provenance. See :mod:`.writer`."""

from orchestrator.export.writer import (
    EXPORT_COLUMNS,
    EXPORT_FORMATS,
    SCHEMA_VERSION,
    ExportRow,
    write_export,
)

__all__ = ["EXPORT_COLUMNS", "EXPORT_FORMATS", "SCHEMA_VERSION", "ExportRow", "write_export"]
