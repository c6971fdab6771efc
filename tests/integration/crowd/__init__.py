"""Tests: tests/integration/crowd."""
