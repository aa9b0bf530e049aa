"""Tests of callaudit.audio."""
