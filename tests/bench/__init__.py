"""Tests of the benchmark scripts in bench/ (loaded by path: tests.helpers.bench)."""
