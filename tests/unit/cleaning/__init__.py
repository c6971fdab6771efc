"""Tests: tests/unit/cleaning."""
