"""Writing calls to the results database: one transaction per call, a call's rows replaced
whole (never doubled), the redaction setting, re-scored verdicts."""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass, replace

from callaudit.errors import AuditError
from callaudit.records import CallResult
from callaudit.results import hotwords
from callaudit.results.database import database_file, now, transaction


@dataclass
class CallMeta:
    """What the batch knows about a file besides its audio."""

    file: str
    sha256: str
    call_id: str
    agent_id: str | None = None
    day: str | None = None
    started_at: str | None = None
    agent_channel: str = "auto"
    line: str | None = None  # the business line (batch --scorecards)


def _absolute(meta: CallMeta) -> CallMeta:
    """`meta` with its file as an absolute path (relative to the current folder now): a
    stored path means the same recording whatever folder a reader runs from."""
    return replace(meta, file=os.path.abspath(meta.file)) if meta.file else meta


def _replace(conn: sqlite3.Connection, meta: CallMeta) -> None:
    # The same content (any path) or the same path (older content; stored absolute, or as
    # given by a release before absolute paths) is replaced, never doubled.
    conn.execute("DELETE FROM calls WHERE sha256 = ? OR file IN (?, ?)",
                 (meta.sha256, meta.file, os.path.abspath(meta.file)))


def write_result(conn: sqlite3.Connection, meta: CallMeta, result: CallResult) -> int:
    """Store an audited call in its own transaction, replacing any row of the same content or
    file; returns the call's row id."""
    with transaction(conn):
        _replace(conn, meta)
        return insert_call(conn, meta, result)


def insert_call(conn: sqlite3.Connection, meta: CallMeta, result: CallResult) -> int:
    """Insert an audited call (its result as audit.call/1 JSON, with the VAD regions and
    measured acoustics it carries for re-scoring) inside the caller's transaction, replacing
    nothing; returns the call's row id. For bulk loads (one transaction for many calls);
    the batch uses write_result. A result whose
    outcome is "no_speech" or "not_connected" is stored with that status and no score or
    verdict. The file is stored as an absolute path."""
    meta = _absolute(meta)
    silent = result.outcome in ("no_speech", "not_connected")
    t = result.timing_s
    v = result.versions
    cur = conn.execute(
        """INSERT INTO calls (sha256, file, call_id, agent_id, day, started_at, status,
        duration_s, channels, sample_rate, agent_channel, score, passed, fatal,
        agent_speech_rate_cpm, audit_version, model_version, rules_version,
        t_decode, t_vad, t_asr, t_rules, t_total, audited_at, result_json, acoustics_json, line)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (meta.sha256, meta.file, meta.call_id, meta.agent_id, meta.day, meta.started_at,
         result.outcome if silent else "ok",
         result.duration_s, result.channels, result.sample_rate, result.agent_channel,
         result.score, None if silent else int(result.passed),
         None if silent else int(result.fatal),
         result.metrics.agent_speech_rate_cpm, v["audit"], v["model"], v["rules"],
         t.get("decode"), t.get("vad"), t.get("asr"), t.get("rules"), t.get("total"), now(),
         _json(result), json.dumps(result.acoustics), meta.line),
    )
    call = int(cur.lastrowid or 0)
    _insert_children(conn, call, result)
    return call


def _json(result: CallResult) -> str:
    return json.dumps(result.to_json(), ensure_ascii=False)


def _insert_children(conn: sqlite3.Connection, call: int, result: CallResult) -> None:
    _insert_verdict(conn, call, result)
    conn.executemany(
        "INSERT INTO utterances VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(call, i, u.role, u.channel, round(u.start, 3), round(u.end, 3), u.text, u.level_dbfs)
         for i, u in enumerate(result.utterances)],
    )
    conn.executemany("INSERT INTO regions VALUES (?, ?, ?, ?, ?)",
                     [(call, r.channel, r.start, r.end, r.level_dbfs) for r in result.regions])
    hotwords.store_terms(conn, call, result)  # the caller's terms (hot words)


def _insert_verdict(conn: sqlite3.Connection, call: int, result: CallResult) -> None:
    """The rows a re-score replaces: findings and scalar metrics."""
    conn.executemany(
        "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(call, f.rule, f.section, f.severity, int(f.applicable), int(f.passed),
          f.deduction, f.message, f.detail,
          round(f.evidence[0].start, 3) if f.evidence else None,
          round(f.evidence[0].end, 3) if f.evidence else None,
          " | ".join(e.text for e in f.evidence),
          json.dumps([e.to_json() for e in f.evidence], ensure_ascii=False), int(f.review))
         for f in result.findings],
    )
    conn.executemany("INSERT INTO metrics VALUES (?, ?, ?)",
                     [(call, k, float(v)) for k, v in result.metrics.to_json().items()
                      if isinstance(v, (int, float))])  # scalars only (bools as 0/1)


def write_failure(conn: sqlite3.Connection, meta: CallMeta, error: str) -> None:
    """Store a file that could not be audited (status 'failed', its one-line `error`); its
    path absolute, as write_result stores it."""
    with transaction(conn):
        _replace(conn, meta)
        conn.execute(
            """INSERT INTO calls (sha256, file, call_id, agent_id, day, started_at, status, error,
            audited_at, line) VALUES (?, ?, ?, ?, ?, ?, 'failed', ?, ?, ?)""",
            (meta.sha256, os.path.abspath(meta.file), meta.call_id, meta.agent_id, meta.day,
             meta.started_at, error, now(), meta.line),
        )


def stored_redaction(conn: sqlite3.Connection) -> bool | None:
    """Whether the database stores masked transcripts (meta `transcripts`); None when it was
    never set (a new database, or one from before the setting: its text is as said)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'transcripts'").fetchone()
    return None if row is None else row[0] == "masked"


def redaction(conn: sqlite3.Connection, wanted: bool | None) -> bool:
    """Whether a batch into this database masks personal data (privacy/mask.py) before it
    stores a call. Set once, when the first calls are stored: masked unless `wanted` is False
    (a database made before the setting holds text as said and stays so). AuditError when
    `wanted` contradicts the setting: one database never mixes masked and unmasked calls."""
    stored = stored_redaction(conn)
    if stored is None:
        has_calls = conn.execute("SELECT 1 FROM calls LIMIT 1").fetchone() is not None
        stored = not has_calls and wanted is not False
        set_redaction(conn, stored)
    if wanted is not None and wanted != stored:
        path = database_file(conn)
        raise AuditError(
            f"{path}: stores {'masked' if stored else 'unmasked'} transcripts, and a database "
            f"never mixes the two: " + ("drop --no-redact, or use another database" if stored else
                                        f"drop --redact, or mask what it holds first "
                                        f"(audit redact --db {path})"))
    return stored


def rewrite_text(conn: sqlite3.Connection, call: int, result: CallResult) -> None:
    """Replace what a call's rows say (result, findings, utterances) by `result`, the same
    call masked: for `audit redact`, in one transaction."""
    with transaction(conn):
        conn.execute("UPDATE calls SET result_json = ? WHERE id = ?",
                     (_json(result), call))
        conn.execute("DELETE FROM findings WHERE call = ?", (call,))
        conn.execute("DELETE FROM metrics WHERE call = ?", (call,))
        _insert_verdict(conn, call, result)
        conn.executemany("UPDATE utterances SET text = ? WHERE call = ? AND idx = ?",
                         [(u.text, call, i) for i, u in enumerate(result.utterances)])
        hotwords.store_terms(conn, call, result)  # masked text: masked terms


def set_redaction(conn: sqlite3.Connection, masked: bool) -> None:
    with transaction(conn):
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('transcripts', ?)",
                     ("masked" if masked else "plain",))


def compact(conn: sqlite3.Connection) -> None:
    """Rebuild the file (VACUUM) and empty the write-ahead log: nothing deleted is left in
    free pages or in the log."""
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def update_scores(conn: sqlite3.Connection, call: int, result: CallResult) -> None:
    """Replace a call's verdict after re-scoring; its utterances and regions stay, their
    text as the result now writes it (a new pack's vocabulary)."""
    with transaction(conn):
        conn.executemany("UPDATE utterances SET text = ? WHERE call = ? AND idx = ?",
                         [(u.text, call, i) for i, u in enumerate(result.utterances)])
        hotwords.store_terms(conn, call, result)  # the text as the new pack's vocabulary writes it
        conn.execute(
            """UPDATE calls SET score = ?, passed = ?, fatal = ?, agent_speech_rate_cpm = ?,
            rules_version = ?, result_json = ? WHERE id = ?""",
            (result.score, int(result.passed), int(result.fatal),
             result.metrics.agent_speech_rate_cpm, result.versions["rules"], _json(result), call),
        )
        conn.execute("DELETE FROM findings WHERE call = ?", (call,))
        conn.execute("DELETE FROM metrics WHERE call = ?", (call,))
        _insert_verdict(conn, call, result)
