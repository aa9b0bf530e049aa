"""Tests of callaudit.metrics."""
