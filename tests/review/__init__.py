"""Tests of callaudit.review."""
