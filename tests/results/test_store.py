"""The results database: one module owns SQL, the schema has a checked version, migrations are
explicit, readers open it read-only. Fast: hand-made results, no model."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from callaudit.cli import main
from callaudit.errors import AuditError, StorageError
from callaudit.results import store
from callaudit.results.export import export
from callaudit.results.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    calls_to_rescore,
    connect,
    write_failure,
    write_result,
)
from callaudit.results.summary import summary
from tests.helpers import ROOT, record, remount_ro
from tests.helpers.results import ACOUSTICS, REGIONS, meta, result, written

# The schema of version 1 as released (before findings.review), written out here so that the
# test does not trust the code it tests.
V1_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE calls (
  id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, file TEXT NOT NULL, call_id TEXT,
  agent_id TEXT, day TEXT, started_at TEXT,
  status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), error TEXT, duration_s REAL,
  channels INTEGER, sample_rate INTEGER, agent_channel TEXT, score REAL, passed INTEGER,
  fatal INTEGER, agent_speech_rate_cpm REAL, audit_version TEXT, model_version TEXT,
  rules_version TEXT, t_decode REAL, t_vad REAL, t_asr REAL, t_rules REAL, t_total REAL,
  audited_at TEXT NOT NULL, result_json TEXT, acoustics_json TEXT
);
CREATE INDEX calls_file ON calls(file);
CREATE INDEX calls_agent ON calls(agent_id, day);
CREATE TABLE findings (
  call INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE, rule TEXT NOT NULL,
  section TEXT, severity TEXT, applicable INTEGER, passed INTEGER, deduction REAL,
  message TEXT, detail TEXT, start REAL, "end" REAL, evidence_text TEXT, evidence_json TEXT
);
CREATE INDEX findings_call ON findings(call);
CREATE INDEX findings_rule ON findings(rule, passed);
CREATE TABLE utterances (
  call INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
  idx INTEGER, role TEXT, channel INTEGER, start REAL, "end" REAL, text TEXT, level_dbfs REAL
);
CREATE INDEX utterances_call ON utterances(call);
CREATE TABLE regions (
  call INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
  channel INTEGER, start REAL, "end" REAL, level_dbfs REAL
);
CREATE INDEX regions_call ON regions(call);
CREATE TABLE metrics (
  call INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE, name TEXT NOT NULL, value REAL
);
CREATE INDEX metrics_call ON metrics(call);
"""


def version(db: Path) -> int:
    conn = sqlite3.connect(db)
    v = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    return int(v[0])


def shape(db: Path) -> dict[str, Any]:
    """Tables (columns with type, default, key) and indexes of a database."""
    conn = sqlite3.connect(db)
    names = conn.execute("SELECT type, name, tbl_name FROM sqlite_master "
                         "WHERE name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
    out = {n: (t, tbl, [tuple(r[1:]) for r in conn.execute(f'PRAGMA table_info("{n}")')]
               if t == "table" else None) for t, n, tbl in names}
    conn.close()
    return out


def v1_database(db: Path, with_review: bool = False, record_version: bool = True) -> None:
    conn = sqlite3.connect(db)
    conn.executescript(V1_DDL)
    if with_review:  # what the code of version 1 added on connect without bumping the version
        conn.execute("ALTER TABLE findings ADD COLUMN review INTEGER DEFAULT 0")
    if record_version:
        conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute("""INSERT INTO calls (id, sha256, file, call_id, agent_id, day, status, duration_s,
        score, passed, fatal, agent_speech_rate_cpm, rules_version, audited_at, result_json,
        acoustics_json) VALUES (1, 'h1', '/rec/old.wav', 'old', 'A009', '2026-01-05', 'ok', 60,
        55, 0, 0, 210, 'r0', '2026-01-05T20:00:00', ?, ?)""",
                 (json.dumps(result(55.0, "ask_name")), json.dumps(ACOUSTICS)))
    conn.execute("""INSERT INTO findings (call, rule, section, severity, applicable, passed,
        deduction, message, detail, start, "end", evidence_text, evidence_json)
        VALUES (1, 'ask_name', 'professional', 'major', 1, 0, 20, 'm', 'd', 0.5, 3, 't', '[]')""")
    conn.execute("INSERT INTO regions VALUES (1, 0, 0.5, 3.0, -20.0)")
    conn.execute("INSERT INTO calls (sha256, file, status, error, audited_at) "
                 "VALUES ('h2', '/rec/bad.wav', 'failed', 'bad', '2026-01-05T20:00:01')")
    conn.commit()
    conn.close()


def test_migrations_are_numbered_from_one() -> None:
    assert [v for v, _, _ in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    assert all(desc for _, desc, _ in MIGRATIONS)


def test_new_database_is_created_at_the_newest_version(tmp_path: Path) -> None:
    db = written(tmp_path)
    assert version(db) == SCHEMA_VERSION
    conn = connect(db)  # a second writer on it: nothing to do
    conn.close()
    assert version(db) == SCHEMA_VERSION


@pytest.mark.parametrize("with_review", [False, True])
def test_v1_database_is_migrated_with_its_rows(tmp_path: Path, with_review: bool) -> None:
    old = tmp_path / "v1.sqlite"
    v1_database(old, with_review)
    assert version(old) == 1
    conn = connect(old)
    assert version(old) == SCHEMA_VERSION
    assert conn.execute("SELECT review FROM findings").fetchone()[0] == 0
    rows = summary(conn, "agent")
    assert [(r["agent"], r["calls"], r["unreadable_files"]) for r in rows] == [
        ("(unknown)", 0, 1), ("A009", 1, 0)]
    assert rows[1]["top_failures"] == "ask_name (1)"
    assert summary(conn, "rule")[0]["failed"] == 1
    # and it is written to as any new one
    write_result(conn, meta(5), record(result(), REGIONS, ACOUSTICS))
    assert len(list(calls_to_rescore(conn))) == 2
    conn.close()
    new = tmp_path / "new.sqlite"
    connect(new).close()
    assert shape(old) == shape(new)  # a migrated database is the same as a new one


def test_unversioned_database_is_migrated(tmp_path: Path) -> None:
    old = tmp_path / "unversioned.sqlite"  # the version was written after the tables, apart
    v1_database(old, record_version=False)
    connect(old).close()
    assert version(old) == SCHEMA_VERSION
    new = tmp_path / "new.sqlite"
    connect(new).close()
    assert shape(old) == shape(new)


@pytest.mark.parametrize("readonly", [False, True])
def test_future_version_is_refused(tmp_path: Path, readonly: bool) -> None:
    db = written(tmp_path)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(AuditError) as e:
        connect(db, readonly=readonly)
    assert str(e.value) == (f"{db}: results database schema version {SCHEMA_VERSION + 1} is newer "
                            f"than this callaudit understands ({SCHEMA_VERSION}); upgrade callaudit")
    assert version(db) == SCHEMA_VERSION + 1


@pytest.mark.parametrize("readonly", [False, True])
def test_not_a_database_is_refused(tmp_path: Path, readonly: bool) -> None:
    junk = tmp_path / "results.sqlite"
    text = "call_id,agent_id\nc1,A001\n" * 100
    junk.write_text(text)
    with pytest.raises(AuditError) as e:
        connect(junk, readonly=readonly)
    msg = str(e.value)
    assert msg.startswith(f"{junk}: ") and "not a SQLite" in msg and "\n" not in msg
    assert junk.read_text() == text


def test_readonly_never_creates(tmp_path: Path) -> None:
    db = tmp_path / "missing.sqlite"
    with pytest.raises(AuditError) as e:
        connect(db, readonly=True)
    assert str(e.value) == f"{db}: no such results database"
    assert list(tmp_path.iterdir()) == []


def test_readonly_reads_what_the_previous_release_wrote(tmp_path: Path) -> None:
    # it recorded version 1 but had added `review`: every column a reader needs is there
    old = tmp_path / "v1r.sqlite"
    v1_database(old, with_review=True)
    conn = connect(old, readonly=True)
    assert summary(conn, "rule") is not None
    conn.close()
    assert version(old) == 1  # untouched


def test_readonly_refuses_a_database_that_needs_migrating(tmp_path: Path) -> None:
    old = tmp_path / "v1.sqlite"
    v1_database(old)
    with pytest.raises(AuditError) as e:
        connect(old, readonly=True)
    msg = str(e.value)
    assert msg.startswith(f"{old}: results database schema version 1 is older")
    assert "audit rescore" in msg and "\n" not in msg
    assert version(old) == 1  # untouched
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(AuditError, match="not a callaudit results database"):
        connect(empty, readonly=True)


def test_readonly_reads_summary_and_exports(tmp_path: Path) -> None:
    db = written(tmp_path)
    conn = connect(db, readonly=True)
    agents = summary(conn, "agent")
    assert [(r["agent"], r["calls"], r["unreadable_files"]) for r in agents] == [
        ("A001", 1, 1), ("A002", 1, 0)]
    assert agents[0]["top_failures"] == "greeting (1)"
    assert agents[1]["top_failures"] == ""  # needs review: not counted as a failure
    rules = {r["rule"]: r for r in summary(conn, "rule")}
    assert rules["greeting"]["failed"] == 1 and rules["greeting"]["needs_review"] == 1
    assert [r["calls"] for r in summary(conn, "day", "2026-11-22")] == [2]
    assert store.fatal_rules_by_call(conn) == {}
    assert [c["call_id"] for c in store.ok_calls(conn)] == ["c1", "c2"]
    assert [f["file"] for f in store.failed_files(conn)] == ["/rec/c3.wav"]
    res, m = store.stored_call(conn, "c2")
    assert res.score == 90.0 and m == {"call_id": "c2", "agent_id": "A002",
                                         "day": "2026-11-22", "file": "/rec/c2.wav"}
    with pytest.raises(AuditError, match="no audited call 'c3'"):
        store.stored_call(conn, "c3")
    with pytest.raises(StorageError, match="readonly"):  # one line, not a sqlite3 traceback
        write_failure(conn, meta(9), "x")
    out = tmp_path / "all.jsonl"
    assert export(conn, "jsonl", str(out)) == 3
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [d["status"] for d in lines] == ["ok", "ok", "failed"]
    assert lines[0]["schema"] == "audit.call/1" and lines[2]["error"].endswith("audio file")
    export(conn, "csv", str(tmp_path / "all.csv"))
    csv_text = (tmp_path / "all.csv").read_text(encoding="utf-8-sig")
    assert "greeting?" in csv_text  # c2's failure needs review
    conn.close()


def test_readonly_reads_while_a_writer_holds_the_database(tmp_path: Path) -> None:
    db = tmp_path / "night.sqlite"
    writer = connect(db)
    write_result(writer, meta(1), record(result(), REGIONS, ACOUSTICS))
    reader = connect(db, readonly=True)
    assert len(store.ok_calls(reader)) == 1
    write_result(writer, meta(2), record(result(), REGIONS, ACOUSTICS))  # WAL: the reader sees new commits
    assert len(store.ok_calls(reader)) == 2
    reader.close()
    writer.close()


def test_calls_to_rescore(tmp_path: Path) -> None:
    db = written(tmp_path)
    conn = connect(db)
    calls = calls_to_rescore(conn)
    assert len(calls) == 2
    rows = list(calls)
    assert [r.score for _, r in rows] == [70.0, 90.0]
    first = rows[0][1]
    assert [r.start for r in first.regions] == [0.5, 3.5] and first.acoustics == ACOUSTICS
    conn.close()


def test_cli_readers_use_a_readonly_connection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = written(tmp_path)
    assert main(["summary", "--db", str(db), "--format", "json"]) == 0
    assert [r["agent"] for r in json.loads(capsys.readouterr().out)] == ["A001", "A002"]
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    assert main(["export", "--db", str(db), "--format", "csv", "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "schema version 99 is newer" in err and not (tmp_path / "x.csv").exists()


def test_writers_starting_together_on_a_new_database(tmp_path: Path) -> None:
    db = tmp_path / "new.sqlite"
    code = ("import sys; from callaudit.results.store import CallMeta, connect, write_result;"
            "from tests.helpers.results import result, REGIONS, ACOUSTICS, meta;"
            "from tests.helpers import record;"
            "i = int(sys.argv[1]); conn = connect(sys.argv[2]);"
            "write_result(conn, meta(i), record(result(), REGIONS, ACOUSTICS)); conn.close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i), str(db)],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for i in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert version(db) == SCHEMA_VERSION
    conn = connect(db, readonly=True)
    assert len(store.ok_calls(conn)) == 4
    conn.close()


SQL = re.compile(r"SELECT |INSERT |UPDATE |DELETE FROM|CREATE TABLE")


def test_only_the_results_database_modules_hold_sql() -> None:
    src = ROOT / "src" / "callaudit"
    holders = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                     if SQL.search(p.read_text(encoding="utf-8")))
    assert holders == ["results/claims.py", "results/database.py", "results/hotwords.py",
                       "results/queries.py", "results/reviews.py", "results/search.py",
                       "results/writes.py"]


def test_no_speech_is_a_status_of_its_own(tmp_path: Path) -> None:
    """A recording in which nobody was heard: stored as 'no_speech' (also in a database made
    before that status existed), no score, counted apart, never re-audited."""
    old = tmp_path / "v1.sqlite"
    v1_database(old)
    conn = connect(old)  # migrated: the calls table is rebuilt, its findings kept
    assert summary(conn, "rule")[0]["failed"] == 1
    before = {r["agent"]: r for r in summary(conn, "agent")}["A009"]
    silent = result()
    silent.update(outcome="no_speech", score=None, passed=False, findings=[])
    write_result(conn, meta(7, "A009"), record(silent, [], ACOUSTICS))
    row = conn.execute("SELECT status, score, passed FROM calls WHERE sha256 = 'h7'").fetchone()
    assert tuple(row) == ("no_speech", None, None)
    agents = {r["agent"]: r for r in summary(conn, "agent")}
    assert agents["A009"]["calls"] == 1 and agents["A009"]["no_speech"] == 1
    assert agents["A009"]["pass_rate"] == before["pass_rate"]  # not a failed call either
    assert agents["A009"]["avg_score"] == before["avg_score"]
    assert store.known(conn)["h7"] == "no_speech"
    assert [c["file"] for c in store.no_speech_calls(conn)] == ["/rec/c7.wav"]
    conn.close()


def test_migration_keeps_a_users_own_views_and_indexes(tmp_path: Path) -> None:
    """DATABASE.md invites any SQLite client: a view or index of one's own on calls survives
    the rebuild of version 3 (it made the database unwritable before)."""
    old = tmp_path / "v1.sqlite"
    v1_database(old)
    raw = sqlite3.connect(old)
    raw.execute("CREATE VIEW agent_scores AS SELECT agent_id, AVG(score) AS s FROM calls GROUP BY 1")
    raw.execute("CREATE INDEX my_day ON calls(day)")
    raw.commit()
    raw.close()
    conn = connect(old)
    write_result(conn, meta(5), record(result(), REGIONS, ACOUSTICS))
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"agent_scores", "my_day"} <= names
    assert conn.execute("SELECT count(*) FROM agent_scores").fetchone()[0] >= 1
    conn.close()


def test_reader_refuses_a_write_ahead_log_it_cannot_see(tmp_path: Path, tmpfs: Path) -> None:
    """A database copied with its -wal into a read-only place: opened immutable, the calls in
    the log would be missing without a word. Refused in one line instead."""
    src = tmp_path / "r.sqlite"
    writer = connect(src)
    write_result(writer, meta(1), record(result(), REGIONS, ACOUSTICS))
    for suffix in ("", "-wal"):  # copied while open, without -shm: the log holds the call
        shutil.copy(f"{src}{suffix}", tmpfs / f"r.sqlite{suffix}")
    writer.close()
    remount_ro(tmpfs)
    assert (tmpfs / "r.sqlite-wal").stat().st_size > 0
    with pytest.raises(AuditError, match="write-ahead log"):
        connect(tmpfs / "r.sqlite", readonly=True)
