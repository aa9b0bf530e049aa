"""The tests, laid out like src/callaudit (a folder per stage): helpers that tests import are
in tests.helpers, fixtures in conftest.py files."""
