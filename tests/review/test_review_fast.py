"""Review fast and undo (issue 34): after a verdict the page comes back at the finding and says
what was saved; the day's queue's next open call; a reviewer's own missed findings and notes
edited or withdrawn until the call is closed, every version in the trail; the same missed
finding not added twice; a Content-Security-Policy without inline scripts. Flask's test
client; the keyboard in Chromium is the last test (slow)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from callaudit.results import reviews
from callaudit.review.server import CSP
from callaudit.review.words import WORDS
from tests.helpers.review import (
    BAD,
    DAY,
    DEMO,
    RING,
    RING_SCORE,
    W,
    app_of,
    client,
    count,
    flashed_errors,
    follow,
    post,
    review,
    sql,
    state_of,
    stored_reviewed,
    with_db,
)
from tests.review.test_browser import PASSWORDS, _login, server  # noqa: F401 (the fixture)


def flashed_ok(html: str) -> list[str]:
    return re.findall(r'<div class="flash ok" role="alert">([^<]*)</div>', html)


def trail_of(db: str, action: str) -> list[tuple[Any, Any, Any]]:
    return [(actor, json.loads(b) if b else None, json.loads(a) if a else None)
            for actor, b, a in sql(db, "SELECT actor, before_json, after_json FROM trail "
                                       "WHERE action = ? ORDER BY id", action)]


# --- after saving: where you were, and what was saved -------------------------------------------
def test_a_verdict_returns_to_its_finding_and_says_what_was_saved(db: str) -> None:
    rev = client(app_of(db), "rev1")
    r = review(rev, RING, "interruption", "confirmed")
    assert r.status_code == 302
    assert urlsplit(r.headers["Location"]).path == f"/calls/{RING}"
    assert urlsplit(r.headers["Location"]).fragment == "f-interruption"
    page = follow(rev, r)
    assert 'id="f-interruption"' in page  # the anchor is on the page
    said = flashed_ok(page)
    assert len(said) == 1 and said[0].startswith(W["saved_confirmed"] + "："), said
    assert said[0] != W["saved_confirmed"] + "：interruption"  # the rule by its name, not its id
    r = review(rev, RING, "confirm_need", "overturned", "客户没有需求")
    assert urlsplit(r.headers["Location"]).fragment == "f-confirm_need"
    assert flashed_ok(follow(rev, r))[0].startswith(W["saved_overturned"] + "：")
    # a refusal comes back to the finding too, and says why
    r = review(rev, RING, "confirm_understood", "overturned", "")
    assert urlsplit(r.headers["Location"]).fragment == "f-confirm_understood"
    assert flashed_errors(follow(rev, r)) == [W["reason_needed"]]
    # a missed finding and a note: back at their cards
    r = post(rev, f"/calls/{RING}/missed", rule="greeting", start="0:05", comment="没问候")
    assert urlsplit(r.headers["Location"]).fragment == "missed"
    assert flashed_ok(follow(rev, r))[0].startswith(W["saved_missed"] + "：")
    r = post(rev, f"/calls/{RING}/note", note="听过了")
    assert urlsplit(r.headers["Location"]).fragment == "notes"
    assert flashed_ok(follow(rev, r)) == [W["saved_note"]]


# --- the next call of the day's queue -----------------------------------------------------------
def _next(html: str) -> str | None:
    m = re.search(r'href="/calls/([0-9a-f]{64})" id="next-call"', html)
    return m.group(1) if m else None


def test_the_next_open_call_of_the_days_queue(db: str) -> None:
    rev = client(app_of(db), "rev1")
    assert _next(rev.get(f"/calls/{RING}").text) is None  # no queue drawn yet
    assert 'id="no-next-call"' in rev.get(f"/calls/{RING}").text
    assert post(rev, "/queue", day=DAY).status_code == 302
    order = [i["sha256"] for i in with_db(db, lambda c: reviews.plan_of_day(c, DAY))["items"]]
    assert len(order) >= 3, order
    first, second, third = order[:3]
    assert _next(rev.get(f"/calls/{first}").text) == second
    # a call worked on is no longer open: the first's next skips it
    post(rev, f"/calls/{second}/note", note="看过")
    assert _next(rev.get(f"/calls/{first}").text) == third
    # the last one's next goes round to the queue's first open call
    assert _next(rev.get(f"/calls/{order[-1]}").text) == (first if order[-1] != first else None)
    # an agent gets no next call
    agent = client(app_of(db), "agent1")
    page = agent.get(f"/calls/{BAD}").text
    assert 'id="next-call"' not in page and 'id="no-next-call"' not in page


# --- the same missed finding twice --------------------------------------------------------------
def test_the_same_missed_finding_is_not_added_twice(db: str) -> None:
    rev, rev2 = client(app_of(db), "rev1"), client(app_of(db), "rev2")
    post(rev, f"/calls/{RING}/missed", rule="greeting", start="0:05", comment="一")
    score = stored_reviewed(db, RING)
    for who, start in ((rev, "0:05"), (rev2, "5.8"), (rev, "4.2")):
        page = follow(who, post(who, f"/calls/{RING}/missed", rule="greeting", start=start, comment="二"))
        errors = flashed_errors(page)
        assert len(errors) == 1 and errors[0].endswith(W["duplicate_missed"]), errors
    assert count(db, "missed_findings") == 1 and stored_reviewed(db, RING) == score
    # another time, or another rule at the same time, is another finding
    post(rev, f"/calls/{RING}/missed", rule="greeting", start="0:07", comment="三")
    post(rev, f"/calls/{RING}/missed", rule="farewell", start="0:05", comment="四")
    assert count(db, "missed_findings") == 3
    # without a time: once per rule
    post(rev, f"/calls/{DEMO}/missed", rule="greeting", start="", comment="一")
    assert flashed_errors(follow(rev, post(rev, f"/calls/{DEMO}/missed", rule="greeting",
                                           start="", comment="二")))
    assert count(db, "missed_findings") == 4


# --- undo: edit and withdraw one's own, until the call is closed ---------------------------------
def test_own_missed_findings_are_edited_and_withdrawn_with_every_version_kept(db: str) -> None:
    app = app_of(db)
    rev, rev2 = client(app, "rev1"), client(app, "rev2")
    post(rev, f"/calls/{RING}/missed", rule="greeting", start="0:05", comment="没问候")
    (mid,) = sql(db, "SELECT id FROM missed_findings")[0]
    with_missed = stored_reviewed(db, RING)
    assert with_missed is not None and with_missed < RING_SCORE
    page = rev.get(f"/calls/{RING}").text
    assert f'action="/calls/{RING}/missed/{mid}"' in page  # its author may change it
    assert f'action="/calls/{RING}/missed/{mid}"' not in rev2.get(f"/calls/{RING}").text
    # someone else's: refused, nothing changes
    page = follow(rev2, post(rev2, f"/calls/{RING}/missed/{mid}", start="0:06", comment="别人的"))
    assert flashed_errors(page) == [W["not_yours"]]
    page = follow(rev2, post(rev2, f"/calls/{RING}/missed/{mid}", withdraw="1"))
    assert flashed_errors(page) == [W["not_yours"]]
    assert sql(db, "SELECT start, comment FROM missed_findings") == [(5.0, "没问候")]
    # edited: the new time and comment; the trail keeps both versions
    page = follow(rev, post(rev, f"/calls/{RING}/missed/{mid}", start="0:09", comment="开头没问候"))
    assert flashed_ok(page) and flashed_ok(page)[0].startswith(W["edited"] + "：")
    assert sql(db, "SELECT start, comment FROM missed_findings") == [(9.0, "开头没问候")]
    assert trail_of(db, "missed_edit") == [("rev1", {"start": 5.0, "comment": "没问候"},
                                            {"start": 9.0, "comment": "开头没问候"})]
    assert W["act_missed_edit"] in page
    # withdrawn: it no longer deducts; the trail still says what it was
    page = follow(rev, post(rev, f"/calls/{RING}/missed/{mid}", withdraw="1"))
    assert flashed_ok(page)[0].startswith(W["withdrawn"] + "：")
    assert count(db, "missed_findings") == 0
    assert stored_reviewed(db, RING) == RING_SCORE
    assert trail_of(db, "missed_withdrawn") == [("rev1", {"start": 9.0, "comment": "开头没问候"}, None)]
    assert [a for (a,) in sql(db, "SELECT action FROM trail WHERE sha256 = ? ORDER BY id", RING)] \
        == ["missed_finding", "missed_edit", "missed_withdrawn"]
    # gone: neither edited nor withdrawn again
    assert flashed_errors(follow(rev, post(rev, f"/calls/{RING}/missed/{mid}", withdraw="1"))) \
        == [W["not_yours"]]


def test_own_notes_are_edited_and_withdrawn_with_every_version_kept(db: str) -> None:
    app = app_of(db)
    rev, rev2 = client(app, "rev1"), client(app, "rev2")
    post(rev, f"/calls/{RING}/note", note="第一版")
    (nid,) = sql(db, "SELECT id FROM call_notes")[0]
    assert flashed_errors(follow(rev2, post(rev2, f"/calls/{RING}/note/{nid}", note="改"))) \
        == [W["not_yours"]]
    assert flashed_errors(follow(rev, post(rev, f"/calls/{RING}/note/{nid}", note="  "))) \
        == [f"{W['note']}：{W['required']}"]
    follow(rev, post(rev, f"/calls/{RING}/note/{nid}", note="第二版"))
    assert sql(db, "SELECT note FROM call_notes") == [("第二版",)]
    page = follow(rev, post(rev, f"/calls/{RING}/note/{nid}", withdraw="1"))
    assert count(db, "call_notes") == 0 and "第二版" in page  # in the trail, not the notes
    assert trail_of(db, "note_edit") == [("rev1", {"note": "第一版"}, {"note": "第二版"})]
    assert trail_of(db, "note_withdrawn") == [("rev1", {"note": "第二版"}, None)]
    # an agent may do neither (and sees no notes)
    agent = client(app, "agent2")
    assert post(agent, f"/calls/{RING}/note/{nid}", withdraw="1").status_code == 403


def test_a_closed_call_keeps_what_reviewers_wrote(db: str) -> None:
    app = app_of(db)
    rev, sup, agent = client(app, "rev1"), client(app, "super"), client(app, "agent2")
    post(rev, f"/calls/{RING}/missed", rule="greeting", start="0:05", comment="没问候")
    post(rev, f"/calls/{RING}/note", note="备注")
    review(rev, RING, "confirm_need", "confirmed")
    review(rev, RING, "confirm_need", "overturned", "改主意了")  # open: a review is changed
    assert state_of(rev.get(f"/calls/{RING}").text, "confirm_need") == "overturned"
    (mid,), (nid,) = sql(db, "SELECT id FROM missed_findings")[0], sql(db, "SELECT id FROM call_notes")[0]
    # closed: an appeal on the call is decided
    post(agent, f"/calls/{RING}/appeal", rule="interruption", comment="x")
    post(sup, "/appeals/1", decision="finding_upheld", reason="y")
    page = rev.get(f"/calls/{RING}").text
    assert f"/missed/{mid}" not in page and f"/note/{nid}" not in page
    for url, data in ((f"/calls/{RING}/missed/{mid}", {"withdraw": "1"}),
                      (f"/calls/{RING}/missed/{mid}", {"start": "0:06", "comment": "改"}),
                      (f"/calls/{RING}/note/{nid}", {"note": "改"})):
        assert flashed_errors(follow(rev, post(rev, url, **data))) == [W["call_closed"]], url
    assert flashed_errors(follow(rev, review(rev, RING, "confirm_need", "confirmed"))) \
        == [W["call_closed"]]
    assert (count(db, "missed_findings"), count(db, "call_notes")) == (1, 1)
    assert state_of(rev.get(f"/calls/{RING}").text, "confirm_need") == "overturned"
    review(sup, RING, "confirm_need", "confirmed")  # a supervisor still may
    assert state_of(rev.get(f"/calls/{RING}").text, "confirm_need") == "confirmed"


# --- the Content-Security-Policy: no inline script -----------------------------------------------
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]+\s on[a-z]+\s*=", re.I | re.X)


def test_no_inline_script_anywhere_and_the_csp_says_so(db: str) -> None:
    script = [d.strip() for d in CSP.split(";") if d.strip().startswith("script-src")]
    assert script == ["script-src 'self'"]
    app = app_of(db)
    cal = with_db(db, lambda c: reviews.add_calibration(c, "k", [RING], "super"))
    sup = client(app, "super")
    post(sup, "/queue", day=DAY)
    post(sup, f"/calls/{DEMO}/note", note="n")
    pages = ["/login", "/queue", f"/queue?day={DAY}", "/calls", f"/calls?day={DAY}",
             f"/calls/{DEMO}", f"/calls/{RING}", f"/calls/{RING}?calibration={cal}", "/appeals",
             "/calibration", f"/calibration/{cal}", "/rules", f"/calls/{'0' * 64}"]
    for url in pages:
        r = (client(app) if url == "/login" else sup).get(url)
        assert r.status_code in (200, 404), (url, r.status_code)
        assert r.headers["Content-Security-Policy"] == CSP
        assert not INLINE_SCRIPT.search(r.text), url
        assert not HANDLER.search(r.text), (url, HANDLER.search(r.text))
        assert "Content-Security-Policy" not in r.text, url  # no looser policy in a <meta>
        if url != "/login" and r.status_code == 200:
            assert '<script src="/workbench.js"></script>' in r.text, url
    # the script: served from the site, to those logged in
    js = sup.get("/workbench.js")
    assert js.status_code == 200 and js.mimetype == "text/javascript"
    assert "addEventListener('keydown'" in js.text and "data-autosubmit" in js.text
    assert urlsplit(client(app).get("/workbench.js").headers["Location"]).path == "/login"


# --- the keyboard, in Chromium -----------------------------------------------------------------
@pytest.mark.slow
def test_keyboard_only_confirm_and_next_call(server: dict[str, Any],  # noqa: F811
                                            browser: Any) -> None:
    base, calls = server["base"], server["calls"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    try:
        page.goto(f"{base}/login")
        _login(page, "rev", PASSWORDS["rev"])
        page.goto(f"{base}/queue?day={DAY}")
        page.click("#draw")
        page.wait_for_load_state("load")
        first = page.locator("#queue tr[data-sha]").first.get_attribute("data-sha")
        page.goto(f"{base}/calls/{first}")
        rvs = page.locator(".rv")
        assert rvs.count() >= 2
        rule0 = rvs.nth(0).get_attribute("data-rule")
        rule1 = rvs.nth(1).get_attribute("data-rule")
        # the shortcuts: ? shows them, Esc hides them
        page.keyboard.press("?")
        assert page.locator("#shortcuts").is_visible()
        page.keyboard.press("Escape")
        assert not page.locator("#shortcuts").is_visible()
        # typing in a field: no shortcut
        page.focus("#note-form textarea")
        page.keyboard.type("c")
        assert page.locator(f'.rv[data-rule="{rule0}"] .state').count() == 0
        page.keyboard.press("Escape")
        # j: the next finding (the first unreviewed is current), c confirms it
        assert page.locator(f'#f-{rule0}.current').count() == 1
        page.keyboard.press("j")
        assert page.locator(f'#f-{rule1}.current').count() == 1
        with page.expect_navigation():
            page.keyboard.press("c")
        assert urlsplit(page.url).fragment == f"f-{rule1}"
        assert page.locator(f'.rv[data-rule="{rule1}"] .state[data-state="confirmed"]').count() == 1
        assert page.locator(".flash.ok").inner_text().startswith(WORDS["zh"]["saved_confirmed"] + "：")
        assert page.locator(f'#f-{rule1}.current').count() == 1  # still where it was
        said = page.locator(".flash.ok").bounding_box()  # seen there, not only at the page's top
        assert said and 0 <= said["y"] < 900
        # the finding judged and the player on one screen
        box, player = page.locator(f"#f-{rule1}").bounding_box(), page.locator("#audio").bounding_box()
        assert box and player and 0 <= box["y"] < 900 and 0 <= player["y"] < 900
        assert box["y"] >= player["y"] + player["height"] - 1  # not under the sticky player
        # o: the reason field of the current finding; Enter overturns with it
        page.keyboard.press("j")
        rule2 = page.locator(".rv").nth(2 % rvs.count()).get_attribute("data-rule")
        page.keyboard.press("o")
        page.keyboard.type("识别错了")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator(f'.rv[data-rule="{rule2}"] .state[data-state="overturned"]').count() == 1
        # n: the next call of the queue
        nxt = page.locator("#next-call").get_attribute("href")
        assert nxt and nxt != f"/calls/{first}"
        with page.expect_navigation():
            page.keyboard.press("n")
        assert urlsplit(page.url).path == nxt
        assert calls and errors == []
    finally:
        context.close()

