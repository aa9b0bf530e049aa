"""Every page of the review workbench as each role sees it, and what the pages say of a call's
state (issue 34): no Python object or missing word leaks onto a page, a call held by an open
calibration session says so and offers no verdict, the calibration picker offers only the calls
it will take and names any it refuses, a missed fatal finding fails the call as fatal."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jinja2 import Undefined, UndefinedError

from callaudit.results import reviews
from callaudit.review.words import WORDS
from callaudit.strings import LABELS
from tests.helpers.review import (
    BAD,
    DAY,
    DEMO,
    MONO,
    RING,
    RING_SCORE,
    W,
    app_of,
    client,
    count,
    flashed_errors,
    follow,
    new_calibration,
    post,
    review,
    reviewed_on_page,
    rv,
    sha,
    stored_reviewed,
    with_db,
)

L = LABELS["zh"]
# what a page must never show: a Python object or method, a missing value printed as text
LEAKS = re.compile(r"built-in method|bound method|<function |object at 0x|Undefined|\bNone\b")
TABLES = [*WORDS.values(), *LABELS.values()]


class _MissingWord(Undefined):
    """A word a page asks its W or L table for and the table does not have: an error (Jinja
    would print nothing); other missing values (optional fields of a result) print nothing."""

    def __str__(self) -> str:
        if any(self._undefined_obj is t for t in TABLES):
            raise UndefinedError(f"no word {self._undefined_name!r}")
        return ""


def test_no_word_is_named_like_a_method_of_dict() -> None:
    # a template reads W.items as the dict's method, not as the word "items"
    methods = {n for n in dir(dict) if not n.startswith("_")}
    for lang, words in WORDS.items():
        assert not set(words) & methods, lang
    for lang, labels in LABELS.items():
        assert not set(labels) & methods, lang


def _busy_day(db: str) -> dict[str, Any]:
    """A day with something on every page: a queue, reviews, a missed finding, a note, an open
    and a decided appeal, a closed calibration session with agreement and an open one."""
    app = app_of(db)
    sup, r1, r2 = (client(app, n) for n in ("super", "rev1", "rev2"))
    a1, a2 = client(app, "agent1"), client(app, "agent2")
    closed = new_calibration(sup, "十一月校准", [DEMO, BAD])
    for who, state in ((r1, "confirmed"), (r2, "overturned")):
        review(who, BAD, "ask_secret", state, "校准", calibration=closed)
        review(who, BAD, "greeting", "confirmed", calibration=closed)
    assert post(sup, f"/calibration/{closed}/close").status_code == 302
    held = new_calibration(sup, "进行中", [MONO])
    post(r1, "/queue", day=DAY)
    review(r1, RING, "interruption", "overturned", "客户先打断")
    post(r1, f"/calls/{RING}/missed", rule="greeting", start="0:05", comment="没有问候")
    post(r1, f"/calls/{RING}/note", note="听过了")
    post(a2, f"/calls/{RING}/appeal", rule="confirm_need", comment="我确认过")
    post(a2, f"/calls/{RING}/appeal", rule="confirm_understood", comment="也确认过")
    (aid,) = with_db(db, lambda c: [a["id"] for a in reviews.appeals(c, sha256=RING)
                                    if a["rule"] == "confirm_need"])
    post(sup, f"/appeals/{aid}", decision="finding_upheld", reason="录音里没有确认")
    post(a1, f"/calls/{BAD}/appeal", rule="farewell", comment="说了再见")
    return {"app": app, "closed": closed, "held": held}


@pytest.mark.slow
def test_every_page_of_every_role_shows_no_python(db: str) -> None:
    world = _busy_day(db)
    app = world["app"]
    app.jinja_env.undefined = _MissingWord  # a word the page does not have: an error
    closed, held = world["closed"], world["held"]
    calls = [DEMO, BAD, MONO, RING]
    staff = ["/", "/queue", f"/queue?day={DAY}", "/queue?day=2000-01-01", "/calls",
             f"/calls?day={DAY}", "/appeals", "/calibration", f"/calibration?day={DAY}",
             f"/calibration/{closed}", f"/calibration/{held}", "/rules",
             f"/calls/{DEMO}?calibration={closed}", f"/calls/{MONO}?calibration={held}",
             f"/calls/{sha('missing')}", *(f"/calls/{h}" for h in calls)]
    agent = ["/", "/calls", "/appeals", f"/calls/{DEMO}", f"/calls/{BAD}", "/queue",
             f"/calls/{RING}"]
    seen = 0
    for name, urls in (("admin", staff), ("super", staff), ("rev1", staff), ("rev2", staff),
                       ("agent1", agent), ("agent2", ["/calls", "/appeals", f"/calls/{RING}"])):
        c = client(app, name)
        for url in urls:
            r = c.get(url, follow_redirects=True)
            assert r.status_code in (200, 403, 404), (name, url, r.status_code)
            m = LEAKS.search(r.text)
            assert m is None, (name, url, r.text[max(0, m.start() - 200):m.end() + 100])
            seen += r.status_code == 200
    anonymous = client(app)
    for url in ("/login", "/login?next=/calls"):
        assert LEAKS.search(anonymous.get(url).text) is None, url
    assert seen > 60
    # the headings that showed `<built-in method items of dict object at 0x…>`
    sup = client(app, "super")
    for url, table in (("/calibration", "sessions"), (f"/calibration/{closed}", "agreement")):
        html = sup.get(url).text
        heading = re.search(rf'<table id="{table}"><tr>(.*?)</tr>', html, re.S)
        assert heading, url
        assert re.findall(r"<th>([^<]*)</th>", heading.group(1))[1] == WORDS["zh"]["call_count"]


def test_a_call_held_by_an_open_calibration_offers_no_verdict(db: str) -> None:
    app = app_of(db)
    sup, r1 = client(app, "super"), client(app, "rev1")
    page = r1.get(f"/calls/{RING}").text
    assert re.search(r'<button name="state" value="confirmed" class="st-confirmed">', page)
    cal = new_calibration(sup, "十一月校准", [RING])
    for who in (r1, sup):
        page = who.get(f"/calls/{RING}").text
        for rule in ("interruption", "confirm_need", "confirm_understood"):
            block = rv(page, rule)
            buttons = re.findall(r"<button [^>]*>", block)
            assert len(buttons) == 3, rule
            assert all(" disabled" in b for b in buttons), buttons
            assert re.search(r"<input [^>]*name=\"reason\"[^>]*disabled", block), block
            # why, and which session holds it (a link to it)
            assert W["in_calibration"] in block
            assert f'href="/calibration/{cal}"' in block and "十一月校准" in block
        banner = re.search(r'<div class="banner warn" id="in-calibration">(.*?)</div>', page, re.S)
        assert banner and "十一月校准" in banner.group(1) and f'href="/calibration/{cal}"' in banner.group(1)
    # in the session itself the buttons work
    blind = r1.get(f"/calls/{RING}?calibration={cal}").text
    assert not re.search(r"<button [^>]*disabled", rv(blind, "interruption"))
    assert W["in_calibration"] not in rv(blind, "interruption")
    # and a refusal still names the session
    page = follow(r1, review(r1, RING, "interruption", "confirmed"))
    assert any("十一月校准" in e for e in flashed_errors(page))
    # closed: the buttons are back
    post(sup, f"/calibration/{cal}/close")
    page = r1.get(f"/calls/{RING}").text
    assert not re.search(r"<button [^>]*disabled", rv(page, "interruption"))
    assert 'id="in-calibration"' not in page


def _offered(html: str) -> set[str]:
    return set(re.findall(r'<input type="checkbox" name="call" value="(\w+)"', html))


def test_the_calibration_picker_offers_only_what_it_takes(db: str) -> None:
    app = app_of(db)
    sup, r1, a2 = client(app, "super"), client(app, "rev1"), client(app, "agent2")
    assert _offered(sup.get(f"/calibration?day={DAY}").text) == {DEMO, BAD, MONO, RING}
    review(r1, BAD, "ask_secret", "confirmed")  # the fatal call, reviewed as the queue asks
    post(r1, f"/calls/{MONO}/missed", rule="greeting", comment="没有问候")
    post(a2, f"/calls/{RING}/appeal", rule="confirm_need", comment="我确认过")
    (aid,) = with_db(db, lambda c: [a["id"] for a in reviews.appeals(c, sha256=RING)])
    post(sup, f"/appeals/{aid}", decision="finding_upheld", reason="没有确认")
    assert _offered(sup.get(f"/calibration?day={DAY}").text) == {DEMO}
    new_calibration(sup, "进行中", [DEMO])
    assert _offered(sup.get(f"/calibration?day={DAY}").text) == set()
    # a refusal (a stale form, say) names each call refused and why
    page = follow(sup, post(sup, "/calibration", name="k", call=[BAD, MONO, RING, DEMO]))
    assert count(db, "calibrations") == 1
    (error,) = flashed_errors(page)
    for call_id in ("bad_call", "mono_call", "ringback_call", "demo_call"):
        assert call_id in error, error
    assert W["already_reviewed"] in error and "进行中" in error
    assert re.search(r"demo_call[^；]*进行中", error), error
    assert not re.search(r"demo_call[^；]*" + re.escape(W["already_reviewed"]), error), error
    assert not re.search(r"[:：]\s*\d+\s*$", error), error  # not a count


def test_a_missed_fatal_finding_fails_the_call_as_fatal(db: str) -> None:
    rev = client(app_of(db), "rev1")
    page = rev.get(f"/calls/{RING}").text
    assert 'id="fatal"' not in page
    row = re.search(r'<tr class="rule-row" data-rule="ask_secret".*?</tr>', page, re.S)
    assert row and f'<span class="badge pass">{L["pass"]}</span>' in row.group(0)
    page = follow(rev, post(rev, f"/calls/{RING}/missed", rule="ask_secret", start="0:05",
                            comment="索要了验证码"))
    assert reviewed_on_page(page) == 0.0 == stored_reviewed(db, RING)
    # the fatal banner, as for a fatal failure the machine found, naming the rule
    banner = re.search(r'<div class="banner" id="fatal">(.*?)</div>', page, re.S)
    assert banner, "no fatal banner"
    assert L["fatal"] in banner.group(1) and "向客户索要密码或验证码" in banner.group(1)
    # the reviewed verdict: failed
    reviewed = re.search(r'<div id="reviewed">.*?</div>', page, re.S)
    assert reviewed and L["failed"] in page[reviewed.start():reviewed.end() + 200]
    assert f'<span class="badge pass">{L["passed"]}</span>' not in page[reviewed.start():reviewed.end() + 200]
    # the scorecard row: failed after review, not 通过
    row = re.search(r'<tr class="rule-row" data-rule="ask_secret".*?</tr>', page, re.S)
    assert row, "no row"
    assert f'<span class="badge pass">{L["pass"]}</span>' not in row.group(0)
    assert 'class="badge fail"' in row.group(0) and W["missed_n"] in row.group(0)
    # the machine's score and verdict stay as they were
    assert re.search(rf'id="score">{RING_SCORE}<', page)
    # a fatal finding the machine found, overturned: no fatal banner for the reviewed call
    page = follow(rev, review(rev, BAD, "ask_secret", "overturned", "客户自己说的"))
    assert 'class="banner" id="fatal"' not in page
    assert 'id="fatal-overturned"' in page


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_words_of_both_languages_match(lang: str) -> None:
    assert set(WORDS[lang]) == set(WORDS["zh"])
