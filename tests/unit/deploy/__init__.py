"""Tests: tests/unit/deploy."""
