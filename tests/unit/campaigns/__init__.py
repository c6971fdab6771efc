"""Tests: tests/unit/campaigns."""
