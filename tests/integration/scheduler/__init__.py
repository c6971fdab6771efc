"""Tests: tests/integration/scheduler."""
