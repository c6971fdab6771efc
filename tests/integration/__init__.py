"""Tests: tests/integration."""
