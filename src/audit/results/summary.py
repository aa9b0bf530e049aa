"""Summaries and exports of the results database: per agent, per rule, per day.

The rows come from audit.results.store (the only module with SQL); this one shapes and writes them.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
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


def export(conn: sqlite3.Connection, fmt: str, out: str) -> int:
    """Write every call: csv (one row a call), jsonl (the full result a line), xlsx (sheets)."""
    rows = call_rows(conn)
    path = Path(out)
    tmp = path.with_name(path.name + ".tmp")
    if fmt == "csv":
        tmp.write_text(to_csv(rows), encoding="utf-8-sig")  # BOM: Excel opens Chinese right
    elif fmt == "jsonl":
        with tmp.open("w", encoding="utf-8") as f:
            for r in store.result_rows(conn):
                d = r["result"] or {"file": r["file"], "status": "failed", "error": r["error"]}
                d.update(call_id=r["call_id"], agent_id=r["agent_id"], day=r["day"],
                         status=r["status"])
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    elif fmt == "xlsx":
        _xlsx(conn, rows, tmp)
    else:
        raise AuditError(f"--format must be csv, jsonl or xlsx, not {fmt!r}")
    tmp.replace(path)
    return len(rows)


def _xlsx(conn: sqlite3.Connection, rows: list[dict[str, Any]], path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    sheets = {
        "calls": rows,
        "agents": summary(conn, "agent"),
        "rules": summary(conn, "rule"),
        "failed findings": store.failed_findings(conn),
    }
    wb.remove(wb.active)
    for name, data in sheets.items():
        ws = wb.create_sheet(name)
        if data:
            ws.append(list(data[0]))
            for r in data:
                ws.append(list(r.values()))
    wb.save(path)
