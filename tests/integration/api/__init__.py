"""Tests: tests/integration/api."""
