"""Tests of callaudit.privacy."""
