"""`audit rules try`: a draft rule pack judged over a stored night (results/preview.py), with
nothing written. The night is the four shipped audits (tests/data/results): no model."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import pytest

from callaudit.cli import main
from callaudit.results import preview as preview_mod
from callaudit.results import reviews
from callaudit.results.preview import CALL_PAGE, Preview, RuleChange, preview
from callaudit.results.rescore import rejudge
from callaudit.results.store import CallMeta, connect, write_result
from callaudit.rules.pack import load
from callaudit.strings import TRY
from tests.helpers import record_of, stored_result

NAMES = ("demo_call", "bad_call", "mono_call", "ringback_call")
# speech rate band narrowed (demo, mono and ringback speak faster than 150/min), greeting off
DRAFT = """version: draft-1
settings:
  speech_rate_min_cpm: 100
  speech_rate_max_cpm: 150
rules:
  - id: greeting
    enabled: false
"""


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


@pytest.fixture
def night(tmp_path: Path) -> Path:
    """A stored night of the four shipped audits, in NAMES order (default pack)."""
    db = tmp_path / "night.sqlite"
    conn = connect(db)
    for name in NAMES:
        d = stored_result(name)
        write_result(conn, CallMeta(file=f"/rec/{name}.wav", sha256=sha(name), call_id=name,
                                    agent_id="A1", day="2026-11-30"), record_of(d))
    conn.close()
    return db


def pack_file(tmp_path: Path, text: str, name: str = "draft.yaml") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def rule(p: Preview, rule_id: str) -> RuleChange:
    return next(r for r in p.rules if r.rule == rule_id)


def files_of(db: Path) -> tuple[bytes, int, bytes]:
    """The database's bytes and mtime (ns), and what its write-ahead log holds (a reader of a
    WAL database may leave an empty one: SQLite's reader, not a write)."""
    wal = Path(f"{db}-wal")
    return db.read_bytes(), db.stat().st_mtime_ns, wal.read_bytes() if wal.exists() else b""


def test_a_draft_identical_to_the_stored_pack_changes_nothing(night: Path, tmp_path: Path) -> None:
    for pack in (load(None), load(pack_file(tmp_path, 'version: "same"\n'))):
        p = preview(night, pack)
        assert p.calls == p.stored_calls == 4
        assert p.changed_rules == [] and p.changed_calls == 0
        assert p.pass_to_fail == p.fail_to_pass == 0
        assert p.mean_before == p.mean_after == 72.75
        assert p.agreement == [] and p.reviewed_calls == 0
        assert rule(p, "greeting").failing_before == rule(p, "greeting").failing_after == 1


def test_a_draft_shows_what_newly_fails_and_what_no_longer_applies(night: Path, tmp_path: Path) -> None:
    p = preview(night, load(pack_file(tmp_path, DRAFT)), examples=2)
    assert [r.rule for r in p.changed_rules] == ["greeting", "speech_rate"]
    greeting = rule(p, "greeting")  # off: every call's greeting verdict is now n/a
    assert (greeting.newly_na, greeting.newly_failing, greeting.newly_passing) == (4, 0, 0)
    assert (greeting.judged_before, greeting.judged_after) == (4, 0)
    assert (greeting.failing_before, greeting.failing_after) == (1, 0)
    assert greeting.deduction_change == -10  # bad_call's greeting failure
    rate = rule(p, "speech_rate")  # bad_call failed it already
    assert (rate.newly_failing, rate.newly_passing, rate.newly_na) == (3, 0, 0)
    assert (rate.failing_before, rate.failing_after) == (1, 4)
    assert rate.deduction_change == 15
    assert [c.call_id for c in rate.examples["fail"]] == ["demo_call", "mono_call"]  # 2: examples=2
    demo = rate.examples["fail"][0]
    assert demo.file == "/rec/demo_call.wav" and demo.page == f"/calls/{sha('demo_call')}"
    assert p.changed_calls == 4 and p.pass_to_fail == p.fail_to_pass == 0
    assert (p.mean_before, p.mean_after) == (72.75, 69.0)  # -5 on the three that passed it
    assert p.stored == ["default@2026.11.1+eff875ba"] and "draft-1" in p.draft
    d = json.loads(json.dumps(p.to_json()))
    row = next(r for r in d["rules"] if r["rule"] == "speech_rate")
    assert row["newly_failing"] == 3 and row["deduction_change"] == 15
    assert row["examples"]["fail"][0]["call_id"] == "demo_call"


def test_calls_that_change_verdict(night: Path, tmp_path: Path) -> None:
    strict = preview(night, load(pack_file(tmp_path, "version: strict\nsettings:\n  pass_mark: 95\n")))
    assert strict.pass_to_fail == 1 and strict.fail_to_pass == 0  # ringback_call, 91
    assert [c.call_id for c in strict.examples["pass_to_fail"]] == ["ringback_call"]
    assert strict.changed_rules == [] and strict.changed_calls == 0  # no verdict of a rule
    lenient = preview(night, load(pack_file(
        tmp_path, "version: lenient\nsettings:\n  pass_mark: 20\n"
                  "rules:\n  - id: ask_secret\n    enabled: false\n", "lenient.yaml")))
    assert lenient.fail_to_pass == 1 and lenient.examples["fail_to_pass"][0].call_id == "bad_call"
    assert rule(lenient, "ask_secret").newly_na == 4


def test_limit_judges_the_first_calls_stored(night: Path, tmp_path: Path) -> None:
    p = preview(night, load(pack_file(tmp_path, DRAFT)), limit=2)
    assert (p.calls, p.stored_calls) == (2, 4)
    assert rule(p, "greeting").newly_na == 2 and rule(p, "speech_rate").newly_failing == 1


def test_the_database_is_not_written(night: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    before = files_of(night)
    draft = pack_file(tmp_path, DRAFT)
    preview(night, load(draft))
    assert main(["rules", "try", draft, "--db", str(night)]) == 0
    assert main(["rules", "try", draft, "--db", str(night), "--format", "json"]) == 0
    capsys.readouterr()
    assert files_of(night) == before
    # and it cannot be: the connection is read-only
    os.chmod(night, 0o444)
    try:
        assert preview(night, load(draft)).calls == 4
    finally:
        os.chmod(night, 0o644)
    assert files_of(night) == before


def test_rejudge_leaves_the_stored_result_as_it_was() -> None:
    r = record_of(stored_result("ringback_call"))
    kept = copy.deepcopy(r)
    pack = load(None)
    new = rejudge(pack, r)
    assert r == kept
    assert new.score == r.score and new.versions["rules"] == pack.fingerprint()
    assert [f.rule for f in new.findings if not f.passed] == \
        ["interruption", "confirm_need", "confirm_understood"]


def test_the_draft_against_what_reviewers_decided(night: Path, tmp_path: Path) -> None:
    ring, bad = sha("ringback_call"), sha("bad_call")
    conn = connect(night)
    for h, r, state in ((ring, "interruption", "overturned"), (ring, "confirm_need", "confirmed"),
                        (ring, "confirm_understood", "confirmed"),
                        (bad, "forbidden_phrase", "overturned"), (bad, "greeting", "not_applicable")):
        reviews.add_review(conn, h, r, state, "x" if state != "confirmed" else "", "rev1", "v")
    # a calibration review is a blind repeat: not a decision
    reviews.add_review(conn, ring, "confirm_understood", "overturned", "x", "rev2", "v", calibration=1)
    reviews.add_missed(conn, ring, "speech_rate", 10.0, "太快", "rev1", "v")
    conn.close()
    before = files_of(night)
    draft = DRAFT.replace("enabled: false\n", "enabled: true\n") + \
        "  - id: interruption\n    enabled: false\n  - id: confirm_need\n    enabled: false\n"
    p = preview(night, load(pack_file(tmp_path, draft)))
    got = {a.rule: (a.kept, a.lost, a.still_wrong, a.fixed, a.missed, a.caught) for a in p.agreement}
    assert got == {
        "greeting": (0, 0, 1, 0, 0, 0),  # not applicable, says the reviewer; the draft still fails it
        "interruption": (0, 0, 0, 1, 0, 0),  # overturned, and the draft no longer fails it
        "confirm_need": (0, 1, 0, 0, 0, 0),  # confirmed, and the draft lost it
        "confirm_understood": (1, 0, 0, 0, 0, 0),
        "forbidden_phrase": (0, 0, 1, 0, 0, 0),
        "speech_rate": (0, 0, 0, 0, 1, 1),  # missed by the stored pack, caught by the draft
    }
    assert p.reviewed_calls == 2
    assert p.precision() == (2 / 5, 1 / 3)
    fixed = next(a for a in p.agreement if a.rule == "interruption").examples["fixed"]
    assert [c.call_id for c in fixed] == ["ringback_call"]
    assert files_of(night) == before


def test_cli_table_and_json(night: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    draft = pack_file(tmp_path, DRAFT)
    assert main(["rules", "try", draft, "--db", str(night), "--lang", "en"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("│ greeting") for line in lines)
    assert any(line.startswith("│ speech_rate") for line in lines)
    assert not any(line.startswith("│ self_id") for line in lines)  # unchanged rules are left out
    assert f"speech_rate newly fail: demo_call (/rec/demo_call.wav) /calls/{sha('demo_call')}" in out
    assert "total: 4 calls, calls changed 4, pass→fail 0, fail→pass 0, mean score 72.75→69" in out
    assert "took " in out and " s, 4 calls" in out
    assert main(["rules", "try", draft, "--db", str(night), "--format", "json", "--limit", "3"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["calls"] == 3 and d["stored_calls"] == 4 and d["seconds"] > 0
    assert main(["rules", "try", draft, "--db", str(night)]) == 0
    assert "新增不通过" in capsys.readouterr().out
    same = pack_file(tmp_path, 'version: "same"\n', "same.yaml")
    assert main(["rules", "try", same, "--db", str(night), "--lang", "en"]) == 0
    assert TRY["en"]["no_change"] in capsys.readouterr().out


def test_cli_refuses_a_bad_pack_and_a_missing_database(night: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    bad = pack_file(tmp_path, "settings:\n  speech_rate_max_cpm: 150\n", "bad.yaml")
    assert main(["rules", "try", bad, "--db", str(night)]) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"{bad}: 1 error(s)\n") and "speech_rate_min_cpm" in out
    assert main(["rules", "try", pack_file(tmp_path, DRAFT), "--db", str(tmp_path / "no.sqlite")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no.sqlite" in err


def test_processes_share_the_judging_with_the_same_counts(night: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pack = load(pack_file(tmp_path, DRAFT))
    one = preview(night, pack, workers=1).to_json()
    monkeypatch.setattr(preview_mod, "PARALLEL_FROM", 0)
    two = preview(night, pack, workers=2).to_json()
    for d in (one, two):
        d.pop("seconds")
    assert one == two


def test_the_call_page_is_the_workbench_route(night: Path) -> None:
    pytest.importorskip("flask")
    from callaudit.review.server import create_app

    rules = {r.rule for r in create_app(str(night)).url_map.iter_rules()}
    assert CALL_PAGE.replace("{sha256}", "<sha>") in rules


def test_every_language_has_every_word() -> None:
    assert set(TRY["zh"]) == set(TRY["en"])
