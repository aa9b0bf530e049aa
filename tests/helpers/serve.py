"""The workbench as a user runs it: `audit users add` and `audit serve` as processes, on a
free port of this machine (the browser tests, over real HTTP)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest


def audit_exe() -> str:
    """The `audit` command of this environment."""
    exe = Path(sys.executable).with_name("audit")
    return str(exe) if exe.is_file() else (shutil.which("audit") or "audit")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_users(db: Path, accounts: Sequence[tuple[str, str, list[str]]],
              passwords: dict[str, str]) -> None:
    """`audit users add NAME --role ROLE [extra]` for each (name, role, extra), the password
    on standard input."""
    for name, role, extra in accounts:
        done = subprocess.run([audit_exe(), "users", "add", name, "--role", role, "--db", str(db),
                               "--password-stdin", *extra], input=passwords[name] + "\n",
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


@contextmanager
def serving(db: Path, log_path: Path) -> Iterator[str]:
    """`audit serve --db DB` on a free port until the block ends; yields its base URL once
    its log-in page answers (fails the test with the server's log if it does not in 20 s)."""
    port = free_port()
    log = log_path.open("w")
    proc = subprocess.Popen([audit_exe(), "serve", "--db", str(db), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(base + "/login", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"audit serve did not answer on {base}: "
                            f"{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
