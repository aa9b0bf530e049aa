"""Summaries of the results database: per agent, per rule, per day, per business line.

The rows come from callaudit.results.store (the only module with SQL); this one shapes and writes them.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from typing import Any

from callaudit.errors import AuditError
from callaudit.results import reviews, store
from callaudit.rules.pack import load
from callaudit.settings import Settings

BY = store.SUMMARY_BY  # agent, rule, day, line
TOP_FAILURES = 3


def summary(conn: sqlite3.Connection, by: str, day: str | None = None,
            settings: Settings | None = None, joined: bool = True) -> list[dict[str, Any]]:
    """Per agent, rule, day or business line (of one day or all), top failures as
    'rule (n), rule (n)' (`joined`; else as [(rule, n), ...], for a view that names them).

    Per rule, what the reviews teach (all days): reviewed (failed findings a person
    reviewed), precision (confirmed / reviewed), missed (findings reviewers added) and
    low_precision, 1 when the precision is below `settings.review_min_precision` over at
    least `review_min_reviewed` reviews (`settings`: the default pack's when None)."""
    if by not in BY:
        raise AuditError(f"--by must be one of {', '.join(BY)}")
    rows = store.summary_rows(conn, by, day, top=TOP_FAILURES)
    for r in rows if joined else ():
        if "top_failures" in r:
            r["top_failures"] = ", ".join(f"{rule} ({n})" for rule, n in r["top_failures"])
    if by == "rule" and reviews.has_review_tables(conn):
        st = settings or load(None).settings
        taught = reviews.precision_by_rule(conn)
        for r in rows:
            t = taught.get(r["rule"], {})
            p = t.get("precision")
            r.update(reviewed=t.get("reviewed", 0), precision=p, missed=t.get("missed", 0),
                     low_precision=int(p is not None and t["reviewed"] >= st.review_min_reviewed
                                       and p < st.review_min_precision))
    return rows


def business_lines(conn: sqlite3.Connection, day: str | None = None) -> list[dict[str, Any]]:
    """The summary by business line (`audit batch --scorecards`) for a dashboard: none when
    the calls are of one line or of none (nothing to compare)."""
    rows = summary(conn, "line", day)
    return rows if len(rows) > 1 else []


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


REVIEW_COLUMNS = ("reviewed_score", "reviewed_passed", "reviewed_findings", "missed_findings",
                  "open_appeals")


def call_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """One row a call; failed_rules as 'rule rule?' (?: needs review); then what reviewers
    decided (REVIEW_COLUMNS, see results/reviews.py review_columns; empty when nothing)."""
    rows = store.call_rows(conn)
    decided = reviews.review_columns(conn)
    for r in rows:
        r["failed_rules"] = " ".join(rule + ("?" if review else "") for rule, review in r["failed_rules"])
        d = decided.get(r["id"], {})
        r.update({k: d.get(k) for k in REVIEW_COLUMNS})
    return rows
