"""Tests: tests/e2e/browser."""
