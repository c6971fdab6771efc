"""Tests: tests/unit/crowd."""
