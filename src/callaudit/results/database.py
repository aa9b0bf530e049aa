"""The results database's schema, its migrations, and opening it (SQLite, WAL mode, one
writer): `connect`, `transaction`, and the two helpers every query uses, `rows` and `now`.
The overview is results/store.py's docstring; docs/DATABASE.md documents the tables."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from callaudit.errors import AuditError, StorageError, first_line
from callaudit.results import search
from callaudit.results.hotwords import TERMS_SCHEMA, add_terms_table

# The newest schema: a new database is created from it directly. An existing one is brought
# here by MIGRATIONS (below); tests/results/test_store.py checks that both roads end in the same tables.
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
  acoustics_json TEXT,
  line TEXT  -- the business line (batch --scorecards) whose pack judged it, NULL: none given
);
CREATE INDEX IF NOT EXISTS calls_file ON calls(file);
CREATE INDEX IF NOT EXISTS calls_agent ON calls(agent_id, day);
CREATE INDEX IF NOT EXISTS calls_find ON calls(status, day, score, agent_id, line, call_id, passed, fatal,
  duration_s, sha256, file);
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
CREATE INDEX IF NOT EXISTS findings_failed ON findings(call, rule, review)
  WHERE applicable = 1 AND passed = 0;
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


def _add_calls_line(conn: sqlite3.Connection) -> None:
    # A database migrated from version 1 or 2 has it already: step 3 rebuilt calls from SCHEMA.
    if "line" not in {r[1] for r in conn.execute("PRAGMA table_info(calls)")}:
        conn.execute("ALTER TABLE calls ADD COLUMN line TEXT")


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
                 "calibration_calls", "assignments")


# The audit trail is append-only, in the database itself: not even a SQL client edits it
# without dropping these first. (Separate from REVIEW_SCHEMA: a trigger body holds ';'.)
_TRAIL_GUARDS = [
    "CREATE TRIGGER IF NOT EXISTS trail_no_update BEFORE UPDATE ON trail "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS trail_no_delete BEFORE DELETE ON trail "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END",
]


def _add_review_tables(conn: sqlite3.Connection) -> None:
    run_step(conn, REVIEW_SCHEMA)
    for st in _TRAIL_GUARDS:
        conn.execute(st)


# Who reviews a queued call (a supervisor assigns the day's queue): one reviewer per call, or
# none. Not a lock: another reviewer is warned before giving a verdict (review/web/queue.py).
ASSIGN_SCHEMA = """
CREATE TABLE IF NOT EXISTS assignments (
  sha256 TEXT PRIMARY KEY,
  assigned_to TEXT NOT NULL,
  assigned_by TEXT NOT NULL,
  at TEXT NOT NULL
)
"""


# Which run is auditing which call (results/claims.py): two batches on one database split
# the calls instead of auditing each twice. Rows live only while a call is in flight.
CLAIMS_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
  sha256 TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  claimed_at REAL NOT NULL,
  at TEXT NOT NULL
)
"""


# Find calls (review/web/find.py) without reading the calls' stored results: the list's
# filters and sorts from one covering index, "rule failed" from the failed findings only.
FIND_INDEXES = """
CREATE INDEX IF NOT EXISTS calls_find ON calls(status, day, score, agent_id, line, call_id, passed, fatal,
  duration_s, sha256, file);
CREATE INDEX IF NOT EXISTS findings_failed ON findings(call, rule, review)
  WHERE applicable = 1 AND passed = 0
"""  # as in SCHEMA


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
    (6, "calls.line: the business line whose scorecard (rule pack) judged the call",
     _add_calls_line),
    (7, "assignments: which reviewer a queued call is assigned to", ASSIGN_SCHEMA),
    (8, "claims: which batch run is auditing which call (two runs split the calls)",
     CLAIMS_SCHEMA),
    (9, "indexes calls_find, findings_failed: the workbench's Find calls on 20,000 calls",
     FIND_INDEXES),
    (10, "transcript_index: every utterance searchable (FTS5; its triggers on utterances)",
     search.create),
    (11, "call_terms: the caller's terms of each call, once per call (hot words)",
     add_terms_table),
]


SCHEMA_VERSION = MIGRATIONS[-1][0]  # the newest: what SCHEMA is


def connect(path: str | Path, readonly: bool = False, check: bool = True) -> sqlite3.Connection:
    """Open the results database.

    A writer (the default) creates a missing database at the newest schema and brings an
    older one up to date (MIGRATIONS, one transaction). A reader (`readonly`) opens the file
    read-only (`mode=ro`): it never creates, migrates or writes, and needs no write access to
    the database file. Every problem (not a SQLite file, a schema newer than this code, a
    reader on a database that needs migrating, a missing file for a reader) is one-line
    AuditError naming the file. A writer first checks the file for damage (`damage`:
    quick_check); `check=False` skips it for a connection opened again and again after one
    that checked (the workbench's per request).
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
        raise _not_ours(path, e) from None
    conn.row_factory = sqlite3.Row
    search.register(conn)  # the transcript index's triggers call it on every write
    try:
        conn.execute("PRAGMA busy_timeout=60000")  # another writer (a second batch) waits, no error
        if readonly:
            _check_readable(conn, path)
        else:
            _open_writer(conn, path, check)
    except BaseException as e:
        conn.close()
        if isinstance(e, sqlite3.OperationalError) and _storage_fault(e):
            raise StorageError(f"{path}: cannot write the results database ({first_line(e)})") from None
        if isinstance(e, sqlite3.OperationalError):
            raise AuditError(f"{path}: cannot use the results database ({first_line(e)})") from None
        if isinstance(e, sqlite3.DatabaseError):  # "file is not a database", a damaged file
            raise _not_ours(path, e) from None
        raise
    return conn


def _not_ours(path: str | Path, e: sqlite3.DatabaseError) -> AuditError:
    """A file SQLite refuses: not a database at all, or a damaged one."""
    if "malformed" in str(e):
        return damaged(path, [first_line(e)])
    return AuditError(f"{path}: not a SQLite results database ({first_line(e)})")


def damage(conn: sqlite3.Connection, full: bool = False) -> list[str]:
    """What SQLite's own check finds wrong in the database file, at most 20 lines; [] when
    it is whole. quick_check (pages, records, the tables' structure: about a second per GB)
    or, `full`, integrity_check (indexes against their tables too). A file too damaged to
    be checked is one line saying so."""
    try:
        rows = conn.execute(f"PRAGMA {'integrity_check' if full else 'quick_check'}(20)").fetchall()
    except sqlite3.DatabaseError as e:
        if "not a database" in str(e):  # no SQLite file at all: not damage, said as such
            raise
        return [first_line(e)]
    found = [str(r[0]) for r in rows]
    return [] if found == ["ok"] else found


def damaged(path: str | Path, found: list[str]) -> AuditError:
    """The one-line error of a damaged database: what SQLite found and what to do."""
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return AuditError(f"{path}: the results database is damaged: {found[0]}{more}; nothing was "
                      f"written to it. `audit db check --db {path}` lists the damage; keep a "
                      f"copy, then restore a backup or recover what can be read with `sqlite3 "
                      f"{path} '.recover' | sqlite3 recovered.sqlite`")


def check_file(path: str | Path, full: bool = False) -> list[str]:
    """`damage` of the database file at `path`, opened read-only as it is (no migration, no
    check of its tables: a file too damaged for `connect` is still checked)."""
    try:
        conn = _open_reader(path)
        try:
            return damage(conn, full)
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return [first_line(e)]


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


def _open_writer(conn: sqlite3.Connection, path: str | Path, check: bool = True) -> None:
    # A damaged file is said before anything is written into it (a batch would otherwise
    # add a night of calls to pages SQLite may not read back).
    found = damage(conn) if check else []
    if found:
        raise damaged(path, found)
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
            run_step(conn, SCHEMA)
            _add_review_tables(conn)
            run_step(conn, ASSIGN_SCHEMA)
            run_step(conn, CLAIMS_SCHEMA)
            search.create(conn)
            run_step(conn, TERMS_SCHEMA)
            _set_version(conn, SCHEMA_VERSION)
        elif version < SCHEMA_VERSION:
            # orphans made before (rows deleted by hand with foreign keys off) are not ours to
            # refuse; only a reference the steps broke is
            orphans = len(conn.execute("PRAGMA foreign_key_check").fetchall())
            # version 0 with tables: made before the version was recorded; steps are idempotent
            for step_version, _, step in MIGRATIONS:
                if step_version > version:
                    run_step(conn, step)
                    _set_version(conn, step_version)
            if len(conn.execute("PRAGMA foreign_key_check").fetchall()) > orphans:
                raise AuditError(f"{path}: upgrading the database would break references "
                                 "between its tables; it is left as it was")
        search.keep_current(conn)  # made with another jieba or pypinyin: made again
    conn.execute("PRAGMA foreign_keys=ON")


def _check_readable(conn: sqlite3.Connection, path: str | Path) -> None:
    version, has_calls = _version(conn, path)
    if not has_calls:
        raise AuditError(f"{path}: not a callaudit results database (no calls table)")
    # A database the previous release wrote says version 1 even when it has every column
    # (it added `review` without saying so): what a reader needs is the columns, not the number.
    missing = _missing_columns(conn) if version < SCHEMA_VERSION else set()
    if missing - READER_DEFAULTS:
        raise AuditError(f"{path}: results database schema version {version} is older than this "
                         f"callaudit ({SCHEMA_VERSION}) and a read-only command does not upgrade it; "
                         f"run a writer command on it once, e.g. `audit rescore --db {path}` "
                         "(with the --rules it was audited with)")
    for table in sorted({t for t, _ in missing}):  # what a reader can do without reads as NULL
        nulls = ", ".join(f'NULL AS "{c}"' for t, c in sorted(missing) if t == table)
        conn.execute(f'CREATE TEMP VIEW "{table}" AS SELECT *, {nulls} FROM main."{table}"')  # noqa: S608


# Columns a migration added that a read-only command can do without, (table, column): on a
# database not yet upgraded (readers never migrate) they read as NULL, through a temporary
# view that stands for the table in the reader's connection only. So `audit summary` reads
# what the previous release wrote.
READER_DEFAULTS = {("calls", "line")}


def _columns(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {(tb, c[1]) for tb in tables for c in conn.execute(f'PRAGMA table_info("{tb}")')}


def _missing_columns(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    """(table, column) of the newest SCHEMA that `conn`'s database does not have. The review
    tables are not counted: a reader of a database no one has reviewed in sees no reviews."""
    fresh = sqlite3.connect(":memory:")
    try:
        run_step(fresh, SCHEMA)
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


def run_step(conn: sqlite3.Connection, step: Step) -> None:
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
            raise StorageError(f"{database_file(conn)}: cannot write the results database "
                               f"({first_line(e)})") from None
        raise


def database_file(conn: sqlite3.Connection) -> str:
    """The path of the database file `conn` has open (for messages)."""
    try:
        return str(conn.execute("PRAGMA database_list").fetchone()[2])
    except sqlite3.Error:
        return "results database"


def recording_file(file: str, db: str | Path | None = None) -> Path:
    """Where a stored recording path `file` is. writes.py stores paths absolute; a relative
    one (stored by an older release) is taken beside the database `db` when the file is
    there, else relative to the current folder: the same recording whatever folder a reader
    runs from (docs/DATABASE.md, `calls.file`)."""
    path = Path(file)
    if path.is_absolute() or not file:
        return path
    if db is not None:
        beside = Path(db).resolve().parent / path
        if beside.exists():
            return beside
    return path.absolute()


def now() -> str:
    """The local time as stored (ISO 8601, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S")


# --- reading ---------------------------------------------------------------------------------------
def fetch_rows(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """The rows of a query, as dicts."""
    return [dict(r) for r in conn.execute(sql, args)]
