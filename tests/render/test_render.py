"""What the renderers show: the norms a result was judged with, in the reader's language.

From stored results (tests/data/results, tools/make_result_fixtures.py): no model, seconds.
"""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from callaudit.cli import main
from callaudit.render.html import call_view
from callaudit.render.rows import metric_rows, norms_of
from callaudit.render.terminal import render
from callaudit.results.rescore import rescore
from callaudit.results.store import CallMeta, connect, write_result
from callaudit.strings import DETAILS, LABELS, METRICS, ROLES, SIDES, mmss
from tests.helpers import ROOT, record, record_of, stored_result

CENTER = "version: c1\nsettings:\n  answer_delay_max_s: 10\n  speech_rate_max_cpm: 230\n"


def _terminal(result: dict[str, Any], lang: str) -> str:
    """The terminal verdict of an audit.call/1 result (a dict: the tests edit them)."""
    buf = io.StringIO()
    render(record(result), Console(file=buf, width=200, color_system=None), lang)
    return buf.getvalue()


def _db_with(tmp_path: Path, name: str = "demo_call") -> Path:
    doc = stored_result(name)
    db = tmp_path / "r.sqlite"
    conn = connect(db)
    write_result(conn, CallMeta(file=doc["result"]["file"], sha256="h-" + name, call_id=name), record_of(doc))
    conn.close()
    return db


@pytest.mark.slow
def test_a_stored_call_is_shown_against_the_pack_it_was_scored_with(tmp_path: Path) -> None:
    db = _db_with(tmp_path)
    center = tmp_path / "center.yaml"
    center.write_text(CENTER, encoding="utf-8")
    assert rescore(str(db), str(center)) == 1
    out = tmp_path / "call.html"
    assert main(["report", "--db", str(db), "--call", "demo_call", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "≤ 10 s" in page and "≤ 3 s" not in page  # the center's norm, not the default's
    assert "180–230 /min" in page and "180–220" not in page
    assert "超过10秒" in page  # rule messages cite the center's threshold too
    stored = json.loads(connect(db, readonly=True).execute(
        "SELECT result_json FROM calls").fetchone()[0])
    assert stored["judged_with"]["settings"]["answer_delay_max_s"] == 10
    assert "c1" in stored["judged_with"]["rules"] == stored["versions"]["rules"]
    text = _terminal(stored, "en")
    assert "≤ 10 s" in text and "180–230 /min" in text
    # the same call scored with the default pack shows the default's norms
    assert rescore(str(db), None) == 1
    assert main(["report", "--db", str(db), "--call", "demo_call", "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert "≤ 3 s" in page and "≤ 10 s" not in page


def test_a_result_without_its_norms_says_so() -> None:
    r = copy.deepcopy(stored_result("demo_call")["result"])
    del r["judged_with"]
    norms = norms_of(record(r))
    assert not norms.recorded and norms.settings.answer_delay_max_s == 3
    assert LABELS["zh"]["default_norms"] in _terminal(r, "zh")


_LATIN = re.compile(r"[A-Za-z]{3,}")
_UNITS = re.compile(r"dBFS|kHz|/min")


@pytest.mark.parametrize("name", ["demo_call", "bad_call", "ringback_call", "mono_call"])
def test_a_chinese_report_has_chinese_details(name: str) -> None:
    r = record(stored_result(name)["result"])
    v = call_view(r, "zh")
    for s in v["sections"]:
        for f in s["rules"]:
            assert not _LATIN.search(_UNITS.sub("", f["detail"])), (f["rule"], f["detail"])
            assert not _LATIN.search(f["message"]), f["message"]
    for row in metric_rows(r, norms_of(r), "zh"):
        assert not _LATIN.search(_UNITS.sub("", row.label + row.norm)), row
    en = call_view(r, "en")
    details = [f["detail"] for s in en["sections"] for f in s["rules"]]
    # Chinese only inside the quoted phrases a rule found or missed
    assert not any(re.search(r"[\u4e00-\u9fff]", re.sub(r"'[^']*'", "", d)) for d in details), details


def test_every_language_has_every_string() -> None:
    for table in (LABELS, METRICS, DETAILS, ROLES, SIDES):
        assert set(table["zh"]) == set(table["en"])


def test_every_detail_the_rules_write_has_words() -> None:
    rules = ROOT / "src" / "callaudit" / "rules"
    src = "\n".join(p.read_text("utf-8") for d in ("kinds", "measures") for p in (rules / d).glob("*.py"))
    src += (rules / "context.py").read_text("utf-8")
    keys = set(re.findall(r'(?:not_applicable|outcome\([^,]+, [^,]+,|Detail)\(?\s*"(\w+)"', src))
    keys |= {f"not_{k}" for k in ("agent_spoke", "customer_spoke")} | {"agent_spoke",
                                                                         "customer_spoke"}
    keys -= {"agent", "customer"}  # roles given to evidence inside an outcome(...) call
    keys |= {"moments_missed", "said_after_moment"}  # condition.py picks one of the two
    keys |= {"none_said_first", "none_said_last", "review_unknown_speaker", "review_separation"}
    assert len(keys) > 25
    assert keys <= set(DETAILS["en"]), keys - set(DETAILS["en"])


def test_times_round_before_they_split_into_minutes() -> None:
    assert mmss(59.96, tenths=True) == "01:00.0" and mmss(59.96) == "00:59"
    assert mmss(61.04, tenths=True) == "01:01.0" and mmss(None) == "-"


def test_results_stored_by_older_versions_still_render_fully() -> None:
    r = copy.deepcopy(stored_result("demo_call")["result"])
    for s in r["metrics"]["silences"]:
        s["kind"] = "silence"  # what older versions stored for every silence
    del r["judged_with"]["settings"]["forbid_threshold"]  # a setting added after it was stored
    v = call_view(record(r), "zh")
    assert any(e["kind"] == "hold" for e in v["lanes"]["events"])  # classified from the spans
    assert norms_of(record(r)).settings.forbid_threshold == 0.85
    # without its norms, a finding keeps the message it was stored with
    r2 = copy.deepcopy(stored_result("bad_call")["result"])
    del r2["judged_with"]
    secret = next(f for f in r2["findings"] if f["rule"] == "ask_secret")
    secret["message"] = "中心自定义的消息"
    assert "中心自定义的消息" in _terminal(r2, "zh")
