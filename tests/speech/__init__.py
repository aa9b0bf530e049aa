"""Tests of callaudit.speech."""
