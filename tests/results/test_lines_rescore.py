"""A night of two business lines re-judged per line: `audit rescore --scorecards` gives each
stored call its own line's pack, and `audit rules try --line` previews a draft on one line's
calls only. The four shipped audits, no model."""

from __future__ import annotations

import json
from pathlib import Path

from callaudit.cli import main
from callaudit.results.preview import preview
from callaudit.results.store import CallMeta, connect, write_result
from callaudit.rules.pack import load
from tests.helpers import record_of, stored_result
from tests.results.test_preview import DRAFT, NAMES, sha

LINES = {"demo_call": "sales_out", "bad_call": "complaints_in", "mono_call": "sales_out",
         "ringback_call": None}


def _night(tmp_path: Path) -> Path:
    db = tmp_path / "night.sqlite"
    conn = connect(db)
    for name in NAMES:
        d = stored_result(name)
        write_result(conn, CallMeta(file=f"/rec/{name}.wav", sha256=sha(name), call_id=name,
                                    agent_id="A1", day="2026-11-30", line=LINES[name]), record_of(d))
    conn.close()
    return db


def _versions(db: Path) -> dict[str, str]:
    conn = connect(db, readonly=True)
    out = {r["call_id"]: json.loads(r["result_json"])["versions"]["rules"]
           for r in conn.execute("SELECT call_id, result_json FROM calls")}
    conn.close()
    return out


def test_rescore_with_scorecards_judges_each_call_by_its_line(tmp_path: Path) -> None:
    db = _night(tmp_path)
    (tmp_path / "sales.yaml").write_text(DRAFT, encoding="utf-8")
    cards = tmp_path / "cards.yaml"
    cards.write_text("by: queue\nlines:\n  sales_out: sales.yaml\n  complaints_in: default\n"
                     "default: fail\n", encoding="utf-8")
    before = _versions(db)
    assert main(["rescore", "--db", str(db), "--scorecards", str(cards)]) == 0
    after = _versions(db)
    sales, default = load(str(tmp_path / "sales.yaml")).fingerprint(), load().fingerprint()
    assert after["demo_call"] == after["mono_call"] == sales
    assert after["bad_call"] == default
    assert after["ringback_call"] == before["ringback_call"]  # no line, default `fail`: as stored


def test_try_on_one_line_judges_only_its_calls(tmp_path: Path) -> None:
    db = _night(tmp_path)
    draft = tmp_path / "draft.yaml"
    draft.write_text(DRAFT, encoding="utf-8")
    pack = load(str(draft))
    every = preview(db, pack)
    sales = preview(db, pack, line="sales_out")
    none = preview(db, pack, line="no_such_line")
    assert (every.calls, sales.calls, none.calls) == (4, 2, 0)
    assert {r.rule for r in sales.changed_rules} <= {r.rule for r in every.changed_rules}
    greeting = next(r for r in sales.changed_rules if r.rule == "greeting")
    assert greeting.newly_na == 2
    assert main(["rules", "try", str(draft), "--db", str(db), "--line", "sales_out",
                 "--format", "json"]) == 0
