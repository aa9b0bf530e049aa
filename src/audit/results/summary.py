"""Summaries of the results database: per agent, per rule, per day.

The rows come from audit.results.store (the only module with SQL); this one shapes and writes them.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from typing import Any

from audit.errors import AuditError
from audit.results import store

BY = store.SUMMARY_BY  # agent, rule, day
TOP_FAILURES = 3


def summary(conn: sqlite3.Connection, by: str, day: str | None = None) -> list[dict[str, Any]]:
    """Per agent, rule or day (of one day or all), top failures as 'rule (n), rule (n)'."""
    if by not in BY:
        raise AuditError(f"--by must be one of {', '.join(BY)}")
    rows = store.summary_rows(conn, by, day, top=TOP_FAILURES)
    for r in rows:
        if "top_failures" in r:
            r["top_failures"] = ", ".join(f"{rule} ({n})" for rule, n in r["top_failures"])
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def call_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """One row a call; failed_rules as 'rule rule?' (?: needs review)."""
    rows = store.call_rows(conn)
    for r in rows:
        r["failed_rules"] = " ".join(rule + ("?" if review else "") for rule, review in r["failed_rules"])
    return rows
