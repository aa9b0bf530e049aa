"""Shared fixtures: the real Whisper model (loaded once per session), a tmpfs of our own and a
headless browser. What tests import (paths, stored audits, helpers) is in tests/helpers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import checked, chromium


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that takes the real auditor runs the model, and one that takes the browser is
    slow, marked or not (`make test-fast` deselects `model` and `slow`)."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "auditor" in fixtures:
            item.add_marker(pytest.mark.model)
        if "browser" in fixtures:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def auditor():  # type: ignore[no-untyped-def]
    """The real pipeline with the real model; every result it returns is checked against the
    schema (`checked`). Missing model: skip locally, fail under CI."""
    from callaudit.errors import ModelError
    from callaudit.pipeline import Auditor

    class CheckedAuditor(Auditor):
        def _audit(self, *args: Any, **kwargs: Any) -> Any:
            return checked(super()._audit(*args, **kwargs))

    try:
        return CheckedAuditor()
    except ModelError as e:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Whisper model not set up ({e}); run `make setup`")


@pytest.fixture(scope="session", autouse=True)
def cheap_argon2() -> Iterator[None]:
    """Argon2id at its lowest cost for the accounts the tests make and log in with (the
    product's cost, 64 MiB and 3 passes, is 0.2-0.4 s a login: minutes over the review
    tests). Still Argon2id, checked the same way; a hash carries its own parameters, so a
    workbench the tests start as a process (`audit serve`) verifies these cheaply too."""
    try:
        from argon2 import PasswordHasher

        from callaudit.review import accounts
    except ImportError:  # the [serve] extra is not installed: no workbench to test
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(accounts, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024,
                                                       parallelism=1))
        yield


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs of our own (1 MB), to be filled or made read-only; skipped where the
    machine does not let us mount (not root, no CAP_SYS_ADMIN)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    """One headless Chromium for the page tests (autoplay allowed: the call page plays on click)."""
    exe = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()
