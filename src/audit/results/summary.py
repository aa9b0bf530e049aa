"""Summaries and exports of the results database: per agent, per rule, per day."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

from audit.errors import AuditError

BY = ("agent", "rule", "day")
TOP_FAILURES = 3


def _rows(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql, args)]


def _top_failures(conn: sqlite3.Connection, key_sql: str) -> dict[Any, str]:
    """Most frequent failed rules per group, as 'rule (n), rule (n)'."""
    out: dict[Any, list[str]] = {}
    for r in conn.execute(
        f"""SELECT {key_sql} AS k, f.rule, COUNT(*) AS n FROM findings f JOIN calls c
        ON c.id = f.call WHERE c.status = 'ok' AND f.applicable = 1 AND f.passed = 0
        AND NOT f.review GROUP BY k, f.rule ORDER BY k, n DESC, f.rule"""  # noqa: S608 - fixed SQL fragments
    ):
        lst = out.setdefault(r["k"], [])
        if len(lst) < TOP_FAILURES:
            lst.append(f"{r['rule']} ({r['n']})")
    return {k: ", ".join(v) for k, v in out.items()}


def summary(conn: sqlite3.Connection, by: str, day: str | None = None) -> list[dict[str, Any]]:
    where, args = ("AND day = ?", (day,)) if day else ("", ())
    if by == "agent":
        rows = _rows(conn, f"""
            SELECT COALESCE(agent_id, '(unknown)') AS agent,
                   SUM(status = 'ok') AS calls,
                   ROUND(SUM(duration_s) / 3600.0, 3) AS audio_hours,
                   ROUND(AVG(score), 1) AS avg_score,
                   ROUND(AVG(passed), 3) AS pass_rate,
                   COALESCE(SUM(fatal), 0) AS fatal_calls,
                   ROUND(AVG(agent_speech_rate_cpm), 1) AS avg_speech_rate_cpm,
                   SUM(status = 'failed') AS unreadable_files
            FROM calls WHERE 1 {where} GROUP BY agent ORDER BY agent""", args)  # noqa: S608
        top = _top_failures(conn, "COALESCE(c.agent_id, '(unknown)')")
        for r in rows:
            r["top_failures"] = top.get(r["agent"], "")
        return rows
    if by == "rule":
        return _rows(conn, f"""
            SELECT f.rule, f.section, MAX(f.severity) AS severity,
                   SUM(f.applicable) AS applicable,
                   SUM(f.applicable AND NOT f.passed AND NOT f.review) AS failed,
                   ROUND(1.0 * SUM(f.applicable AND NOT f.passed AND NOT f.review)
                         / MAX(SUM(f.applicable), 1), 3) AS fail_rate,
                   SUM(f.review) AS needs_review,
                   ROUND(SUM(f.deduction), 1) AS points_deducted
            FROM findings f JOIN calls c ON c.id = f.call
            WHERE c.status = 'ok' {where.replace('day', 'c.day')}
            GROUP BY f.rule, f.section ORDER BY failed DESC, f.rule""", args)  # noqa: S608
    if by == "day":
        rows = _rows(conn, f"""
            SELECT COALESCE(day, '(unknown)') AS day, SUM(status = 'ok') AS calls,
                   ROUND(SUM(duration_s) / 3600.0, 3) AS audio_hours,
                   ROUND(AVG(score), 1) AS avg_score, ROUND(AVG(passed), 3) AS pass_rate,
                   COALESCE(SUM(fatal), 0) AS fatal_calls,
                   SUM(status = 'failed') AS unreadable_files
            FROM calls WHERE 1 {where} GROUP BY day ORDER BY day""", args)  # noqa: S608
        top = _top_failures(conn, "COALESCE(c.day, '(unknown)')")
        for r in rows:
            r["top_failures"] = top.get(r["day"], "")
        return rows
    raise AuditError(f"--by must be one of {', '.join(BY)}")


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


CALL_COLUMNS = ("id", "call_id", "agent_id", "day", "file", "status", "error", "duration_s",
                "agent_channel", "score", "passed", "fatal", "agent_speech_rate_cpm",
                "rules_version", "model_version", "audited_at")


def call_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = _rows(conn, f"SELECT {', '.join(CALL_COLUMNS)} FROM calls ORDER BY id")  # noqa: S608
    failed: dict[int, list[str]] = {}
    for r in conn.execute("SELECT call, rule, review FROM findings WHERE applicable = 1 AND passed = 0"):
        failed.setdefault(r["call"], []).append(r["rule"] + ("?" if r["review"] else ""))
    for r in rows:
        r["failed_rules"] = " ".join(failed.get(r["id"], []))
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
            for r in conn.execute("SELECT call_id, agent_id, day, file, status, error, result_json "
                                  "FROM calls ORDER BY id"):
                d = json.loads(r["result_json"]) if r["result_json"] else {
                    "file": r["file"], "status": "failed", "error": r["error"]}
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
        "failed findings": _rows(conn, """
            SELECT c.call_id, c.agent_id, f.rule, f.severity, f.deduction, f.review, f.start,
                   f."end", f.message, f.detail, f.evidence_text
            FROM findings f JOIN calls c ON c.id = f.call
            WHERE f.applicable = 1 AND f.passed = 0 ORDER BY c.id, f.deduction DESC"""),
    }
    wb.remove(wb.active)
    for name, data in sheets.items():
        ws = wb.create_sheet(name)
        if data:
            ws.append(list(data[0]))
            for r in data:
                ws.append(list(r.values()))
    wb.save(path)
