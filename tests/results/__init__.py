"""Tests of callaudit.results."""
