"""Tests: tests/unit/sampling."""
