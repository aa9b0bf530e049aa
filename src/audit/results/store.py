"""The results database (SQLite): one writer, WAL mode, one transaction per call.

A call is identified by the sha256 of its file's content: re-running a batch skips what is
stored, a file whose content changed is audited again (its old row replaced), and a copy
of the same recording under another name is not audited twice. Every call is written in a
single transaction, so a batch killed at any point leaves only whole calls behind.

Schema (documented for QA leads in docs/DATABASE.md):
  calls       one row per recording: identity, agent, day, status, score, verdict, versions,
              timings, and the full audit.call/1 result as JSON
  findings    one row per rule evaluated on a call (with its first evidence span and all
              evidence as text)
  utterances  what was said, by whom, when
  regions     VAD speech regions (kept so a call can be re-scored without its audio)
  metrics     scalar metrics of a call, one row per (call, name)
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS calls (
  id INTEGER PRIMARY KEY,
  sha256 TEXT NOT NULL UNIQUE,
  file TEXT NOT NULL,
  call_id TEXT,
  agent_id TEXT,
  day TEXT,
  started_at TEXT,
  status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
  error TEXT,
  duration_s REAL,
  channels INTEGER,
  sample_rate INTEGER,
  agent_channel TEXT,
  score REAL,
  passed INTEGER,
  fatal INTEGER,
  agent_speech_rate_cpm REAL,
  audit_version TEXT,
  model_version TEXT,
  rules_version TEXT,
  t_decode REAL, t_vad REAL, t_asr REAL, t_rules REAL, t_total REAL,
  audited_at TEXT NOT NULL,
  result_json TEXT,
  acoustics_json TEXT
);
CREATE INDEX IF NOT EXISTS calls_file ON calls(file);
CREATE INDEX IF NOT EXISTS calls_agent ON calls(agent_id, day);
CREATE TABLE IF NOT EXISTS findings (
  call INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
  rule TEXT NOT NULL,
  section TEXT,
  severity TEXT,
  applicable INTEGER,
  passed INTEGER,
  deduction REAL,
  message TEXT,
  detail TEXT,
  start REAL,
  "end" REAL,
  evidence_text TEXT,
  evidence_json TEXT,
  review INTEGER DEFAULT 0
);
CREATE INDEX IF NOT EXISTS findings_call ON findings(call);
CREATE INDEX IF NOT EXISTS findings_rule ON findings(rule, passed);
CREATE TABLE IF NOT EXISTS utterances (
  call INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
  idx INTEGER, role TEXT, channel INTEGER, start REAL, "end" REAL, text TEXT, level_dbfs REAL
);
CREATE INDEX IF NOT EXISTS utterances_call ON utterances(call);
CREATE TABLE IF NOT EXISTS regions (
  call INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
  channel INTEGER, start REAL, "end" REAL, level_dbfs REAL
);
CREATE INDEX IF NOT EXISTS regions_call ON regions(call);
CREATE TABLE IF NOT EXISTS metrics (
  call INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
  name TEXT NOT NULL, value REAL
);
CREATE INDEX IF NOT EXISTS metrics_call ON metrics(call);
"""


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


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)  # explicit BEGINs
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=60000")  # another writer (a second batch) waits, no error
    # Switching to WAL needs a moment alone with the file and does not wait on the busy
    # handler: two batches starting on a new database at once would collide. Retry.
    for attempt in range(600):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            if attempt == 599:
                raise
            time.sleep(0.1)
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a power loss loses no commit
    conn.execute("PRAGMA foreign_keys=ON")
    with transaction(conn):  # BEGIN IMMEDIATE waits for a concurrent creator, then sees its tables
        for stmt in DDL.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        # databases made before findings had `review` (failed, but who spoke is unsure)
        if "review" not in {r[1] for r in conn.execute("PRAGMA table_info(findings)")}:
            conn.execute("ALTER TABLE findings ADD COLUMN review INTEGER DEFAULT 0")
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")  # take the write lock now, not half-way through
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def known(conn: sqlite3.Connection) -> dict[str, str]:
    """sha256 -> status of every stored call."""
    return {r["sha256"]: r["status"] for r in conn.execute("SELECT sha256, status FROM calls")}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _replace(conn: sqlite3.Connection, meta: CallMeta) -> None:
    # The same content (any path) or the same path (older content) is replaced, never doubled.
    conn.execute("DELETE FROM calls WHERE sha256 = ? OR file = ?", (meta.sha256, meta.file))


def write_result(conn: sqlite3.Connection, meta: CallMeta, result: dict[str, Any],
                 regions: list[dict[str, Any]], acoustics: dict[str, Any]) -> int:
    with transaction(conn):
        _replace(conn, meta)
        return _insert(conn, meta, result, regions, acoustics)


def _insert(conn: sqlite3.Connection, meta: CallMeta, result: dict[str, Any],
            regions: list[dict[str, Any]], acoustics: dict[str, Any]) -> int:
    t = result["timing_s"]
    v = result["versions"]
    cur = conn.execute(
        """INSERT INTO calls (sha256, file, call_id, agent_id, day, started_at, status,
        duration_s, channels, sample_rate, agent_channel, score, passed, fatal,
        agent_speech_rate_cpm, audit_version, model_version, rules_version,
        t_decode, t_vad, t_asr, t_rules, t_total, audited_at, result_json, acoustics_json)
        VALUES (?, ?, ?, ?, ?, ?, 'ok', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (meta.sha256, meta.file, meta.call_id, meta.agent_id, meta.day, meta.started_at,
         result["duration_s"], result["channels"], result["sample_rate"], result["agent_channel"],
         result["score"], int(result["passed"]), int(result["fatal"]),
         result["metrics"].get("agent_speech_rate_cpm"), v["audit"], v["model"], v["rules"],
         t.get("decode"), t.get("vad"), t.get("asr"), t.get("rules"), t.get("total"), _now(),
         json.dumps(result, ensure_ascii=False), json.dumps(acoustics)),
    )
    call = int(cur.lastrowid or 0)
    _insert_children(conn, call, result, regions)
    return call


def _insert_children(conn: sqlite3.Connection, call: int, result: dict[str, Any],
                     regions: list[dict[str, Any]]) -> None:
    _insert_verdict(conn, call, result)
    conn.executemany(
        "INSERT INTO utterances VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(call, i, u["role"], u.get("channel"), u["start"], u["end"], u["text"],
          u.get("level_dbfs")) for i, u in enumerate(result["utterances"])],
    )
    conn.executemany("INSERT INTO regions VALUES (?, ?, ?, ?, ?)",
                     [(call, r["channel"], r["start"], r["end"], r["level_dbfs"]) for r in regions])


def _insert_verdict(conn: sqlite3.Connection, call: int, result: dict[str, Any]) -> None:
    """The rows a re-score replaces: findings and scalar metrics."""
    conn.executemany(
        "INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(call, f["rule"], f["section"], f["severity"], int(f["applicable"]), int(f["passed"]),
          f["deduction"], f["message"], f.get("detail", ""),
          f["evidence"][0]["start"] if f["evidence"] else None,
          f["evidence"][0]["end"] if f["evidence"] else None,
          " | ".join(e["text"] for e in f["evidence"]),
          json.dumps(f["evidence"], ensure_ascii=False), int(f.get("review", False)))
         for f in result["findings"]],
    )
    conn.executemany("INSERT INTO metrics VALUES (?, ?, ?)",
                     [(call, k, float(v)) for k, v in result["metrics"].items()
                      if isinstance(v, (int, float))])  # scalars only (bools as 0/1)


def write_failure(conn: sqlite3.Connection, meta: CallMeta, error: str) -> None:
    with transaction(conn):
        _replace(conn, meta)
        conn.execute(
            """INSERT INTO calls (sha256, file, call_id, agent_id, day, started_at, status, error,
            audited_at) VALUES (?, ?, ?, ?, ?, ?, 'failed', ?, ?)""",
            (meta.sha256, meta.file, meta.call_id, meta.agent_id, meta.day, meta.started_at,
             error, _now()),
        )


def update_scores(conn: sqlite3.Connection, call: int, result: dict[str, Any]) -> None:
    """Replace a call's verdict after re-scoring; its utterances and regions stay."""
    with transaction(conn):
        conn.execute(
            """UPDATE calls SET score = ?, passed = ?, fatal = ?, agent_speech_rate_cpm = ?,
            rules_version = ?, result_json = ? WHERE id = ?""",
            (result["score"], int(result["passed"]), int(result["fatal"]),
             result["metrics"].get("agent_speech_rate_cpm"), result["versions"]["rules"],
             json.dumps(result, ensure_ascii=False), call),
        )
        conn.execute("DELETE FROM findings WHERE call = ?", (call,))
        conn.execute("DELETE FROM metrics WHERE call = ?", (call,))
        _insert_verdict(conn, call, result)
