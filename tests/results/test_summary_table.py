"""`audit summary --format table` for people: Chinese headers, rule names and values under
--lang zh, a default view that fits 80 columns for every --by, --wide with every column,
and one line a row when piped. Fast: hand-made results, no model."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from callaudit.cli import main
from callaudit.parts import JudgedWith
from callaudit.render.summary_table import Names, columns, lines, table
from callaudit.results.store import connect, stored_norms, write_failure, write_result
from callaudit.results.summary import BY, summary
from callaudit.rules.pack import load
from callaudit.strings import SUMMARY
from tests.helpers import record
from tests.helpers.results import ACOUSTICS, REGIONS, meta, result

LONG = "无声电话未按规范结束（听不到您的声音，请稍后再拨）"  # the default pack's longest name


def _night(tmp_path: Path) -> Path:
    db = tmp_path / "night.sqlite"
    conn = connect(db)
    calls = [("A001", 70.0, "greeting", "sales_out"), ("A001", 50.0, "farewell", "sales_out"),
             ("A002", 90.0, "self_id", "complaints_in"), ("A003", 40.0, "silent_call", None),
             ("A003", 55.0, "farewell", None), ("A003", 45.0, "greeting", None)]
    for i, (agent, score, rule, line) in enumerate(calls, 1):
        write_result(conn, replace(meta(i, agent), line=line),
                     record(result(score, rule), REGIONS, ACOUSTICS))
    write_failure(conn, meta(9, "A002"), "/rec/c9.wav: not audio")
    conn.close()
    return db


def _render(db: Path, by: str, lang: str = "zh", wide: bool = False, width: int = 80) -> str:
    conn = connect(db, readonly=True)
    pack = load(None)
    rows = summary(conn, by, settings=pack.settings, joined=False)
    names = Names(lang, stored_norms(conn), pack)
    conn.close()
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(table(rows, by, names, db.name, wide=wide))
    return console.export_text()


@pytest.mark.parametrize("by", BY)
def test_the_default_view_fits_80_columns_in_chinese(tmp_path: Path, by: str) -> None:
    text = _render(_night(tmp_path), by)
    out = text.splitlines()
    assert all(len(line) <= 80 for line in out)  # export_text pads to the console's width
    heads = [SUMMARY["zh"][c] for c in columns([{k: 0 for k in _keys(by)}], by, False)]
    rule = out.index(next(line for line in out if "─" in line))
    assert all(h in out[rule - 1] for h in heads)  # every header whole, on the header line
    assert not re.search(r"[a-z]+_[a-z]+", "\n".join(out[:rule]))  # no snake_case header
    if by != "line":  # (line names are the center's own words)
        assert not re.search(r"[a-z]+_[a-z]+", text)  # nor a rule id
    body = out[rule + 1:]
    rows = [line for line in body if line.strip()]
    first_cells = [line for line in rows if not line.startswith(" " * 8)]
    assert len(rows) <= 2 * len(first_cells)  # no row over more than two lines


def _keys(by: str) -> list[str]:
    common = ["calls", "audio_hours", "avg_score", "pass_rate", "fatal_calls", "no_speech",
              "not_connected", "unreadable_files", "top_failures"]
    if by == "rule":
        return ["rule", "section", "severity", "applicable", "failed", "fail_rate",
                "needs_review", "points_deducted", "reviewed", "precision", "missed",
                "low_precision"]
    return [by, *common]


def test_rules_by_their_names_and_values_formatted(tmp_path: Path) -> None:
    db = _night(tmp_path)
    by_agent = _render(db, "agent")
    assert "开场未自报单位和工号 ×1" in by_agent and "self_id" not in by_agent
    assert "50.0%" in by_agent and "60.0" in by_agent and "pass_rate" not in by_agent
    by_rule = _render(db, "rule")
    assert "开场未问候（您好）" in by_rule and "100.0%" in by_rule
    assert LONG[:10] in by_rule  # a long name wraps in its column, not the table
    english = _render(db, "agent", "en", width=160)
    assert "Pass" in english and "Agent did not state the organisation and agent ID ×1" in english


def test_wide_shows_every_column(tmp_path: Path) -> None:
    db = _night(tmp_path)
    for by in BY:
        text = _render(db, by, wide=True, width=400)
        conn = connect(db, readonly=True)
        keys = list(summary(conn, by)[0]) + (["rule_id"] if by == "rule" else [])
        conn.close()
        assert all(SUMMARY["zh"][k] in text for k in keys), by
    assert "silent_call" in _render(db, "rule", wide=True, width=400)  # the id, next to the name


def test_piped_is_one_line_a_row_and_csv_json_unchanged(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    db = _night(tmp_path)
    for by in BY:
        assert main(["summary", "--db", str(db), "--by", by]) == 0  # capsys: not a terminal
        out = capsys.readouterr().out.splitlines()
        conn = connect(db, readonly=True)
        n = len(summary(conn, by))
        conn.close()
        assert len(out) == n + 1, out  # the header, then one line a row
        assert len({line.count("\t") for line in out}) == 1
        assert out[0].split("\t")[0] == SUMMARY["zh"][by]
    assert main(["summary", "--db", str(db), "--by", "rule", "--wide"]) == 0
    piped = capsys.readouterr().out
    assert LONG in piped and "silent_call" in piped  # never cut, never wrapped
    assert main(["summary", "--db", str(db), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert "avg_score" in rows[0] and "pass_rate" in rows[0]
    assert rows[0]["top_failures"] == "farewell (1), greeting (1)"
    assert main(["summary", "--db", str(db), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("agent,calls,audio_hours,avg_score,pass_rate")


def test_lines_replace_breaks_in_a_value(tmp_path: Path) -> None:
    names = Names("zh", [JudgedWith(messages={"r1": {"zh": "两\t行\n名字"}})])
    rows = [{"rule": "r1", "applicable": 1, "failed": 1, "fail_rate": 1.0, "needs_review": 0}]
    assert lines(rows, "rule", names) == ["规则\t适用\t不通过\t不通过率\t待复核",
                                          "两 行 名字\t1\t1\t100.0%\t0"]
