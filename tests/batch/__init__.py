"""Tests of callaudit.batch."""
