"""Tests: tests/e2e/api."""
