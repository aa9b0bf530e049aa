"""A damaged results database (pages overwritten, as after a disk fault) is said, in one
line naming it and what to do, by every command; nothing is written into it; a stored
result that cannot be read is named by `audit db check` and skipped by readers (issue 35)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from callaudit.errors import AuditError
from callaudit.results.database import check_file
from callaudit.results.store import connect
from tests.helpers import ROOT
from tests.helpers.results import written

AUDIT = [sys.executable, "-m", "callaudit.cli"]


def _damaged(tmp_path: Path) -> Path:
    """A night's database whose calls, findings and utterances tables have their first page
    overwritten with garbage."""
    db = written(tmp_path)
    conn = sqlite3.connect(db)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    roots = [r[0] for r in conn.execute("SELECT rootpage FROM sqlite_master WHERE name IN "
                                        "('calls', 'findings', 'utterances')")]
    conn.close()
    with open(db, "r+b") as f:
        for root in roots:
            f.seek((root - 1) * size + 8)
            f.write(b"\xa5" * (size // 2))
    return db


def _whole(tmp_path: Path) -> Path:
    (tmp_path / "whole").mkdir()
    return written(tmp_path / "whole")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUDIT, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_a_writer_refuses_a_damaged_database_and_says_what_to_do(tmp_path: Path) -> None:
    db = _damaged(tmp_path)
    before = db.read_bytes()
    with pytest.raises(AuditError, match=r"night\.sqlite: the results database is damaged") as e:
        connect(db)
    assert "audit db check" in str(e.value) and ".recover" in str(e.value)
    assert db.read_bytes() == before  # nothing written into it
    assert check_file(db) != [] and check_file(_whole(tmp_path)) == []


@pytest.mark.parametrize("command", [
    ["summary"], ["export", "--format", "jsonl", "--out", "x.jsonl"], ["report", "-o", "r.html"],
    ["rescore"]])
def test_every_command_says_damage_in_one_line(tmp_path: Path, command: list[str]) -> None:
    db = _damaged(tmp_path)
    args = [a if not a.endswith((".jsonl", ".html")) else str(tmp_path / a) for a in command]
    p = _run(args[0], "--db", str(db), *args[1:])
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and str(db) in lines[0] and "audit db check" in lines[0]


def test_db_check_names_the_damage(tmp_path: Path) -> None:
    db = _damaged(tmp_path)
    p = _run("db", "check", "--db", str(db))
    assert p.returncode == 1 and "damaged" in p.stdout and ".recover" in p.stdout
    whole = _whole(tmp_path)
    p = _run("db", "check", "--db", str(whole), "--full")
    assert p.returncode == 0 and "ok (integrity_check" in p.stdout


def test_a_result_that_cannot_be_read_is_named_and_skipped(tmp_path: Path) -> None:
    db = written(tmp_path)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE calls SET result_json = '{\"schema\": \"audit.call/1\", \"findings\": 3}' "
                 "WHERE call_id = 'c2'")
    conn.commit()
    conn.close()
    p = _run("db", "check", "--db", str(db))
    assert p.returncode == 1 and "call c2: its stored result cannot be read" in p.stdout
    out = tmp_path / "x.jsonl"
    p = _run("export", "--db", str(db), "--format", "jsonl", "--out", str(out))
    assert p.returncode == 0, p.stderr
    rows = {r["call_id"]: r for r in map(json.loads, out.read_text("utf-8").splitlines())}
    assert rows["c1"]["score"] == 70.0 and "cannot be read" in rows["c2"]["error"]
