"""Reading the results database: summaries by agent, rule and day, the calls and their
stored results, what to re-score. Every query returns plain rows (dicts) or records."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from callaudit.errors import AuditError, first_line
from callaudit.parts import JudgedWith
from callaudit.records import CallResult, Region
from callaudit.results.database import fetch_rows


def known(conn: sqlite3.Connection) -> dict[str, str]:
    """sha256 -> status of every stored call."""
    return {r["sha256"]: r["status"] for r in conn.execute("SELECT sha256, status FROM calls")}


def status_of(conn: sqlite3.Connection, sha256: str) -> str | None:
    """The stored status of a call by content hash (ok, failed, no_speech, not_connected),
    None when it is not stored."""
    row = conn.execute("SELECT status FROM calls WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else str(row[0])


def call_ids(conn: sqlite3.Connection) -> list[int]:
    """The row id of every stored call, in the order stored."""
    return [r[0] for r in conn.execute("SELECT id FROM calls ORDER BY id")]


def read_result(text: str) -> CallResult:
    """A stored result_json as the record it was written from (records.CallResult), without
    the schema check (this package wrote it); ValueError naming the problem when the row
    cannot be read as one."""
    return CallResult.from_json(json.loads(text), check=False)


def stored_result(conn: sqlite3.Connection, call: int) -> CallResult | None:
    """A call's result by row id (None for a file that failed, or none)."""
    row = conn.execute("SELECT result_json FROM calls WHERE id = ?", (call,)).fetchone()
    return read_result(row[0]) if row and row[0] else None


def unreadable_results(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(call_id, why) of every stored result that cannot be read back as a CallResult."""
    out = []
    for r in conn.execute("SELECT call_id, result_json FROM calls WHERE result_json IS NOT NULL"):
        try:
            read_result(r["result_json"])
        except (ValueError, TypeError) as e:
            out.append((r["call_id"], first_line(e)))
    return out


SUMMARY_BY = ("agent", "rule", "day", "line")


def stored_norms(conn: sqlite3.Connection) -> list[JudgedWith]:
    """The `judged_with` of the newest stored result of each rule pack (rules version) the
    calls were judged with, newest first: what names their rules (messages) and sections."""
    out = []
    for r in conn.execute("""SELECT result_json FROM calls WHERE id IN (
            SELECT MAX(id) FROM calls WHERE result_json IS NOT NULL GROUP BY rules_version)
            ORDER BY id DESC"""):
        try:
            jw = JudgedWith.from_json(json.loads(r[0]).get("judged_with"))
        except (ValueError, AttributeError, TypeError):
            continue
        if jw.rules or jw.settings:
            out.append(jw)
    return out


def summary_rows(conn: sqlite3.Connection, by: str, day: str | None = None,
                 top: int = 3) -> list[dict[str, Any]]:
    """One row per agent, rule, day or business line (`by`), of one `day` or of all.

    Per agent, per day and per line (calls.line, `audit batch --scorecards`): calls
    (audited), audio_hours (all), avg_score, pass_rate, fatal_calls, (agent:
    avg_speech_rate_cpm), no_speech (recordings in which nobody was heard: not calls,
    never passed), not_connected (calls that never reached a person: a network's
    announcement, no answer, busy; not calls either), unreadable_files and top_failures,
    the `top` most failed rules as [(rule, times), ...] (failures needing review left
    out). Per rule: section, severity, applicable, failed, fail_rate, needs_review,
    points_deducted; the most failed first.
    """
    where, args = ("AND day = ?", (day,)) if day else ("", ())
    if by == "agent":
        rows = fetch_rows(conn, f"""
            SELECT COALESCE(agent_id, '(unknown)') AS agent,
                   SUM(status = 'ok') AS calls,
                   ROUND(SUM(duration_s) / 3600.0, 3) AS audio_hours,
                   ROUND(AVG(score), 1) AS avg_score,
                   ROUND(AVG(passed), 3) AS pass_rate,
                   COALESCE(SUM(fatal), 0) AS fatal_calls,
                   ROUND(AVG(agent_speech_rate_cpm), 1) AS avg_speech_rate_cpm,
                   SUM(status = 'no_speech') AS no_speech,
                   SUM(status = 'not_connected') AS not_connected,
                   SUM(status = 'failed') AS unreadable_files
            FROM calls WHERE 1 {where} GROUP BY agent ORDER BY agent""", args)  # noqa: S608
        failures = _top_failures(conn, "COALESCE(c.agent_id, '(unknown)')", top)
        for r in rows:
            r["top_failures"] = failures.get(r["agent"], [])
        return rows
    if by == "rule":
        return fetch_rows(conn, f"""
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
    if by in ("day", "line"):  # a fixed column name, never user text
        rows = fetch_rows(conn, f"""
            SELECT COALESCE({by}, '(unknown)') AS {by}, SUM(status = 'ok') AS calls,
                   ROUND(SUM(duration_s) / 3600.0, 3) AS audio_hours,
                   ROUND(AVG(score), 1) AS avg_score, ROUND(AVG(passed), 3) AS pass_rate,
                   COALESCE(SUM(fatal), 0) AS fatal_calls,
                   SUM(status = 'no_speech') AS no_speech,
                   SUM(status = 'not_connected') AS not_connected,
                   SUM(status = 'failed') AS unreadable_files
            FROM calls WHERE 1 {where} GROUP BY {by} ORDER BY {by}""", args)  # noqa: S608
        failures = _top_failures(conn, f"COALESCE(c.{by}, '(unknown)')", top)
        for r in rows:
            r["top_failures"] = failures.get(r[by], [])
        return rows
    raise ValueError(f"by must be one of {', '.join(SUMMARY_BY)}, not {by!r}")


def _top_failures(conn: sqlite3.Connection, key_sql: str, top: int) -> dict[Any, list[tuple[str, int]]]:
    """Most frequent failed rules per group (key_sql: a fixed SQL expression, never user text)."""
    out: dict[Any, list[tuple[str, int]]] = {}
    for r in conn.execute(
        f"""SELECT {key_sql} AS k, f.rule, COUNT(*) AS n FROM findings f JOIN calls c
        ON c.id = f.call WHERE c.status = 'ok' AND f.applicable = 1 AND f.passed = 0
        AND NOT f.review GROUP BY k, f.rule ORDER BY k, n DESC, f.rule"""  # noqa: S608 - fixed SQL fragments
    ):
        lst = out.setdefault(r["k"], [])
        if len(lst) < top:
            lst.append((r["rule"], r["n"]))
    return out


CALL_COLUMNS = ("id", "call_id", "agent_id", "day", "file", "status", "error", "duration_s",
                "agent_channel", "score", "passed", "fatal", "agent_speech_rate_cpm",
                "rules_version", "model_version", "audited_at", "line")


def call_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every stored call (ok and failed), in the order stored: CALL_COLUMNS and failed_rules,
    the rules it failed as [(rule, needs_review), ...]."""
    rows = fetch_rows(conn, f"SELECT {', '.join(CALL_COLUMNS)} FROM calls ORDER BY id")  # noqa: S608
    failed: dict[int, list[tuple[str, bool]]] = {}
    for r in conn.execute("SELECT call, rule, review FROM findings WHERE applicable = 1 AND passed = 0"):
        failed.setdefault(r["call"], []).append((r["rule"], bool(r["review"])))
    for r in rows:
        r["failed_rules"] = failed.get(r["id"], [])
    return rows


def result_rows(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    """Every stored call in the order stored, one at a time: id, call_id, agent_id, day, file,
    status, error, sha256, line and result (its CallResult; None for a file that failed, or
    a stored result that cannot be read: `error` then says so)."""
    for r in conn.execute("SELECT id, call_id, agent_id, day, file, status, error, sha256, "
                          "line, result_json FROM calls ORDER BY id"):
        d = {k: r[k] for k in ("id", "call_id", "agent_id", "day", "file", "status", "error",
                               "sha256", "line")}
        try:
            d["result"] = read_result(r["result_json"]) if r["result_json"] else None
        except (ValueError, TypeError) as e:  # named, not fatal to the reader (db check finds it)
            d["result"], d["error"] = None, f"its stored result cannot be read ({first_line(e)})"
        yield d


def stored_call(conn: sqlite3.Connection, call_id: str) -> tuple[CallResult, dict[str, Any]]:
    """An audited call by call id, file or sha256 (the newest if several): its result and
    {call_id, agent_id, day, file}. AuditError if there is none."""
    row = conn.execute("SELECT call_id, agent_id, day, file, result_json FROM calls "
                       "WHERE status IN ('ok', 'no_speech', 'not_connected') "
                       "AND (call_id = ? OR sha256 = ? OR file = ?) "
                       "ORDER BY id DESC", (call_id, call_id, call_id)).fetchone()
    if row is None:
        raise AuditError(f"no audited call {call_id!r} in the database")
    meta = {k: row[k] for k in ("call_id", "agent_id", "day", "file")}
    return read_result(row["result_json"]), meta


def ok_calls(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The audited calls, lowest score first: id, sha256, call_id, agent_id, day, file,
    duration_s, score, passed, fatal."""
    return fetch_rows(conn, "SELECT id, sha256, call_id, agent_id, day, file, duration_s, score, "
                      "passed, fatal FROM calls WHERE status = 'ok' ORDER BY score, id")


def call_lines(conn: sqlite3.Connection) -> dict[int, str | None]:
    """The business line of every audited call (`batch --scorecards`; None: not given), by id."""
    return {r["id"]: r["line"] for r in fetch_rows(
        conn, "SELECT id, line FROM calls WHERE status = 'ok' ORDER BY id")}


def failed_files(conn: sqlite3.Connection, day: str | None = None,
                 limit: int = -1) -> list[dict[str, Any]]:
    """The files that could not be audited, in the order stored: file, error, day, agent_id,
    call_id, audited_at; only `day`'s when given, at most `limit` (-1: all)."""
    return fetch_rows(conn, "SELECT file, error, day, agent_id, call_id, audited_at FROM calls "
                      "WHERE status = 'failed' AND (? IS NULL OR day = ?) ORDER BY id LIMIT ?",
                      (day, day, limit))


def no_speech_calls(conn: sqlite3.Connection, status: str = "no_speech") -> list[dict[str, Any]]:
    """Recordings with no call to judge, `status` no_speech (nobody was heard) or
    not_connected, in the order stored: file, day, agent_id and why (the result's
    outcome_why: {key, args, text})."""
    rows = fetch_rows(conn, "SELECT file, day, agent_id, result_json FROM calls "
                      "WHERE status = ? ORDER BY id", (status,))
    for r in rows:
        r["why"] = json.loads(r.pop("result_json") or "{}").get("outcome_why")
    return rows


def fatal_rules_by_call(conn: sqlite3.Connection) -> dict[int, list[str]]:
    """Call row id -> the fatal rules it failed."""
    out: dict[int, list[str]] = {}
    for r in conn.execute("SELECT call, rule FROM findings WHERE applicable AND NOT passed "
                          "AND severity = 'fatal'"):
        out.setdefault(r["call"], []).append(r["rule"])
    return out


class CallsToRescore:
    """The audited calls as they were when asked for, read one at a time (a night of results
    need not fit in memory): len() is how many; iterating yields (id, result), the result
    (a CallResult) with the regions (by start) and measured acoustics stored beside it. A
    call deleted meanwhile is skipped.
    `ids`: only these calls (in that order), e.g. a share of them for one process."""

    def __init__(self, conn: sqlite3.Connection, ids: list[int] | None = None) -> None:
        self._conn = conn
        self._ids = list(ids) if ids is not None else \
            [r[0] for r in conn.execute("SELECT id FROM calls WHERE status = 'ok' ORDER BY id")]

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[tuple[int, CallResult]]:
        for call in self._ids:
            row = self._conn.execute("SELECT result_json, acoustics_json FROM calls "
                                     "WHERE id = ? AND status = 'ok'", (call,)).fetchone()
            if row is None:
                continue
            regions = fetch_rows(self._conn, 'SELECT channel, start, "end", level_dbfs FROM regions '
                                  "WHERE call = ? ORDER BY start", (call,))
            yield call, CallResult.from_json(json.loads(row["result_json"]),
                                             [Region.from_json(r) for r in regions],
                                             json.loads(row["acoustics_json"]), check=False)


def calls_to_rescore(conn: sqlite3.Connection, ids: list[int] | None = None) -> CallsToRescore:
    """The audited calls (or those of `ids`) with what re-scoring needs (see CallsToRescore)."""
    return CallsToRescore(conn, ids)
