"""Which run is auditing which call: two batches on one database (a cron job overlapping a
manual re-run, two folders sharing files) split the calls instead of auditing each twice.

A run claims a call (by content hash) in the database just before a worker starts on it,
and gives the claim up when the call is stored. A claim held by another run that is still
alive is left alone (that call is the other run's); a claim whose owner is gone (the same
machine: its process no longer exists; another machine: older than STALE_S) is taken over,
so a crashed run never blocks the next one.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import time

from callaudit.results.database import now, transaction

STALE_S = 2 * 3600  # a claim of another machine's run older than this is taken over


def owner() -> str:
    """This run's name in the claims table: host, process id and a token of its own (a
    process id is reused after a reboot)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _alive(holder: str, claimed_at: float) -> bool:
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname():
        return time.time() - claimed_at < STALE_S
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def claim(conn: sqlite3.Connection, sha256: str, me: str) -> str | None:
    """Claim call `sha256` for run `me`: None when it is ours now, else the live run that
    holds it."""
    with transaction(conn):
        row = conn.execute("SELECT owner, claimed_at FROM claims WHERE sha256 = ?",
                           (sha256,)).fetchone()
        if row is not None and row[0] != me and _alive(row[0], row[1]):
            return str(row[0])
        conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?)",
                     (sha256, me, time.time(), now()))
    return None


def release(conn: sqlite3.Connection, sha256: str, me: str) -> None:
    """Give up run `me`'s claim of `sha256` (the call is stored, or left for the next run)."""
    with transaction(conn):
        conn.execute("DELETE FROM claims WHERE sha256 = ? AND owner = ?", (sha256, me))


def release_all(conn: sqlite3.Connection, me: str) -> None:
    """Every claim of run `me` (it ends, however it ends)."""
    with transaction(conn):
        conn.execute("DELETE FROM claims WHERE owner = ?", (me,))
