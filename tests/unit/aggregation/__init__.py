"""Tests: tests/unit/aggregation."""
