"""Tests of callaudit.rules."""
