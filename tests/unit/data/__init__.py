"""Tests: tests/unit/data."""
