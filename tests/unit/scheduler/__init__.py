"""Tests: tests/unit/scheduler."""
