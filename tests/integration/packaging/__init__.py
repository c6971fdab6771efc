"""Tests: tests/integration/packaging."""
