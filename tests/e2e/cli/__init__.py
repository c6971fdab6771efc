"""Tests: tests/e2e/cli."""
