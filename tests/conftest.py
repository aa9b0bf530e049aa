"""Shared fixtures: the real Whisper model (loaded once per session) and the sample calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
DATA = ROOT / "tests" / "data"
sys.path.insert(0, str(Path(__file__).parent))  # tests/audio_util.py and friends


def copy_database(src: Path, out: Path) -> str:
    """A copy of SQLite database `src` at `out`, with its -wal and -shm files when there."""
    import shutil

    for suffix in ("", "-wal", "-shm"):
        if Path(f"{src}{suffix}").exists():
            shutil.copy(f"{src}{suffix}", f"{out}{suffix}")
    return str(out)


def stored_result(name: str) -> dict[str, Any]:
    """A stored audit of a sample call: {result, regions, acoustics} (tests/data/results)."""
    return json.loads((ROOT / "tests" / "data" / "results" / f"{name}.json").read_text("utf-8"))


def truth(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.truth.json").read_text(encoding="utf-8"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that takes the real auditor runs the model, marked or not (`make test-fast`
    deselects `model`)."""
    for item in items:
        if "auditor" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.model)


def checked(result: Any) -> Any:
    """`result` (a CallResult), after checking that its JSON is a valid audit.call/1 result
    (the shipped schema) and reads back as the same record."""
    from callaudit.records import CallResult, result_problem

    d = result.to_json()
    assert result_problem(d) == "", result_problem(d)
    assert CallResult.from_json(d).to_json() == d
    return result


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


def remount_ro(mnt: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)


def chromium() -> str:
    """Debian's Chromium, driven by Playwright's Python package (its own browser download
    fails here): skipped when either is missing, a failure under CI (`make browser`)."""
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright  # noqa: F401
    except ImportError:
        path = None
    if not path:
        reason = "no Chromium/Playwright here (`make browser` installs chromium and fonts-noto-cjk, as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


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
