"""What every command shares: exit statuses, one-line errors, output to a closed pipe."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from callaudit.errors import AuditError

EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INCOMPLETE, EXIT_STORAGE, EXIT_NO_SPEECH = 0, 1, 2, 3, 4, 5
EXIT_NOT_CONNECTED = 6  # check: the call never reached a person (no score, never a pass)


def seconds(value: str) -> float:
    try:
        s = float(value)
    except ValueError:
        s = -1.0
    if not s >= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds >= 0")
    return s


def print_error(err: Console, e: Exception) -> None:
    err.print(f"[red]error:[/red] {escape(str(e))}", markup=True, highlight=False, soft_wrap=True)


class Out(Console):
    def on_broken_pipe(self) -> None:
        """The reader left (`| head`): print nothing more, keep the verdict's exit status
        (rich's own exits with 1, which reads as a failed call)."""
        self.quiet = True
        quiet_stdout()


def quiet_stdout() -> None:
    """Point stdout at nothing, so that Python's exit flush does not raise again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def existing_db(path: str) -> str:
    if not Path(path).is_file():
        raise AuditError(f"{path}: no such database (run `audit batch ... --db {path}` first)")
    return path


def some(items: list[str], n: int = 5) -> str:
    return "; ".join(items[:n]) + (f"; ... and {len(items) - n} more" if len(items) > n else "")


def masking(args: argparse.Namespace, conn: sqlite3.Connection) -> bool:
    """Personal data is masked on the way out: asked with --redact, or the database stores
    masked transcripts (then whatever is asked)."""
    from callaudit.results.store import stored_redaction

    return bool(args.redact or stored_redaction(conn))
