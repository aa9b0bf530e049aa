"""The business line of a call (calls.line, `audit batch --scorecards`): stored, summarized,
exported, and read as NULL from a database the previous release wrote. Fast: hand-made
results, no model."""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

from callaudit.render.html import dashboard_view
from callaudit.results.dashboard import dashboard
from callaudit.results.export import export
from callaudit.results.store import SCHEMA_VERSION, connect, write_failure, write_result
from callaudit.results.summary import business_lines, summary
from tests.helpers import record
from tests.helpers.results import ACOUSTICS, REGIONS, meta, result


def _night(tmp_path: Path) -> Path:
    db = tmp_path / "lines.sqlite"
    conn = connect(db)
    write_result(conn, replace(meta(1), line="sales_out"), record(result(70.0), REGIONS, ACOUSTICS))
    write_result(conn, replace(meta(2), line="sales_out"), record(result(50.0), REGIONS, ACOUSTICS))
    write_result(conn, replace(meta(3), line="complaints_in"), record(result(90.0), REGIONS, ACOUSTICS))
    write_failure(conn, replace(meta(4), line="complaints_in"), "/rec/c4.wav: not audio")
    write_result(conn, meta(5), record(result(80.0), REGIONS, ACOUSTICS))  # no line given
    conn.close()
    return db


def test_summary_by_line(tmp_path: Path) -> None:
    conn = connect(_night(tmp_path), readonly=True)
    rows = {r["line"]: r for r in summary(conn, "line")}
    assert {k: (r["calls"], r["avg_score"], r["pass_rate"], r["unreadable_files"])
            for k, r in rows.items()} == {
        "(unknown)": (1, 80.0, 1.0, 0), "complaints_in": (1, 90.0, 1.0, 1),
        "sales_out": (2, 60.0, 0.5, 0)}
    assert rows["sales_out"]["top_failures"] == "greeting (2)"
    assert [r["line"] for r in business_lines(conn)] == ["(unknown)", "complaints_in", "sales_out"]
    view = dashboard_view(dashboard(conn))
    assert [r["line"] for r in view["lines"]] == ["(unknown)", "complaints_in", "sales_out"]
    conn.close()


def test_one_line_is_nothing_to_compare(tmp_path: Path) -> None:
    db = tmp_path / "one.sqlite"
    conn = connect(db)
    write_result(conn, replace(meta(1), line="sales_out"), record(result(70.0), REGIONS, ACOUSTICS))
    assert business_lines(conn) == [] and dashboard(conn).lines == []
    assert [r["line"] for r in summary(conn, "line")] == ["sales_out"]
    conn.close()


def test_exports_carry_the_line(tmp_path: Path) -> None:
    conn = connect(_night(tmp_path), readonly=True)
    export(conn, "csv", str(tmp_path / "n.csv"))
    export(conn, "jsonl", str(tmp_path / "n.jsonl"))
    conn.close()
    rows = list(csv.DictReader((tmp_path / "n.csv").open(encoding="utf-8-sig")))
    assert [(r["call_id"], r["line"]) for r in rows] == [
        ("c1", "sales_out"), ("c2", "sales_out"), ("c3", "complaints_in"), ("c4", "complaints_in"),
        ("c5", "")]
    lines = [json.loads(x) for x in (tmp_path / "n.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["line"] for d in lines] == ["sales_out", "sales_out", "complaints_in", "complaints_in",
                                          None]


def test_a_version_5_database_reads_with_no_line_and_is_upgraded(tmp_path: Path) -> None:
    """What the previous release wrote (no calls.line): readers see the line as NULL and do
    not touch the file; the next writer adds the column, the rows as they were."""
    db = tmp_path / "v5.sqlite"
    conn = connect(db)
    write_result(conn, meta(1), record(result(70.0), REGIONS, ACOUSTICS))
    conn.close()
    raw = sqlite3.connect(db)
    raw.execute("DROP INDEX calls_find")  # version 9's, on calls.line
    raw.execute("ALTER TABLE calls DROP COLUMN line")
    raw.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    conn = connect(db, readonly=True)
    assert [(r["line"], r["calls"]) for r in summary(conn, "line")] == [("(unknown)", 1)]
    assert [r["calls"] for r in summary(conn, "agent")] == [1]
    conn.close()
    raw = sqlite3.connect(db)
    assert "line" not in {r[1] for r in raw.execute("PRAGMA table_info(calls)")}
    raw.close()
    connect(db).close()  # a writer
    raw = sqlite3.connect(db)
    assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == \
        str(SCHEMA_VERSION)
    assert raw.execute("SELECT call_id, line, score FROM calls").fetchall() == [("c1", None, 70.0)]
    raw.close()
