"""The review workbench (`audit serve`, review/server.py) through Flask's test client: sessions,
roles, CSRF, escaping, logins, the review, appeal and calibration flows, precision, the schema
migration that adds the review tables, re-scoring with reviews, and the review CLI commands.

Fast: the stored audits of tests/data/results, no model. Accounts are made once (one Argon2
hash shared by every account) in a template database that each test copies
(tests/review/conftest.py)."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from markupsafe import escape

from callaudit.cli import main
from callaudit.results import reviews, store
from callaudit.results.export import export
from callaudit.results.queries import read_result
from callaudit.results.rescore import rescore
from callaudit.results.store import MIGRATIONS, CallMeta, connect
from callaudit.results.summary import summary
from callaudit.review import accounts
from callaudit.review.agreement import cohen_kappa
from callaudit.rules.pack import load
from callaudit.rules.reviewed import reviewed_score
from tests.helpers import stored, stored_result
from tests.helpers.review import (
    BAD,
    CALLS,
    DAY,
    DEMO,
    MONO,
    PASSWORD,
    RAW,
    RING,
    RING_SCORE,
    XSS,
    W,
    add_call,
    app_of,
    client,
    count,
    flashed_errors,
    follow,
    login,
    new_calibration,
    post,
    review,
    reviewed_on_page,
    rv,
    sha,
    sql,
    state_of,
    stored_reviewed,
    token,
    with_db,
    without_tokens,
    written,
)

PACK = load(None)
NAMES = {r.id: r.text("zh", PACK.settings) for r in PACK.rules}  # rules as pages name them


# === 1. nothing without a session ==============================================================
def test_no_page_and_no_action_without_a_session(db: str) -> None:
    aid = with_db(db, lambda c: reviews.add_appeal(c, RING, "interruption", "agent2", "mine"))
    cal = with_db(db, lambda c: reviews.add_calibration(c, "k", [RING], "super"))
    before = written(db)
    app = app_of(db)
    c = client(app)
    gets = ["/", "/queue", f"/queue?day={DAY}", "/calls", f"/calls?day={DAY}", f"/calls/{RING}",
            f"/calls/{RING}?calibration={cal}", f"/calls/{RING}/audio", "/appeals", "/calibration",
            f"/calibration/{cal}", "/rules"]
    posts = {"/logout": {}, "/queue": {"day": DAY},
             f"/calls/{RING}/review": {"rule": "interruption", "state": "overturned", "reason": "x"},
             f"/calls/{RING}/missed": {"rule": "greeting", "start": "0:05", "comment": "x"},
             f"/calls/{RING}/note": {"note": "x"},
             f"/calls/{RING}/appeal": {"rule": "confirm_need", "comment": "x"},
             f"/appeals/{aid}": {"decision": "finding_overturned", "reason": "x"},
             "/calibration": {"name": "k2", "call": [RING, BAD]}}
    answers = [(u, c.get(u)) for u in gets] + [(u, c.post(u, data=d)) for u, d in posts.items()]
    for url, r in answers:
        assert r.status_code in (302, 401, 403), (url, r.status_code)
        if r.status_code == 302:
            assert urlsplit(r.headers["Location"]).path == "/login", url
        assert "ringback_call" not in r.text and "interruption" not in r.text, url
        assert r.mimetype != "audio/ogg", url
    assert written(db) == before
    assert sql(db, "SELECT state FROM appeals") == [("open",)]


# === 2. agents: their own calls only ===========================================================
def test_agent_sees_only_own_calls(db: str) -> None:
    with_db(db, lambda c: add_call(c, "demo_call", key="nobody", agent=None))
    with_db(db, lambda c: reviews.add_appeal(c, RING, "interruption", "agent2", "mine"))
    before = written(db)
    app = app_of(db)
    a1 = client(app, "agent1")
    for url in ("/calls", "/calls?agent=A2", f"/calls?day={DAY}&agent=A2"):
        listed = set(re.findall(r'data-sha="(\w+)"', a1.get(url).text))
        assert listed == {DEMO, BAD}, url
    assert a1.get(f"/calls/{DEMO}").status_code == 200
    # another agent's call: as if it did not exist (404, the same page as a missing call)
    other = a1.get(f"/calls/{RING}")
    assert other.status_code == 404
    assert without_tokens(other.text) == without_tokens(a1.get(f"/calls/{sha('missing')}").text)
    assert a1.get(f"/calls/{sha('nobody')}").status_code == 404
    assert a1.get(f"/calls/{RING}/audio").status_code == 404
    assert post(a1, f"/calls/{RING}/appeal", rule="interruption", comment="x").status_code == 404
    assert review(a1, RING, "interruption", "overturned", "x").status_code == 403
    assert post(a1, f"/calls/{RING}/note", note="x").status_code == 403
    assert post(a1, f"/calls/{RING}/missed", rule="greeting", comment="x").status_code == 403
    # no reviews at all, even of their own calls, and none of the reviewers' pages
    assert review(a1, BAD, "greeting", "overturned", "x").status_code == 403
    assert review(a1, BAD, "greeting", "confirmed").status_code == 403
    assert post(a1, f"/calls/{BAD}/note", note="x").status_code == 403
    for url in ("/queue", "/rules", "/calibration", "/calibration/1"):
        assert a1.get(url).status_code == 403, url
    assert post(a1, "/queue", day=DAY).status_code == 403
    assert post(a1, "/calibration", name="k", call=[BAD]).status_code == 403
    assert post(a1, "/appeals/1", decision="finding_overturned", reason="x").status_code == 403
    appeals = a1.get("/appeals").text
    assert 'data-appeal="' not in appeals and "ringback_call" not in appeals
    assert written(db) == before
    # the other agent sees their appeal
    assert 'data-appeal="1"' in client(app, "agent2").get("/appeals").text


def test_agent_without_an_agent_id_sees_nothing(db: str) -> None:
    with_db(db, lambda c: add_call(c, "demo_call", key="nobody", agent=None))
    with_db(db, lambda c: reviews.add_appeal(c, RING, "interruption", "agent2", "mine"))
    a0 = client(app_of(db), "agent0")
    assert sql(db, "SELECT agent_id FROM users WHERE name = 'agent0'") == [(None,)]
    assert 'data-sha="' not in a0.get("/calls").text
    assert 'data-sha="' not in a0.get("/calls?agent=A1").text
    for h in (DEMO, RING, sha("nobody")):
        assert a0.get(f"/calls/{h}").status_code == 404
    assert 'data-appeal="' not in a0.get("/appeals").text


def test_own_audio_is_served_to_the_agent(db: str) -> None:
    a2 = client(app_of(db), "agent2")
    r = a2.get(f"/calls/{MONO}/audio")
    assert r.status_code == 200 and r.mimetype == "audio/ogg" and r.data[:4] == b"OggS"
    assert client(app_of(db), "agent1").get(f"/calls/{MONO}/audio").status_code == 404


# === 3. CSRF ===================================================================================
def test_csrf_token_is_required_on_every_form(db: str) -> None:
    app = app_of(db, csrf=True)
    rev = client(app, "rev1")  # the login itself used the page's token
    page = rev.get(f"/calls/{RING}").text
    tok = token(page)
    before = written(db)
    for url, data in ((f"/calls/{RING}/review", {"rule": "interruption", "state": "overturned",
                                                 "reason": "x"}),
                      (f"/calls/{RING}/note", {"note": "x"}),
                      (f"/calls/{RING}/missed", {"rule": "greeting", "comment": "x"}),
                      ("/logout", {})):
        for bad in ({}, {"csrf_token": "forged"}):
            r = rev.post(url, data={**data, **bad})
            assert r.status_code == 400, (url, bad)
    assert written(db) == before
    assert rev.get("/calls").status_code == 200  # the refused logout did not log out
    agent = client(app, "agent2")
    assert agent.post(f"/calls/{RING}/appeal", data={"rule": "interruption", "comment": "x"}
                      ).status_code == 400
    stranger = client(app)
    r = stranger.post("/login", data={"name": "rev2", "password": PASSWORD})
    assert r.status_code == 400
    assert stranger.get("/calls").status_code == 302  # not logged in
    assert written(db) == before
    # with the page's token each one works
    assert review(rev, RING, "interruption", "overturned", "x", csrf_token=tok).status_code == 302
    assert post(rev, f"/calls/{RING}/note", note="n", csrf_token=tok).status_code == 302
    atok = token(agent.get(f"/calls/{RING}").text)
    assert post(agent, f"/calls/{RING}/appeal", rule="confirm_need", comment="c",
                csrf_token=atok).status_code == 302
    assert (count(db, "reviews"), count(db, "call_notes"), count(db, "appeals")) == (1, 1, 1)
    assert post(rev, "/logout", csrf_token=tok).status_code == 302
    assert rev.get("/calls").status_code == 302


# === 4. escaping ===============================================================================
def test_what_people_typed_is_escaped_everywhere(db: str) -> None:
    app = app_of(db)
    rev, sup, agent = client(app, "rev1"), client(app, "super"), client(app, "agent2")
    assert post(rev, f"/calls/{RING}/note", note=XSS).status_code == 302
    assert review(rev, RING, "interruption", "overturned", XSS).status_code == 302
    assert post(rev, f"/calls/{RING}/missed", rule="greeting", start="0:05", comment=XSS
                ).status_code == 302
    assert post(agent, f"/calls/{RING}/appeal", rule="confirm_need", comment=XSS).status_code == 302
    r = post(sup, "/calibration", name=XSS, call=[DEMO, BAD])  # not reviewed yet: blind
    assert r.status_code == 302
    cal = int(r.headers["Location"].rsplit("/", 1)[1])
    # the rows hold it as typed
    assert sql(db, "SELECT note FROM call_notes") == [(XSS,)]
    assert sql(db, "SELECT reason FROM reviews") == [(XSS,)]
    shown = str(escape(XSS))
    pages = {"call (reviewer)": rev.get(f"/calls/{RING}").text,
             "call (supervisor)": sup.get(f"/calls/{RING}").text,
             "call (agent)": agent.get(f"/calls/{RING}").text,
             "appeals (supervisor)": sup.get("/appeals").text,
             "appeals (agent)": agent.get("/appeals").text,
             "calibrations": sup.get("/calibration").text,
             "calibration": sup.get(f"/calibration/{cal}").text,
             "calibration (reviewer)": rev.get(f"/calibration/{cal}").text}
    for page, html in pages.items():
        for raw in RAW:
            assert raw not in html, page
        assert shown in html, page
    call = pages["call (reviewer)"]
    assert shown in rv(call, "interruption")  # the reason
    assert re.search(r'<p class="note">.*?' + re.escape(shown), call, re.S)  # the note
    assert re.search(r'<tr data-rule="greeting">.*?' + re.escape(shown), call)  # missed finding
    assert re.search(r'<tr data-appeal="\d+" data-rule="confirm_need">.*?' + re.escape(shown), call)


def test_call_and_agent_ids_from_the_database_are_escaped(db: str) -> None:
    nasty_call, nasty_agent = "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'
    h = with_db(db, lambda c: add_call(c, "bad_call", key="nasty", call_id=nasty_call, agent=nasty_agent))
    rev = client(app_of(db), "rev1")
    calls = rev.get("/calls").text
    assert post(rev, "/queue", day=DAY).status_code == 302
    queue = rev.get(f"/queue?day={DAY}").text
    assert f'data-sha="{h}"' in queue  # fatal: always queued
    for page, html in (("/calls", calls), ("/queue", queue), ("call", rev.get(f"/calls/{h}").text)):
        for raw in RAW:
            assert raw not in html, page
        assert str(escape(nasty_call)) in html and str(escape(nasty_agent)) in html, page
    # a rule id typed into a form comes back in a flashed error, escaped
    page = follow(rev, review(rev, RING, XSS, "confirmed"))
    assert flashed_errors(page) and all(raw not in page for raw in RAW)


# === 5. logging in =============================================================================
def test_wrong_password_and_unknown_name_get_the_same_answer(db: str) -> None:
    app = app_of(db)
    wrong = login(client(app), "rev1", "wrong password")
    unknown = login(client(app), "nobody", PASSWORD)
    disabled = login(client(app), "gone", PASSWORD)
    for r in (wrong, unknown, disabled):
        assert r.status_code == 401
        assert f'id="login-error">{W["bad_login"]}<' in r.text
    assert without_tokens(wrong.text) == without_tokens(unknown.text) == without_tokens(disabled.text)
    c = client(app)
    login(c, "gone", PASSWORD)
    assert c.get("/calls").status_code == 302


def test_a_disabled_account_loses_its_session(db: str) -> None:
    rev = client(app_of(db), "rev1")
    assert rev.get("/calls").status_code == 200
    with_db(db, lambda c: reviews.disable_user(c, "rev1", "test"))
    r = rev.get("/calls")
    assert r.status_code == 302 and urlsplit(r.headers["Location"]).path == "/login"


def test_logins_are_limited_per_name(db: str) -> None:
    app = app_of(db)
    c = client(app)
    for _ in range(5):
        assert login(c, "rev1", "wrong password").status_code == 401
    r = login(c, "rev1", "wrong password")
    assert r.status_code == 429 and 'id="login-error"' in r.text
    assert login(client(app), "rev1", PASSWORD).status_code == 429  # another address, same name
    assert login(c, "rev2", PASSWORD).status_code == 302  # another name


@pytest.mark.slow
def test_logins_are_limited_per_address(db: str) -> None:
    app = app_of(db)
    c = client(app)
    for i in range(10):
        assert login(c, f"nobody{i}", "wrong password").status_code == 401
    assert login(c, "rev1", PASSWORD).status_code == 429
    assert login(client(app), "rev1", PASSWORD).status_code == 302


@pytest.mark.parametrize("nxt", [
    "//evil.example/x", "https://evil.example", "/\\evil.example", "\\\\evil.example",
    "http:evil.example", "/%2F/evil.example",
    # browsers (and werkzeug's redirect) drop tabs and newlines from a URL: '/<TAB>/x' is '//x'
    "/\t/evil.example", "/\n/evil.example",
])
def test_login_never_redirects_off_site(db: str, nxt: str) -> None:
    r = login(client(app_of(db)), "rev1", nxt=nxt)
    assert r.status_code == 302
    loc = r.headers["Location"]
    parts = urlsplit(loc)
    assert parts.netloc in ("", "localhost") and parts.scheme in ("", "http")
    assert not loc.startswith("//") and "\\" not in loc and "\t" not in loc
    assert "evil.example" not in parts.netloc


def test_login_follows_a_local_next(db: str) -> None:
    r = login(client(app_of(db)), "rev1", nxt=f"/calls?day={DAY}")
    assert r.status_code == 302 and r.headers["Location"] == f"/calls?day={DAY}"
    for name, home in (("agent1", "/calls"), ("rev1", "/queue")):
        c = client(app_of(db))
        r = login(c, name)
        assert r.headers["Location"] == "/"
        assert c.get("/").headers["Location"] == home


def test_session_cookie_and_security_headers(db: str) -> None:
    app = app_of(db)
    c = client(app)
    r = login(c, "rev1")
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    for page in (c.get("/login"), c.get("/calls"), c.get(f"/calls/{RING}"), client(app).get("/login"),
                 c.get(f"/calls/{sha('missing')}")):
        h = page.headers
        csp = [d.strip() for d in h["Content-Security-Policy"].split(";")]
        assert "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "default-src 'none'" in csp
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
        assert h["Cache-Control"] == "no-store"
    secure = login(client(app_of(db, secure_cookies=True)), "rev1")
    cookie = next(h for h in secure.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "Secure" in cookie


# === 6. reviewing ==============================================================================
def test_overturn_raises_the_reviewed_score_only(db: str) -> None:
    rev = client(app_of(db), "rev1")
    page = follow(rev, review(rev, RING, "interruption", "overturned", ""))  # no reason
    assert W["reason_needed"] in " ".join(flashed_errors(page))
    assert count(db, "reviews") == 0 and stored_reviewed(db, RING) is None
    assert reviewed_on_page(page) is None and state_of(page, "interruption") is None
    page = follow(rev, review(rev, RING, "interruption", "overturned", "   "))  # blank
    assert flashed_errors(page) and count(db, "reviews") == 0
    page = follow(rev, review(rev, RING, "interruption", "overturned", "客户先打断"))
    assert not flashed_errors(page)
    assert reviewed_on_page(page) == RING_SCORE + 5 == stored_reviewed(db, RING)
    assert state_of(page, "interruption") == "overturned" and "客户先打断" in rv(page, "interruption")
    assert sql(db, "SELECT state, reason, reviewer FROM reviews") == [("overturned", "客户先打断", "rev1")]
    # the machine's verdict stays as it was
    score, result = sql(db, "SELECT score, result_json FROM calls WHERE sha256 = ?", RING)[0]
    assert score == RING_SCORE and json.loads(result)["score"] == RING_SCORE
    assert re.search(r'id="score">91.0<', page)
    # not applicable: the same, without a reason
    page = follow(rev, review(rev, RING, "confirm_need", "not_applicable"))
    assert reviewed_on_page(page) == RING_SCORE + 5 + 2 == stored_reviewed(db, RING)
    # the listing shows it too
    row = re.search(rf'<tr data-sha="{RING}">.*?</tr>', rev.get("/calls").text, re.S)
    assert row and "98.0" in row.group(0)


def test_overturn_is_capped_at_100(db: str) -> None:
    rev = client(app_of(db), "rev1")
    for rule in ("interruption", "confirm_need", "confirm_understood"):
        review(rev, RING, rule, "overturned", "wrong")
    assert stored_reviewed(db, RING) == 100.0
    # and a fatal finding overturned: the call is no longer failed for it
    rows = {r["rule"]: r for r in stored_result("bad_call")["result"]["findings"]}
    assert rows["ask_secret"]["severity"] == "fatal"
    review(rev, BAD, "ask_secret", "overturned", "the customer said it")
    assert sql(db, "SELECT fatal FROM reviewed_scores WHERE sha256 = ?", BAD) == [(0,)]


def test_reviews_of_what_did_not_fail_are_refused(db: str) -> None:
    rev = client(app_of(db), "rev1")
    for rule, state in (("greeting", "confirmed"), ("greeting", "overturned"),  # RING passed it
                        ("no_such_rule", "confirmed"), ("interruption", "maybe"),
                        ("interruption", "")):
        page = follow(rev, review(rev, RING, rule, state, "reason"))
        assert flashed_errors(page), (rule, state)
    assert count(db, "reviews") == 0 and stored_reviewed(db, RING) is None
    assert review(rev, sha("missing"), "greeting", "confirmed").status_code == 404


def needs_review_greeting(result: dict[str, Any]) -> None:
    """The greeting finding failed, but who spoke was unsure: deducts nothing (needs review)."""
    f = next(f for f in result["findings"] if f["rule"] == "greeting")
    f.update(applicable=True, passed=False, deduction=0.0, review=True)


def test_confirming_a_finding_that_needed_review_deducts_the_rules_points(db: str) -> None:
    pack = load(None)
    greeting = next(r for r in pack.rules if r.id == "greeting")
    assert greeting.deduction == 10.0
    h = with_db(db, lambda c: add_call(c, "mono_call", key="unsure", change=needs_review_greeting))
    assert sql(db, "SELECT score FROM calls WHERE sha256 = ?", h) == [(100.0,)]
    rev = client(app_of(db), "rev1")
    page = follow(rev, review(rev, h, "greeting", "confirmed"))
    assert reviewed_on_page(page) == 100.0 - greeting.deduction == stored_reviewed(db, h)
    assert state_of(page, "greeting") == "confirmed"
    # a confirmed ordinary finding changes nothing
    review(rev, RING, "interruption", "confirmed")
    assert stored_reviewed(db, RING) == RING_SCORE


def test_a_missed_finding_deducts_its_rule_once(db: str) -> None:
    rev = client(app_of(db), "rev1")
    page = follow(rev, post(rev, f"/calls/{RING}/missed", rule="greeting", start="0:05",
                            comment="没有问候"))
    assert reviewed_on_page(page) == RING_SCORE - 10 == stored_reviewed(db, RING)
    assert sql(db, "SELECT rule, start, comment FROM missed_findings") == [("greeting", 5.0, "没有问候")]
    # the rule by its name, its id as a secondary label (issue 34)
    assert re.search(r'<tr data-rule="greeting"><td class="rule"><span class="rule-name">'
                     r'开场未问候（您好）</span> <span class="rid">greeting</span></td><td>00:05</td>', page)
    post(rev, f"/calls/{RING}/missed", rule="greeting", start="30", comment="again")
    assert stored_reviewed(db, RING) == RING_SCORE - 10  # once per rule
    # a missed finding of a rule the machine already failed: its failure stands, no more
    post(rev, f"/calls/{RING}/missed", rule="confirm_need", start="", comment="twice")
    assert stored_reviewed(db, RING) == RING_SCORE - 10
    assert count(db, "missed_findings") == 3
    for bad in ({"rule": "greeting", "start": "a:b", "comment": "x"},
                {"rule": "greeting", "start": "-3", "comment": "x"},
                {"rule": "no_such_rule", "start": "", "comment": "x"},
                {"rule": "greeting", "start": "", "comment": " "}):
        assert flashed_errors(follow(rev, post(rev, f"/calls/{RING}/missed", **bad))), bad
    assert count(db, "missed_findings") == 3


def test_long_text_is_cut(db: str) -> None:
    rev = client(app_of(db), "rev1")
    post(rev, f"/calls/{RING}/note", note="备" * 3000)
    assert sql(db, "SELECT length(note) FROM call_notes") == [(2000,)]
    assert flashed_errors(follow(rev, post(rev, f"/calls/{RING}/note", note="")))
    assert count(db, "call_notes") == 1


# === 7. appeals ================================================================================
def test_appeal_and_decision(db: str) -> None:
    app = app_of(db)
    agent, sup, rev = client(app, "agent2"), client(app, "super"), client(app, "rev1")
    own = agent.get(f"/calls/{RING}").text
    assert 'id="appeal-form"' in own and 'id="trail"' not in own
    page = follow(agent, post(agent, f"/calls/{RING}/appeal", rule="interruption", comment="他先打断我"))
    assert not flashed_errors(page)
    (aid,) = sql(db, "SELECT id FROM appeals WHERE state = 'open'")[0]
    for who in (sup, agent):
        assert f'data-appeal="{aid}"' in who.get("/appeals").text
    assert f'data-appeal="{aid}"' not in client(app, "agent1").get("/appeals").text
    # a second open appeal of the same finding, an appeal of what did not fail: refused
    assert flashed_errors(follow(agent, post(agent, f"/calls/{RING}/appeal", rule="interruption",
                                             comment="again")))
    assert flashed_errors(follow(agent, post(agent, f"/calls/{RING}/appeal", rule="greeting",
                                             comment="x")))
    assert flashed_errors(follow(agent, post(agent, f"/calls/{RING}/appeal", rule="confirm_need",
                                             comment="")))
    assert count(db, "appeals") == 1
    # only a supervisor (or admin) decides
    for who in (rev, agent):
        r = post(who, f"/appeals/{aid}", decision="finding_overturned", reason="x")
        assert r.status_code == 403
    assert flashed_errors(follow(sup, post(sup, f"/appeals/{aid}", decision="finding_overturned",
                                           reason="")))
    assert flashed_errors(follow(sup, post(sup, f"/appeals/{aid}", decision="maybe", reason="x")))
    assert sql(db, "SELECT state FROM appeals") == [("open",)]
    assert post(sup, "/appeals/999", decision="finding_overturned", reason="x").status_code == 404
    r = post(sup, f"/appeals/{aid}", decision="finding_overturned", reason="录音确认", back="call")
    assert r.status_code == 302 and r.headers["Location"] == f"/calls/{RING}"
    assert sql(db, "SELECT state, decided_by, decision_reason FROM appeals") == [
        ("finding_overturned", "super", "录音确认")]
    assert stored_reviewed(db, RING) == RING_SCORE + 5
    page = sup.get(f"/calls/{RING}").text
    assert reviewed_on_page(page) == RING_SCORE + 5
    assert state_of(page, "interruption") == "overturned"
    assert f'({W["appeal"]})' in rv(page, "interruption") and "录音确认" in rv(page, "interruption")
    # decided once
    assert flashed_errors(follow(sup, post(sup, f"/appeals/{aid}", decision="finding_upheld",
                                           reason="x")))
    # an upheld appeal confirms the finding and keeps its points
    post(agent, f"/calls/{RING}/appeal", rule="confirm_need", comment="我确认过")
    (aid2,) = sql(db, "SELECT id FROM appeals WHERE state = 'open'")[0]
    post(sup, f"/appeals/{aid2}", decision="finding_upheld", reason="没有确认")
    page = sup.get(f"/calls/{RING}").text
    assert state_of(page, "confirm_need") == "confirmed" and stored_reviewed(db, RING) == RING_SCORE + 5
    # the trail, with who did what
    trail = re.search(r'<table id="trail">(.*?)</table>', page, re.S)
    assert trail
    rows = re.findall(r'<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td class="rule">.*?'
                      r'<span class="rid">([^<]*)</span></td>', trail.group(1))
    stored = [("agent2", "appeal", "interruption"), ("super", "appeal_decision", "interruption"),
              ("agent2", "appeal", "confirm_need"), ("super", "appeal_decision", "confirm_need")]
    assert rows == [(a, W["act_" + b], r) for a, b, r in stored]  # actions in words, not codes
    assert sql(db, "SELECT actor, action FROM trail WHERE sha256 = ? ORDER BY id", RING) == [
        (a, b) for a, b, _ in stored]


def test_the_trail_is_append_only(db: str) -> None:
    rev = client(app_of(db), "rev1")
    review(rev, RING, "interruption", "overturned", "x")
    before = sql(db, "SELECT * FROM trail ORDER BY id")
    conn = sqlite3.connect(db)
    try:
        for statement in ("UPDATE trail SET actor = 'someone else'", "DELETE FROM trail",
                          "UPDATE trail SET after_json = NULL WHERE action = 'review'"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
        conn.commit()
    finally:
        conn.close()
    assert sql(db, "SELECT * FROM trail ORDER BY id") == before


def test_an_upheld_appeal_of_a_missed_finding_removes_its_deduction(db: str) -> None:
    app = app_of(db)
    rev, agent, sup = client(app, "rev1"), client(app, "agent2"), client(app, "super")
    post(rev, f"/calls/{RING}/missed", rule="greeting", start="0:01", comment="没有问候")
    assert stored_reviewed(db, RING) == RING_SCORE - 10
    assert '<option value="greeting">' in agent.get(f"/calls/{RING}").text  # offered for appeal
    post(agent, f"/calls/{RING}/appeal", rule="greeting", comment="我问候了")
    (aid,) = sql(db, "SELECT id FROM appeals")[0]
    post(sup, f"/appeals/{aid}", decision="finding_overturned", reason="录音里有问候")
    assert sql(db, "SELECT state FROM appeals") == [("finding_overturned",)]
    assert stored_reviewed(db, RING) == RING_SCORE  # the missed finding is gone


def test_a_review_after_an_appeal_decision_stands(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reviews, "now", lambda: "2026-12-01T09:00:00")  # all in one second
    app = app_of(db)
    agent, sup, rev = client(app, "agent2"), client(app, "super"), client(app, "rev1")
    post(agent, f"/calls/{RING}/appeal", rule="interruption", comment="x")
    post(sup, "/appeals/1", decision="finding_overturned", reason="y")
    assert stored_reviewed(db, RING) == RING_SCORE + 5
    # a reviewer cannot undo a supervisor's decision on appeal; a supervisor can
    assert flashed_errors(follow(rev, review(rev, RING, "interruption", "confirmed")))
    assert stored_reviewed(db, RING) == RING_SCORE + 5
    review(sup, RING, "interruption", "confirmed")  # afterwards: the finding stands again
    assert state_of(rev.get(f"/calls/{RING}").text, "interruption") == "confirmed"
    assert stored_reviewed(db, RING) == RING_SCORE


# === 8. calibration ============================================================================
def test_calibration_is_blind_and_measures_agreement(db: str) -> None:
    app = app_of(db)
    sup, r1, r2 = client(app, "super"), client(app, "rev1"), client(app, "rev2")
    form = sup.get(f"/calibration?day={DAY}").text
    assert 'id="new-calibration"' in form and f'value="{RING}"' in form
    assert post(r1, "/calibration", name="k", call=[RING]).status_code == 403
    assert 'id="new-calibration"' not in r1.get(f"/calibration?day={DAY}").text
    assert flashed_errors(follow(sup, post(sup, "/calibration", name="k", call=[sha("missing")])))
    cal = new_calibration(sup, "十一月校准", [RING, BAD])
    assert sql(db, "SELECT sha256 FROM calibration_calls WHERE calibration = ? ORDER BY sha256", cal) == \
        sorted([(RING,), (BAD,)])
    verdicts = {"rev1": {RING: ("confirmed", ""), BAD: ("not_applicable", "")},
                "rev2": {RING: ("confirmed", ""), BAD: ("overturned", "rev2 的理由")}}
    review(r1, RING, "interruption", "overturned", "rev1 的理由", calibration=cal)
    for h, (state, reason) in verdicts["rev1"].items():
        assert review(r1, h, "confirm_need", state, reason, calibration=cal).headers["Location"] == \
            f"/calls/{h}?calibration={cal}"
    # rev2 sees none of rev1's verdicts in the session
    blind = r2.get(f"/calls/{RING}?calibration={cal}").text
    assert 'id="calibration"' in blind
    for rule in ("interruption", "confirm_need"):
        assert state_of(blind, rule) is None
    assert "rev1" not in blind and "rev1 的理由" not in blind and 'id="trail"' not in blind
    for h, (state, reason) in verdicts["rev2"].items():
        review(r2, h, "confirm_need", state, reason, calibration=cal)
    mine = r2.get(f"/calls/{BAD}?calibration={cal}").text
    assert state_of(mine, "confirm_need") == "overturned" and "rev1" not in rv(mine, "confirm_need")
    # calibration reviews change no reviewed score and no precision
    assert count(db, "reviews") == 5 and count(db, "reviewed_scores") == 0
    for h in (RING, BAD):
        page = sup.get(f"/calls/{h}").text
        assert reviewed_on_page(page) is None and state_of(page, "confirm_need") is None
    assert 'data-rule="confirm_need"' not in sup.get("/rules").text
    assert with_db(db, reviews.precision_by_rule) == {}
    # agreement is hidden while the session is open (a participant could change a rating)
    assert 'id="agreement"' not in sup.get(f"/calibration/{cal}").text
    assert post(sup, f"/calibration/{cal}/close").status_code == 302
    assert flashed_errors(follow(r1, review(r1, RING, "confirm_need", "confirmed", calibration=cal)))
    # the supervisor sees agreement per rule; Cohen's kappa for the two reviewers
    session = sup.get(f"/calibration/{cal}").text
    row = re.search(r'<tr data-rule="confirm_need">(.*?)</tr>', session)
    assert row
    order = sorted([RING, BAD])  # items in call order
    kappa = cohen_kappa([verdicts["rev1"][h][0] for h in order], [verdicts["rev2"][h][0] for h in order])
    assert kappa is not None and abs(kappa - 1 / 3) < 1e-9
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))]
    assert cells == [f"{NAMES['confirm_need']} confirm_need", "2", "2", "0.50", f"{kappa:.2f}",
                     W["method_cohen"]]
    assert 'data-rule="interruption"' not in session  # rated by one reviewer only
    # a reviewer sees the session, not the agreement; an agent neither
    seen = r1.get(f"/calibration/{cal}").text
    assert 'id="calib-calls"' in seen and 'id="agreement"' not in seen
    assert client(app, "agent2").get(f"/calibration/{cal}").status_code == 403
    assert sup.get("/calibration/999").status_code == 404
    # a call outside the session is not reviewed in its name
    assert r1.get(f"/calls/{DEMO}?calibration={cal}").status_code == 404
    other = new_calibration(sup, "other", [DEMO])
    assert review(r1, RING, "interruption", "confirmed", calibration=other).status_code == 404
    assert count(db, "reviews") == 5


def test_the_call_page_does_not_reveal_calibration_verdicts(db: str) -> None:
    app = app_of(db)
    sup, r1, r2 = client(app, "super"), client(app, "rev1"), client(app, "rev2")
    cal = new_calibration(sup, "k", [RING])
    review(r1, RING, "interruption", "overturned", "rev1 的理由", calibration=cal)
    page = r2.get(f"/calls/{RING}").text
    assert "rev1 的理由" not in page and "calibration_review" not in page


# === 9. precision ==============================================================================
def four_confirm_need_calls(db: str) -> list[str]:
    """RING, BAD and two more calls that failed confirm_need."""
    extra = with_db(db, lambda c: [add_call(c, "ringback_call", key=k) for k in ("ring2", "ring3")])
    return [RING, BAD, *extra]


def test_precision_per_rule(db: str, tmp_path: Path) -> None:
    calls = four_confirm_need_calls(db)
    rev = client(app_of(db), "rev1")
    for h in calls[:3]:
        review(rev, h, "confirm_need", "confirmed")
    review(rev, calls[3], "confirm_need", "overturned", "客户已确认")
    post(rev, f"/calls/{DEMO}/missed", rule="confirm_need", comment="漏了")
    page = rev.get("/rules").text
    row = re.search(r'<tr data-rule="confirm_need" class="([^"]*)">(.*?)</tr>', page, re.S)
    assert row and row.group(1) == ""  # 4 reviewed: fewer than review_min_reviewed (5)
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(2))]
    assert cells[0] == f"{NAMES['confirm_need']} confirm_need"  # by name, the id secondary
    assert cells[1:7] == ["4", "3", "1", "0", "75%", "1"]
    rules = {r["rule"]: r for r in with_db(db, lambda c: summary(c, "rule"))}
    assert rules["confirm_need"]["precision"] == 0.75
    assert (rules["confirm_need"]["reviewed"], rules["confirm_need"]["missed"]) == (4, 1)
    assert rules["confirm_need"]["low_precision"] == 0
    assert rules["greeting"]["precision"] is None and rules["greeting"]["reviewed"] == 0
    # a center that judges precision after 4 reviews: flagged
    strict = tmp_path / "strict.yaml"
    strict.write_text("settings:\n  review_min_reviewed: 4\n", encoding="utf-8")
    page = client(app_of(db, rules=str(strict)), "rev1").get("/rules").text
    assert re.search(r'<tr data-rule="confirm_need" class="flagged">', page)
    assert W["flagged"] in page
    st = load(str(strict)).settings
    rules = {r["rule"]: r for r in with_db(db, lambda c: summary(c, "rule", settings=st))}
    assert rules["confirm_need"]["low_precision"] == 1
    # ... and one that accepts 70%: not flagged
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("settings:\n  review_min_reviewed: 4\n  review_min_precision: 0.7\n",
                       encoding="utf-8")
    page = client(app_of(db, rules=str(lenient)), "rev1").get("/rules").text
    assert re.search(r'<tr data-rule="confirm_need" class="">', page)
    st = load(str(lenient)).settings
    rules = {r["rule"]: r for r in with_db(db, lambda c: summary(c, "rule", settings=st))}
    assert rules["confirm_need"]["low_precision"] == 0


def test_precision_counts_the_latest_verdict(db: str) -> None:
    calls = four_confirm_need_calls(db)
    rev = client(app_of(db), "rev1")
    for h in calls:
        review(rev, h, "confirm_need", "overturned", "first look")
    for h in calls[:3]:
        review(rev, h, "confirm_need", "confirmed")  # changed their mind
    p = with_db(db, reviews.precision_by_rule)["confirm_need"]
    assert (p["reviewed"], p["confirmed"], p["overturned"], p["precision"]) == (4, 3, 1, 0.75)


# === 10. the schema migration ==================================================================
def v3_database(path: Path) -> None:
    """A database as version 3 left it (MIGRATIONS 1..3 replayed), with the 4 calls in it."""
    conn = sqlite3.connect(path, isolation_level=None)
    assert [v for v, _, _ in MIGRATIONS[:3]] == [1, 2, 3]
    for _, _, step in MIGRATIONS[:3]:
        store.run_step(conn, step)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '3')")
    conn.execute("BEGIN")
    for name, agent in CALLS.items():
        store.insert_call(conn, CallMeta(file=f"/rec/{name}.wav", sha256=sha(name), call_id=name,
                                         agent_id=agent, day=DAY), stored(name))
    conn.execute("COMMIT")
    conn.close()


def contents(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
                               for t in ("calls", "findings", "utterances", "regions", "metrics")}
        out["scores"] = conn.execute("SELECT sha256, score, passed, fatal FROM calls ORDER BY id").fetchall()
        out["findings_rows"] = conn.execute("SELECT * FROM findings ORDER BY rowid").fetchall()
        out["version"] = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        out["tables"] = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return out
    finally:
        conn.close()


def test_a_version_3_database_is_read_and_then_upgraded(tmp_path: Path) -> None:
    old = tmp_path / "v3.sqlite"
    v3_database(old)
    before = contents(old)
    assert before["version"] == "3" and before["calls"] == 4 and before["findings"] > 4
    assert not set(store.REVIEW_TABLES) & before["tables"]
    # a reader: summaries and exports, no review tables needed, nothing changed
    conn = connect(old, readonly=True)
    agents = {r["agent"]: r["calls"] for r in summary(conn, "agent")}
    assert agents == {"A1": 2, "A2": 2}
    rules = {r["rule"]: r for r in summary(conn, "rule")}
    assert rules["confirm_need"]["failed"] == 2 and "precision" not in rules["confirm_need"]
    export(conn, "jsonl", str(tmp_path / "v3.jsonl"))
    conn.close()
    lines = [json.loads(x) for x in (tmp_path / "v3.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["review"] for d in lines] == [None] * 4
    assert contents(old) == before
    # a writer upgrades it: the review tables, every call as it was
    connect(old).close()
    after = contents(old)
    assert after["version"] == str(store.SCHEMA_VERSION)
    assert set(store.REVIEW_TABLES) <= after["tables"]
    for key in ("calls", "findings", "utterances", "regions", "metrics", "scores", "findings_rows"):
        assert after[key] == before[key], key
    triggers = {r[0] for r in sql(str(old), "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"trail_no_update", "trail_no_delete"} <= triggers
    new = tmp_path / "new.sqlite"
    connect(new).close()
    schema = "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY 1, 2"
    assert sql(str(old), schema) == sql(str(new), schema)
    # and the workbench runs on it
    with_db(str(old), lambda c: accounts.add(c, "rev9", "reviewer", PASSWORD))
    rev = client(app_of(str(old)), "rev9")
    assert set(re.findall(r'data-sha="(\w+)"', rev.get("/calls").text)) == {DEMO, BAD, MONO, RING}
    review(rev, RING, "interruption", "overturned", "x")
    assert stored_reviewed(str(old), RING) == RING_SCORE + 5


# === 11. re-scoring keeps the reviews ==========================================================
@pytest.mark.slow
def test_rescore_keeps_reviews_and_recomputes_the_reviewed_score(db: str, tmp_path: Path) -> None:
    rev = client(app_of(db), "rev1")
    review(rev, RING, "interruption", "overturned", "客户先打断")
    review(rev, RING, "confirm_need", "confirmed")
    (old_version,) = sql(db, "SELECT rules_version FROM calls WHERE sha256 = ?", RING)[0]
    pack = tmp_path / "center.yaml"
    pack.write_text("version: center-1\nrules:\n  - id: confirm_need\n    deduction: 4\n",
                    encoding="utf-8")
    assert rescore(db, str(pack)) == 4
    assert sql(db, "SELECT rule, state, rules_version FROM reviews ORDER BY id") == [
        ("interruption", "overturned", old_version), ("confirm_need", "confirmed", old_version)]
    score, version, result = sql(db, "SELECT score, rules_version, result_json FROM calls "
                                     "WHERE sha256 = ?", RING)[0]
    assert version != old_version
    findings = {f["rule"]: f for f in json.loads(result)["findings"]}
    assert findings["confirm_need"]["deduction"] == 4.0  # the new pack judged it
    assert findings["interruption"]["passed"] is False
    expected = min(100.0, score + findings["interruption"]["deduction"])
    assert stored_reviewed(db, RING) == expected
    assert reviewed_score(read_result(result), {"interruption": "overturned", "confirm_need": "confirmed"},
                          [], load(str(pack))).score == expected
    page = client(app_of(db, rules=str(pack)), "rev1").get(f"/calls/{RING}").text
    assert reviewed_on_page(page) == expected
    for rule in ("interruption", "confirm_need"):
        block = rv(page, rule)
        assert '<span class="old">' in block and old_version in block
    # export marks a state given under another rules version
    out = tmp_path / "x.csv"
    assert main(["export", "--db", db, "--format", "csv", "--out", str(out)]) == 0
    row = next(r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")))
               if r["call_id"] == "ringback_call")
    assert row["reviewed_findings"] == "confirm_need:confirmed* interruption:overturned*"
    # a review under the new version: no marker
    rev2 = client(app_of(db, rules=str(pack)), "rev2")
    review(rev2, RING, "confirm_understood", "confirmed")
    assert '<span class="old">' not in rv(rev2.get(f"/calls/{RING}").text, "confirm_understood")


# === 12. the command line ======================================================================
def test_cli_users(db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long password\n"))
    assert main(["users", "add", "qa", "--role", "reviewer", "--db", db, "--password-stdin"]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("another password\n"))
    assert main(["users", "add", "zhang", "--role", "agent", "--db", db, "--password-stdin"]) == 0
    assert "zhang: agent" in capsys.readouterr().out
    assert sql(db, "SELECT role, agent_id FROM users WHERE name IN ('qa', 'zhang') ORDER BY name") == [
        ("reviewer", None), ("agent", "zhang")]
    assert with_db(db, lambda c: accounts.authenticate(c, "qa", "a long password")) is not None
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["users", "add", "li", "--role", "reviewer", "--db", db, "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "8" in err and err.startswith("error:")
    assert sql(db, "SELECT COUNT(*) FROM users WHERE name = 'li'") == [(0,)]
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long password\n"))
    assert main(["users", "add", "has space", "--role", "reviewer", "--db", db, "--password-stdin"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["users", "disable", "qa", "--db", db]) == 0
    assert main(["users", "disable", "nobody", "--db", db]) == 2
    capsys.readouterr()
    assert main(["users", "list", "--db", db]) == 0
    listed = dict(line.split("\t", 1) for line in capsys.readouterr().out.splitlines())
    assert listed["qa"] == "reviewer\t\tdisabled" and listed["agent1"] == "agent\tA1"
    assert login(client(app_of(db)), "qa", "a long password").status_code == 401


def test_cli_sample_draws_once(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", "--db", db, "--date", DAY, "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["day"] == DAY and first["drawn_by"] == "(command line)" and first["calls"]
    assert {c["sha256"] for c in first["calls"]} <= {DEMO, BAD, MONO, RING}
    assert BAD in {c["sha256"] for c in first["calls"]}  # fatal: always in the queue
    assert main(["sample", "--db", db, "--date", DAY, "--format", "json", "--seed", "other"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second == first  # the same queue, the same drawn_at and seed
    assert main(["sample", "--db", db, "--date", DAY]) == 0
    table = capsys.readouterr().out
    assert f"drawn {first['drawn_at']}" in table and "drawn now" not in table
    assert count(db, "sample_plans") == 1
    # the workbench shows the same queue in the same order
    queue = client(app_of(db), "rev1").get(f"/queue?day={DAY}").text
    assert re.findall(r'<tr data-sha="(\w+)">', queue) == [c["sha256"] for c in first["calls"]]
    # a day without calls, a day that is not one: one line, exit 2
    for date in ("2026-12-01", "2026-13-01"):
        assert main(["sample", "--db", db, "--date", date, "--format", "json"]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1 and date in captured.err
    assert count(db, "sample_plans") == 1


def test_queue_drawn_in_the_workbench(db: str) -> None:
    rev = client(app_of(db), "rev1")
    assert 'id="draw"' in rev.get(f"/queue?day={DAY}").text
    assert post(rev, "/queue", day=DAY).status_code == 302
    page = rev.get(f"/queue?day={DAY}").text
    assert 'id="queue"' in page and "rev1" in page
    shas = re.findall(r'<tr data-sha="(\w+)">', page)
    post(rev, "/queue", day=DAY)  # again: the same queue
    assert re.findall(r'<tr data-sha="(\w+)">', rev.get(f"/queue?day={DAY}").text) == shas
    assert flashed_errors(follow(rev, post(rev, "/queue", day="2026-12-01")))
    assert count(db, "sample_plans") == 1


def test_cli_export_has_the_reviews(db: str, tmp_path: Path) -> None:
    app = app_of(db)
    rev, agent = client(app, "rev1"), client(app, "agent2")
    review(rev, RING, "interruption", "overturned", "客户先打断")
    post(rev, f"/calls/{RING}/missed", rule="greeting", start="0:03", comment="没有问候")
    post(rev, f"/calls/{RING}/note", note="备注")
    post(agent, f"/calls/{RING}/appeal", rule="confirm_need", comment="我确认过")
    reviewed = RING_SCORE + 5 - 10
    assert stored_reviewed(db, RING) == reviewed
    out = tmp_path / "calls.csv"
    assert main(["export", "--db", db, "--format", "csv", "--out", str(out)]) == 0
    rows = {r["call_id"]: r for r in csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig")))}
    ring = rows["ringback_call"]
    assert (ring["reviewed_score"], ring["reviewed_passed"]) == (str(reviewed), "1")
    assert ring["reviewed_findings"] == "interruption:overturned"
    assert ring["missed_findings"] == "greeting" and ring["open_appeals"] == "1"
    for name in ("demo_call", "bad_call", "mono_call"):
        assert [rows[name][k] for k in ("reviewed_score", "reviewed_findings", "missed_findings",
                                        "open_appeals")] == ["", "", "", ""], name
    out = tmp_path / "calls.jsonl"
    assert main(["export", "--db", db, "--format", "jsonl", "--out", str(out)]) == 0
    lines = {d["call_id"]: d for d in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    decided = lines["ringback_call"]["review"]
    assert decided["reviewed"]["score"] == reviewed
    assert decided["findings"]["interruption"]["state"] == "overturned"
    assert decided["findings"]["interruption"]["reason"] == "客户先打断"
    assert [m["rule"] for m in decided["missed"]] == ["greeting"]
    assert [n["note"] for n in decided["notes"]] == ["备注"]
    assert [(a["rule"], a["state"]) for a in decided["appeals"]] == [("confirm_need", "open")]
    assert lines["ringback_call"]["score"] == RING_SCORE  # the machine's verdict beside it
    assert all(lines[n]["review"] is None for n in ("demo_call", "bad_call", "mono_call"))
