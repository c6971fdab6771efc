"""Tests: tests/integration/bench."""
