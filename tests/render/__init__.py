"""Tests of callaudit.render."""
