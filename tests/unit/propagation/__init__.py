"""Tests: tests/unit/propagation."""
