"""Reviewer pages: the data the templates receive, and the pages in a real browser."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from callaudit.audio.opus import page_audio
from callaudit.cli.results import write_dashboard
from callaudit.render.html import _split, call_view, dashboard_view, render_call
from callaudit.results.dashboard import dashboard
from callaudit.results.store import CallMeta, connect, write_failure, write_result
from tests.helpers import ROOT, SAMPLES, record, stored_result

ARTIFACTS = ROOT / "test-artifacts"
HOSTILE = '"><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script></textarea>'


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    """Stored results of the sample calls (tools/make_result_fixtures.py): no model needed."""
    return {n: stored_result(n)["result"] for n in ("demo_call", "bad_call", "ringback_call")}


def hostile(result: dict[str, Any]) -> dict[str, Any]:
    r = copy.deepcopy(result)
    r["file"] = HOSTILE + ".wav"
    r["utterances"][0]["text"] = HOSTILE + r["utterances"][0]["text"]
    for f in r["findings"]:
        f["message"] = HOSTILE
    return r


def test_split_highlights() -> None:
    parts = _split("这是规定，我有什么办法。", [{"match": "这是规定，我有什么办法", "rule": "x",
                                              "bad": True, "category": "c", "id": "f-x-0"}])
    assert parts[0]["text"] == "这是规定，我有什么办法" and parts[0]["bad"]
    assert parts[1] == {"text": "。"}


def test_call_view_data(results: dict[str, dict[str, Any]]) -> None:
    r = results["bad_call"]
    v = call_view(record(r))
    assert len(v["lanes"]["agent"]) + len(v["lanes"]["customer"]) == len(r["utterances"])
    failed = {f["rule"] for f in r["findings"] if f["applicable"] and not f["passed"]}
    assert {m["rule"] for m in v["markers"]} <= failed
    assert {"forbidden_phrase", "ask_secret"} <= {m["rule"] for m in v["markers"]}
    assert v["fatal_reasons"] and [s["key"] for s in v["sections"]] == [
        "professional", "communication", "care", "resolution"]
    marked = [p for line in v["lines"] for p in line["parts"] if p.get("rule")]
    assert any(p["rule"] == "forbidden_phrase" and p["bad"] for p in marked)
    assert all(0 <= s["x"] <= 100 for lane in v["lanes"].values() for s in lane)
    ring = call_view(record(results["ringback_call"]))
    assert any(s["kind"] == "ring" for s in ring["lanes"]["events"])
    assert any(s["kind"] == "overlap" for s in ring["lanes"]["events"])
    demo = call_view(record(results["demo_call"]))
    assert any(s["kind"] == "hold" for s in demo["lanes"]["events"])
    answer = next(s for s in demo["lanes"]["events"] if s["kind"] == "answer")
    assert answer["x"] == 0 and answer["w"] > 0  # connect -> the agent's first words
    levels = [p["level"] for p in demo["level_series"]]  # a 63 s call: minutes 0 and 1
    assert len(levels) == 2 and levels[0] is not None and -40 < levels[0] < -8


def test_untrusted_text_is_escaped_in_the_html(results: dict[str, dict[str, Any]],
                                               tmp_path: Path) -> None:
    out = tmp_path / "h.html"
    render_call(record(hostile(results["demo_call"])), str(out))
    page = out.read_text(encoding="utf-8")
    assert "<script>window.__pwned" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__pwned=2&lt;/script&gt;" in page


def test_embedded_audio_is_small(results: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    out = tmp_path / "demo.html"
    render_call(record(results["demo_call"]), str(out),
                page_audio(str(SAMPLES / "demo_call.wav"), str(out)))
    size = out.stat().st_size
    assert "data:audio/ogg;base64," in out.read_text(encoding="utf-8")
    # a 63 s call: the whole page with its audio stays small (5 min would be ~0.6 MB)
    assert size < 250_000, size


def _db(results: dict[str, dict[str, Any]], tmp_path: Path) -> Path:
    db = tmp_path / "night.sqlite"
    conn = connect(db)
    for i, (name, r) in enumerate(results.items()):
        meta = CallMeta(file=str(SAMPLES / f"{name}.wav"), sha256=f"h{i}", call_id=name,
                        agent_id=["A001", "A002"][i % 2], day="2026-11-22")
        write_result(conn, meta, record(r, [], {}))
    bad = hostile(results["bad_call"])
    write_result(conn, CallMeta(file=bad["file"], sha256="hx", call_id=HOSTILE,
                                agent_id=HOSTILE, day="2026-11-22"), record(bad, [], {}))
    write_failure(conn, CallMeta(file=HOSTILE + ".mp3", sha256="hf", call_id="broken",
                                 day="2026-11-22"), HOSTILE + ".mp3: not a readable audio file")
    conn.close()
    return db


def test_dashboard_view_data(results: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    conn = connect(_db(results, tmp_path))
    v = dashboard_view(dashboard(conn))
    assert v["totals"]["calls"] == 4 and v["totals"]["fatal"] == 2
    assert v["totals"]["failed_files"] == 1 and sum(b["n"] for b in v["hist"]) == 4
    assert v["worst"][0]["fatal"] and "ask_secret" in v["worst"][0]["fatal_rules"]


# --- in a real browser ---------------------------------------------------------------------------
def _open(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, requests, errors


def _external(requests: list[str]) -> list[str]:
    return [u for u in requests if not u.startswith(("file:", "data:", "blob:"))]


def test_call_page_in_chromium(browser: Any, results: dict[str, dict[str, Any]],
                               tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    out = tmp_path / "bad_call.html"
    render_call(record(results["bad_call"]), str(out),
                page_audio(str(SAMPLES / "bad_call.wav"), str(out)))
    page, requests, errors = _open(browser, out)
    assert page.locator("#fatal").is_visible()
    assert page.locator("#scorecard").is_visible() and page.locator("#timeline").is_visible()
    failed = [f["rule"] for f in results["bad_call"]["findings"]
              if f["applicable"] and not f["passed"]]
    for rule in failed:
        assert page.locator(f'tr.rule-row[data-rule="{rule}"][data-verdict="fail"]').count() == 1
    page.wait_for_function("document.getElementById('audio').readyState >= 1")
    line = page.locator(".line").nth(3)
    want = float(line.get_attribute("data-t"))
    line.click()
    page.wait_for_function(f"Math.abs(document.getElementById('audio').currentTime - {want}) < 0.5")
    page.screenshot(path=str(ARTIFACTS / "call_page.png"), full_page=True)
    assert _external(requests) == [] and errors == []
    page.close()


def test_hostile_text_runs_nothing(browser: Any, results: dict[str, dict[str, Any]],
                                   tmp_path: Path) -> None:
    out = tmp_path / "hostile.html"
    render_call(record(hostile(results["demo_call"])), str(out))
    page, requests, errors = _open(browser, out)
    assert page.evaluate("window.__pwned") is None
    assert HOSTILE in page.locator("#transcript").inner_text()
    assert _external(requests) == []
    page.close()
    db = _db(results, tmp_path)
    dash = tmp_path / "nightly.html"
    write_dashboard(str(db), str(dash))
    page, requests, errors = _open(browser, dash)
    assert page.evaluate("window.__pwned") is None and HOSTILE in page.inner_text("body")
    assert page.locator("#totals").is_visible() and page.locator("#agents tr").count() >= 3
    page.select_option("#f-agent", "A001")
    visible = page.locator("#worst tr:not(.hide)").count()
    assert visible == 1 + sum(1 for i in range(3) if i % 2 == 0)  # header + A001's calls
    page.locator("#worst tr:not(.hide) a").first.click()  # a call page written beside it
    page.wait_for_load_state("load")
    assert page.locator("#scorecard").is_visible()
    page.screenshot(path=str(ARTIFACTS / "linked_call_page.png"), full_page=True)
    assert _external(requests) == [] and errors == []
    page.close()
    page, _, _ = _open(browser, dash)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    page.close()
