"""Tests: tests/unit/model."""
