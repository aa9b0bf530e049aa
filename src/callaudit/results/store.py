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

This module is the only one that holds SQL: summaries, exports, the dashboard and re-scoring
ask it for rows (tests/test_store.py keeps it so). The schema has a version (SCHEMA_VERSION,
stored in meta.schema_version); MIGRATIONS brings an older database up to it on connect().
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callaudit.errors import AuditError, StorageError, first_line

# The newest schema: a new database is created from it directly. An existing one is brought
# here by MIGRATIONS (below); tests/test_store.py checks that both roads end in the same tables.
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS calls (
  id INTEGER PRIMARY KEY,
  sha256 TEXT NOT NULL UNIQUE,
  file TEXT NOT NULL,
  call_id TEXT,
  agent_id TEXT,
  day TEXT,
  started_at TEXT,
  status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'no_speech', 'not_connected')),
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

# Version 1 exactly as it was released: frozen, never edited (SCHEMA is what changes).
_V1 = """
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
  evidence_json TEXT
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


def _add_findings_review(conn: sqlite3.Connection) -> None:
    # Some version-1 databases already have the column: the code of that time added it on
    # connect without bumping the version.
    if "review" not in {r[1] for r in conn.execute("PRAGMA table_info(findings)")}:
        conn.execute("ALTER TABLE findings ADD COLUMN review INTEGER DEFAULT 0")


def _allow_no_speech(conn: sqlite3.Connection) -> None:
    _allow_status(conn, "no_speech")


def _allow_not_connected(conn: sqlite3.Connection) -> None:
    _allow_status(conn, "not_connected")


def _allow_status(conn: sqlite3.Connection, status: str) -> None:
    # SQLite cannot alter a CHECK constraint: the calls table is rebuilt from SCHEMA's and
    # its rows copied (connect() runs migrations with foreign keys off, so dropping the old
    # table does not cascade to findings, utterances, regions and metrics).
    if f"'{status}'" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'calls'").fetchone()[0]:
        return
    # SQLite's procedure for other table changes (lang_altertable.html, section 7): a user's
    # own views, triggers and indexes on calls are set aside and made again afterwards.
    own = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND "
                       "(type = 'view' OR (tbl_name = 'calls' AND type IN ('index', 'trigger'))) "
                       "AND name NOT IN ('calls_file', 'calls_agent')").fetchall()
    for kind, name, _ in own:
        conn.execute(f'DROP {kind.upper()} "{name}"')
    create = next(st for st in SCHEMA.split(";") if "CREATE TABLE IF NOT EXISTS calls " in st)
    conn.execute(create.replace("IF NOT EXISTS calls ", "calls_new "))
    cols = ", ".join(f'"{r[1]}"' for r in conn.execute("PRAGMA table_info(calls)"))
    conn.execute(f"INSERT INTO calls_new ({cols}) SELECT {cols} FROM calls")  # noqa: S608
    conn.execute("DROP TABLE calls")
    conn.execute("ALTER TABLE calls_new RENAME TO calls")
    for st in SCHEMA.split(";"):
        if "CREATE INDEX IF NOT EXISTS calls_" in st:
            conn.execute(st)
    for _kind, _, sql in sorted(own, key=lambda o: o[0] == "trigger"):  # triggers may use views
        conn.execute(sql)


# The review workbench's tables (audit serve): people, their verdicts on findings, appeals,
# the nightly queue and calibration sessions. Keyed by the call's sha256 and the rule id, not
# by row ids: a re-audit or a re-score replaces a call's rows, never what people decided.
REVIEW_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'reviewer', 'agent')),
  agent_id TEXT,
  password_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  session_gen INTEGER NOT NULL DEFAULT 0  -- bumped on log-out and account changes: old cookies die
);
CREATE TABLE IF NOT EXISTS reviews (
  id INTEGER PRIMARY KEY,
  sha256 TEXT NOT NULL,
  rule TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('confirmed', 'overturned', 'not_applicable')),
  reason TEXT NOT NULL DEFAULT '',
  reviewer TEXT NOT NULL,
  rules_version TEXT,
  calibration INTEGER,
  at TEXT NOT NULL,
  seq INTEGER NOT NULL  -- its trail entry's id: the order of everything people decided
);
CREATE INDEX IF NOT EXISTS reviews_call ON reviews(sha256, rule);
CREATE TABLE IF NOT EXISTS missed_findings (
  id INTEGER PRIMARY KEY,
  sha256 TEXT NOT NULL,
  rule TEXT NOT NULL,
  start REAL,
  comment TEXT NOT NULL,
  reviewer TEXT NOT NULL,
  rules_version TEXT,
  calibration INTEGER,
  at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS missed_call ON missed_findings(sha256);
CREATE TABLE IF NOT EXISTS call_notes (
  id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, author TEXT NOT NULL, note TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS appeals (
  id INTEGER PRIMARY KEY,
  sha256 TEXT NOT NULL,
  rule TEXT NOT NULL,
  agent TEXT NOT NULL,
  comment TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'finding_upheld', 'finding_overturned')),
  decided_by TEXT,
  decision_reason TEXT,
  at TEXT NOT NULL,
  decided_at TEXT,
  decided_seq INTEGER  -- the decision's trail entry id
);
CREATE INDEX IF NOT EXISTS appeals_call ON appeals(sha256);
CREATE TABLE IF NOT EXISTS trail (
  id INTEGER PRIMARY KEY,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  sha256 TEXT,
  rule TEXT,
  before_json TEXT,
  after_json TEXT
);
CREATE TABLE IF NOT EXISTS reviewed_scores (
  sha256 TEXT PRIMARY KEY,
  score REAL,
  passed INTEGER,
  fatal INTEGER,
  sections_json TEXT,
  at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sample_plans (
  id INTEGER PRIMARY KEY,
  day TEXT NOT NULL UNIQUE,
  seed TEXT NOT NULL,
  rules_json TEXT NOT NULL,
  drawn_at TEXT NOT NULL,
  drawn_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sample_items (
  plan INTEGER NOT NULL REFERENCES sample_plans(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  agent_id TEXT,
  reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sample_items_plan ON sample_items(plan);
CREATE TABLE IF NOT EXISTS calibrations (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_by TEXT NOT NULL, at TEXT NOT NULL,
  closed_at TEXT  -- agreement is shown once closed, and no more reviews taken
);
CREATE TABLE IF NOT EXISTS calibration_calls (
  calibration INTEGER NOT NULL REFERENCES calibrations(id) ON DELETE CASCADE,
  sha256 TEXT NOT NULL,
  UNIQUE (calibration, sha256)
);
"""
REVIEW_TABLES = ("users", "reviews", "missed_findings", "call_notes", "appeals", "trail",
                 "reviewed_scores", "sample_plans", "sample_items", "calibrations",
                 "calibration_calls")

# The audit trail is append-only, in the database itself: not even a SQL client edits it
# without dropping these first. (Separate from REVIEW_SCHEMA: a trigger body holds ';'.)
_TRAIL_GUARDS = [
    "CREATE TRIGGER IF NOT EXISTS trail_no_update BEFORE UPDATE ON trail "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS trail_no_delete BEFORE DELETE ON trail "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
]


def _add_review_tables(conn: sqlite3.Connection) -> None:
    _run(conn, REVIEW_SCHEMA)
    for st in _TRAIL_GUARDS:
        conn.execute(st)


Step = Callable[[sqlite3.Connection], None] | str

# (version, what it changes, SQL statements separated by ';' or a function of the connection).
# connect() applies the steps above a database's version in order, in one transaction, and
# records each in meta.schema_version. Append only; never edit a released step. See
# docs/DATABASE.md, "Adding a migration".
MIGRATIONS: list[tuple[int, str, Step]] = [
    (1, "tables meta, calls, findings, utterances, regions, metrics", _V1),
    (2, "findings.review: failed, but who spoke is unsure (a person decides)", _add_findings_review),
    (3, "calls.status 'no_speech': nobody was heard, no call to judge", _allow_no_speech),
    (4, "review tables: users, reviews, appeals, trail, queue, calibration", _add_review_tables),
    (5, "calls.status 'not_connected': the call never reached a person, no call to judge",
     _allow_not_connected),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]  # the newest: what SCHEMA is


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


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the results database.

    A writer (the default) creates a missing database at the newest schema and brings an
    older one up to date (MIGRATIONS, one transaction). A reader (`readonly`) opens the file
    read-only (`mode=ro`): it never creates, migrates or writes, and needs no write access to
    the database file. Every problem (not a SQLite file, a schema newer than this code, a
    reader on a database that needs migrating, a missing file for a reader) is one-line
    AuditError naming the file.
    """
    if readonly and not Path(path).is_file():
        raise AuditError(f"{path}: no such results database")
    if not readonly:
        folder = Path(path).resolve().parent
        if not folder.is_dir():  # a usage error, not the medium's
            raise AuditError(f"{path}: folder {folder} does not exist")
        why = _not_writable(Path(path))
        if why:  # at once, not after the busy handler's wait
            raise StorageError(f"{path}: cannot write the results database ({why})")
    try:
        conn = _open_reader(path) if readonly else \
            sqlite3.connect(str(path), timeout=60, isolation_level=None)  # explicit BEGINs
    except sqlite3.OperationalError as e:
        raise AuditError(f"{path}: cannot open the results database ({first_line(e)})") from None
    except sqlite3.DatabaseError as e:  # "file is not a database", seen by the reader's probe
        raise AuditError(f"{path}: not a SQLite results database ({first_line(e)})") from None
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA busy_timeout=60000")  # another writer (a second batch) waits, no error
        if readonly:
            _check_readable(conn, path)
        else:
            _open_writer(conn, path)
    except BaseException as e:
        conn.close()
        if isinstance(e, sqlite3.OperationalError) and _storage_fault(e):
            raise StorageError(f"{path}: cannot write the results database ({first_line(e)})") from None
        if isinstance(e, sqlite3.OperationalError):
            raise AuditError(f"{path}: cannot use the results database ({first_line(e)})") from None
        if isinstance(e, sqlite3.DatabaseError):  # "file is not a database", a damaged file
            raise AuditError(f"{path}: not a SQLite results database ({first_line(e)})") from None
        raise
    return conn


def _open_reader(path: str | Path) -> sqlite3.Connection:
    """Read-only (`mode=ro`, a URI so that the path may hold '?' or '#'; no file is created).
    A WAL database on a read-only medium cannot be opened so (its -shm index cannot be made):
    there nothing can write it either, so it is opened as immutable."""
    uri = Path(path).resolve().as_uri()
    conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=60, isolation_level=None)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if not _not_writable(Path(path).resolve().parent):
            raise
    except BaseException:
        conn.close()
        raise
    wal = Path(f"{path}-wal")
    if wal.is_file() and wal.stat().st_size > 0:  # immutable would not see what it holds
        raise AuditError(f"{path}: its write-ahead log ({wal.name}) holds calls not yet in the "
                         "database, and the folder is read-only; open it once where it can be "
                         "written (any audit command that writes), or copy it with its -wal "
                         "and -shm files")
    return sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)


def _not_writable(path: Path) -> str:
    """Why a writer cannot write `path` (a database file, or the folder a new one goes in);
    "" when it can. Checked first so that the error is one line at once."""
    target = path if path.exists() else path.resolve().parent
    folder = target if target.is_dir() else target.parent
    if not folder.is_dir():
        return f"folder {folder} does not exist"
    try:
        if os.statvfs(target).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError:
        pass
    # WAL needs to create -wal and -shm files beside the database: the folder must be writable
    for p in {target, folder}:
        if not os.access(p, os.W_OK):
            return f"no write permission on {p}"
    return ""


def _storage_fault(e: sqlite3.Error) -> bool:
    """Errors of the disk or the medium, not of the data: full, read-only, I/O."""
    msg = str(e).lower()
    return any(k in msg for k in ("disk is full", "readonly", "read-only", "disk i/o",
                                  "unable to open"))


def _open_writer(conn: sqlite3.Connection, path: str | Path) -> None:
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
    # Foreign keys off while migrating (a step may rebuild a table; see _allow_no_speech),
    # checked before the commit, then on for the writer's work.
    conn.execute("PRAGMA foreign_keys=OFF")
    with transaction(conn):  # BEGIN IMMEDIATE waits for a concurrent creator, then sees its tables
        version, has_calls = _version(conn, path)
        if version == 0 and not has_calls:  # brand new: the newest schema directly
            _run(conn, SCHEMA)
            _add_review_tables(conn)
            _set_version(conn, SCHEMA_VERSION)
        elif version < SCHEMA_VERSION:
            # orphans made before (rows deleted by hand with foreign keys off) are not ours to
            # refuse; only a reference the steps broke is
            orphans = len(conn.execute("PRAGMA foreign_key_check").fetchall())
            # version 0 with tables: made before the version was recorded; steps are idempotent
            for step_version, _, step in MIGRATIONS:
                if step_version > version:
                    _run(conn, step)
                    _set_version(conn, step_version)
            if len(conn.execute("PRAGMA foreign_key_check").fetchall()) > orphans:
                raise AuditError(f"{path}: upgrading the database would break references "
                                 "between its tables; it is left as it was")
    conn.execute("PRAGMA foreign_keys=ON")


def _check_readable(conn: sqlite3.Connection, path: str | Path) -> None:
    version, has_calls = _version(conn, path)
    if not has_calls:
        raise AuditError(f"{path}: not a callaudit results database (no calls table)")
    # A database the previous release wrote says version 1 even when it has every column
    # (it added `review` without saying so): what a reader needs is the columns, not the number.
    if version < SCHEMA_VERSION and _missing_columns(conn):
        raise AuditError(f"{path}: results database schema version {version} is older than this "
                         f"callaudit ({SCHEMA_VERSION}) and a read-only command does not upgrade it; "
                         f"run a writer command on it once, e.g. `audit rescore --db {path}` "
                         "(with the --rules it was audited with)")


def _columns(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {(tb, c[1]) for tb in tables for c in conn.execute(f'PRAGMA table_info("{tb}")')}


def _missing_columns(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    """(table, column) of the newest SCHEMA that `conn`'s database does not have. The review
    tables are not counted: a reader of a database no one has reviewed in sees no reviews."""
    fresh = sqlite3.connect(":memory:")
    try:
        _run(fresh, SCHEMA)
        return _columns(fresh) - _columns(conn)
    finally:
        fresh.close()


def _version(conn: sqlite3.Connection, path: str | Path) -> tuple[int, bool]:
    """(meta.schema_version or 0 when none is recorded, whether the calls table exists)."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    row = None
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        version = int(row[0]) if row else 0
    except (TypeError, ValueError):
        raise AuditError(f"{path}: unreadable schema version {row[0]!r} in the results "
                         "database") from None
    if version > SCHEMA_VERSION:
        raise AuditError(f"{path}: results database schema version {version} is newer than this "
                         f"callaudit understands ({SCHEMA_VERSION}); upgrade callaudit")
    return version, "calls" in tables


def _run(conn: sqlite3.Connection, step: Step) -> None:
    if callable(step):
        step(conn)
        return
    for stmt in step.split(";"):  # not executescript(): it would COMMIT the transaction
        if stmt.strip():
            conn.execute(stmt)


def _set_version(conn: sqlite3.Connection, version: int) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(version),))


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed at the end of the block, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")  # take the write lock now, not half-way through
    try:
        yield
        conn.execute("COMMIT")
    except BaseException as e:
        with suppress(sqlite3.Error):  # a failed COMMIT may have rolled back already
            conn.execute("ROLLBACK")
        if isinstance(e, sqlite3.OperationalError) and _storage_fault(e):
            # the disk, not the call: every call committed before this one is intact
            raise StorageError(f"{_file_of(conn)}: cannot write the results database "
                               f"({first_line(e)})") from None
        raise


def _file_of(conn: sqlite3.Connection) -> str:
    try:
        return str(conn.execute("PRAGMA database_list").fetchone()[2])
    except sqlite3.Error:
        return "results database"


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
    """Store an audited call in its own transaction, replacing any row of the same content or
    file; returns the call's row id."""
    with transaction(conn):
        _replace(conn, meta)
        return insert_call(conn, meta, result, regions, acoustics)


def insert_call(conn: sqlite3.Connection, meta: CallMeta, result: dict[str, Any],
                regions: list[dict[str, Any]], acoustics: dict[str, Any]) -> int:
    """Insert an audited call (its audit.call/1 `result`, VAD `regions`, measured `acoustics`)
    inside the caller's transaction, replacing nothing; returns the call's row id. For bulk
    loads (one transaction for many calls); the batch uses write_result. A result whose
    outcome is "no_speech" or "not_connected" is stored with that status and no score or
    verdict."""
    silent = result.get("outcome") in ("no_speech", "not_connected")
    t = result["timing_s"]
    v = result["versions"]
    cur = conn.execute(
        """INSERT INTO calls (sha256, file, call_id, agent_id, day, started_at, status,
        duration_s, channels, sample_rate, agent_channel, score, passed, fatal,
        agent_speech_rate_cpm, audit_version, model_version, rules_version,
        t_decode, t_vad, t_asr, t_rules, t_total, audited_at, result_json, acoustics_json)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (meta.sha256, meta.file, meta.call_id, meta.agent_id, meta.day, meta.started_at,
         result["outcome"] if silent else "ok",
         result["duration_s"], result["channels"], result["sample_rate"], result["agent_channel"],
         result["score"], None if silent else int(result["passed"]),
         None if silent else int(result["fatal"]),
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
    """Store a file that could not be audited (status 'failed', its one-line `error`)."""
    with transaction(conn):
        _replace(conn, meta)
        conn.execute(
            """INSERT INTO calls (sha256, file, call_id, agent_id, day, started_at, status, error,
            audited_at) VALUES (?, ?, ?, ?, ?, ?, 'failed', ?, ?)""",
            (meta.sha256, meta.file, meta.call_id, meta.agent_id, meta.day, meta.started_at,
             error, _now()),
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
        path = _file_of(conn)
        raise AuditError(
            f"{path}: stores {'masked' if stored else 'unmasked'} transcripts, and a database "
            f"never mixes the two: " + ("drop --no-redact, or use another database" if stored else
                                        f"drop --redact, or mask what it holds first "
                                        f"(audit redact --db {path})"))
    return stored


def rewrite_text(conn: sqlite3.Connection, call: int, result: dict[str, Any]) -> None:
    """Replace what a call's rows say (result, findings, utterances) by `result`, the same
    call masked: for `audit redact`, in one transaction."""
    with transaction(conn):
        conn.execute("UPDATE calls SET result_json = ? WHERE id = ?",
                     (json.dumps(result, ensure_ascii=False), call))
        conn.execute("DELETE FROM findings WHERE call = ?", (call,))
        conn.execute("DELETE FROM metrics WHERE call = ?", (call,))
        _insert_verdict(conn, call, result)
        conn.executemany("UPDATE utterances SET text = ? WHERE call = ? AND idx = ?",
                         [(u["text"], call, i) for i, u in enumerate(result["utterances"])])


def set_redaction(conn: sqlite3.Connection, masked: bool) -> None:
    with transaction(conn):
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('transcripts', ?)",
                     ("masked" if masked else "plain",))


def call_ids(conn: sqlite3.Connection) -> list[int]:
    """The row id of every stored call, in the order stored."""
    return [r[0] for r in conn.execute("SELECT id FROM calls ORDER BY id")]


def stored_result(conn: sqlite3.Connection, call: int) -> dict[str, Any] | None:
    """A call's audit.call/1 result by row id (None for a file that failed, or none)."""
    row = conn.execute("SELECT result_json FROM calls WHERE id = ?", (call,)).fetchone()
    return json.loads(row[0]) if row and row[0] else None


def compact(conn: sqlite3.Connection) -> None:
    """Rebuild the file (VACUUM) and empty the write-ahead log: nothing deleted is left in
    free pages or in the log."""
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def update_scores(conn: sqlite3.Connection, call: int, result: dict[str, Any]) -> None:
    """Replace a call's verdict after re-scoring; its utterances and regions stay, their
    text as the result now writes it (a new pack's vocabulary)."""
    with transaction(conn):
        conn.executemany("UPDATE utterances SET text = ? WHERE call = ? AND idx = ?",
                         [(u["text"], call, i) for i, u in enumerate(result["utterances"])])
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


# --- reading ---------------------------------------------------------------------------------------
def _rows(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sql, args)]


SUMMARY_BY = ("agent", "rule", "day")


def summary_rows(conn: sqlite3.Connection, by: str, day: str | None = None,
                 top: int = 3) -> list[dict[str, Any]]:
    """One row per agent, rule or day (`by`), of one `day` or of all.

    Per agent and per day: calls (audited), audio_hours (all), avg_score, pass_rate,
    fatal_calls, (agent: avg_speech_rate_cpm), no_speech (recordings in which nobody was
    heard: not calls, never passed), not_connected (calls that never reached a person: a
    network's announcement, no answer, busy; not calls either), unreadable_files and
    top_failures, the `top` most failed rules as [(rule, times), ...] (failures needing
    review left out). Per rule: section, severity, applicable, failed, fail_rate,
    needs_review, points_deducted; the most failed first.
    """
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
                   SUM(status = 'no_speech') AS no_speech,
                   SUM(status = 'not_connected') AS not_connected,
                   SUM(status = 'failed') AS unreadable_files
            FROM calls WHERE 1 {where} GROUP BY agent ORDER BY agent""", args)  # noqa: S608
        failures = _top_failures(conn, "COALESCE(c.agent_id, '(unknown)')", top)
        for r in rows:
            r["top_failures"] = failures.get(r["agent"], [])
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
                   SUM(status = 'no_speech') AS no_speech,
                   SUM(status = 'not_connected') AS not_connected,
                   SUM(status = 'failed') AS unreadable_files
            FROM calls WHERE 1 {where} GROUP BY day ORDER BY day""", args)  # noqa: S608
        failures = _top_failures(conn, "COALESCE(c.day, '(unknown)')", top)
        for r in rows:
            r["top_failures"] = failures.get(r["day"], [])
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
                "rules_version", "model_version", "audited_at")


def call_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every stored call (ok and failed), in the order stored: CALL_COLUMNS and failed_rules,
    the rules it failed as [(rule, needs_review), ...]."""
    rows = _rows(conn, f"SELECT {', '.join(CALL_COLUMNS)} FROM calls ORDER BY id")  # noqa: S608
    failed: dict[int, list[tuple[str, bool]]] = {}
    for r in conn.execute("SELECT call, rule, review FROM findings WHERE applicable = 1 AND passed = 0"):
        failed.setdefault(r["call"], []).append((r["rule"], bool(r["review"])))
    for r in rows:
        r["failed_rules"] = failed.get(r["id"], [])
    return rows


def result_rows(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    """Every stored call in the order stored, one at a time: id, call_id, agent_id, day, file,
    status, error, sha256 and result (its audit.call/1 dict; None for a file that failed)."""
    for r in conn.execute("SELECT id, call_id, agent_id, day, file, status, error, sha256, "
                          "result_json FROM calls ORDER BY id"):
        d = {k: r[k] for k in ("id", "call_id", "agent_id", "day", "file", "status", "error",
                               "sha256")}
        d["result"] = json.loads(r["result_json"]) if r["result_json"] else None
        yield d


def stored_call(conn: sqlite3.Connection, call_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An audited call by call id, file or sha256 (the newest if several): its audit.call/1
    result and {call_id, agent_id, day, file}. AuditError if there is none."""
    row = conn.execute("SELECT call_id, agent_id, day, file, result_json FROM calls "
                       "WHERE status IN ('ok', 'no_speech', 'not_connected') "
                       "AND (call_id = ? OR sha256 = ? OR file = ?) "
                       "ORDER BY id DESC", (call_id, call_id, call_id)).fetchone()
    if row is None:
        raise AuditError(f"no audited call {call_id!r} in the database")
    meta = {k: row[k] for k in ("call_id", "agent_id", "day", "file")}
    return json.loads(row["result_json"]), meta


def ok_calls(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The audited calls, lowest score first: id, sha256, call_id, agent_id, day, file,
    duration_s, score, passed, fatal."""
    return _rows(conn, "SELECT id, sha256, call_id, agent_id, day, file, duration_s, score, passed, fatal "
                       "FROM calls WHERE status = 'ok' ORDER BY score, id")


def failed_files(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The files that could not be audited, in the order stored: file, error, day, agent_id."""
    return _rows(conn, "SELECT file, error, day, agent_id FROM calls WHERE status = 'failed' "
                       "ORDER BY id")


def no_speech_calls(conn: sqlite3.Connection, status: str = "no_speech") -> list[dict[str, Any]]:
    """Recordings with no call to judge, `status` no_speech (nobody was heard) or
    not_connected, in the order stored: file, day, agent_id and why (the result's
    outcome_why: {key, args, text})."""
    rows = _rows(conn, "SELECT file, day, agent_id, result_json FROM calls "
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
    need not fit in memory): len() is how many; iterating yields (id, result, regions,
    acoustics) with result the audit.call/1 dict, regions [{channel, start, end, level_dbfs}]
    by start, acoustics the measured values dict. A call deleted meanwhile is skipped."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._ids = [r[0] for r in conn.execute("SELECT id FROM calls WHERE status = 'ok' ORDER BY id")]

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any], list[dict[str, Any]], dict[str, Any]]]:
        for call in self._ids:
            row = self._conn.execute("SELECT result_json, acoustics_json FROM calls "
                                     "WHERE id = ? AND status = 'ok'", (call,)).fetchone()
            if row is None:
                continue
            regions = _rows(self._conn, 'SELECT channel, start, "end", level_dbfs FROM regions '
                                        "WHERE call = ? ORDER BY start", (call,))
            yield call, json.loads(row["result_json"]), regions, json.loads(row["acoustics_json"])


def calls_to_rescore(conn: sqlite3.Connection) -> CallsToRescore:
    """The audited calls with what re-scoring needs (see CallsToRescore)."""
    return CallsToRescore(conn)
