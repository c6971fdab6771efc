"""Tests: tests/unit/export."""
