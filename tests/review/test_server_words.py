"""The Chinese workbench speaks Chinese (issue 34): no role, action, state or method codes, no
`(command line)`, no JSON, no ISO `T` timestamps, no doubled headings, every message a user
is shown in words.py; the agent of an appeal named by their agent id."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

from callaudit.results import reviews
from callaudit.review import accounts
from callaudit.review.queue import queue_of_day
from callaudit.review.words import WORDS
from callaudit.rules.pack import load
from tests.helpers.review import (
    BAD,
    DAY,
    PASSWORD,
    RING,
    app_of,
    client,
    flashed_errors,
    follow,
    post,
    review,
    sha,
    sql,
    with_db,
)

# accounts named in Chinese: any of these English words on a page is a code, not a name
STAFF = {"张管理": "admin", "王主管": "supervisor", "李复核": "reviewer", "赵复核": "reviewer"}
AGENT = "坐席二"  # agent id A2 (RING is A2's)
OFFENDING = [r"command line", r"\bcohen\b", r"\bfleiss\b", r"\d{4}-\d\d-\d\dT\d\d", r"\bT\d\d:",
             r"\badmin\b", r"\bsupervisor\b", r"\breviewer\b", r"\bagent\b", r'\{"', r"\{'",
             # the trail's action codes, states and the keys of what it stored
             r"\b(review|calibration_review|missed_finding|note|appeal|appeal_decision)\b",
             r"\b(queue_drawn|queue_supplement|calibration_add|calibration_close|user_add)\b",
             r"\b(confirmed|overturned|not_applicable|finding_upheld|finding_overturned)\b",
             r"\b(unreviewed|lowest|per_agent|per_agent_month|state|reason|comment|start)\b"]


def visible(page: str) -> str:
    """What a person reads on a page: no scripts, styles or tags."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


def codes_in(text: str) -> list[str]:
    return [m.group(0) for p in OFFENDING for m in re.finditer(p, text)]


def doubled_headings(page: str) -> list[str]:
    out = []
    for h in re.findall(r"<h[1-3][^>]*>(.*?)</h[1-3]>", page, re.S):
        text = visible(h)
        for inner in re.findall(r"[(（]([^)）]+)[)）]", text):
            if inner.strip() and inner.strip() in re.sub(r"[(（][^)）]*[)）]", "", text):
                out.append(text.strip())
    return out


def _world(c: Any) -> int:
    """Everything the pages show: a queue drawn on the command line, a closed calibration
    with agreement, reviews, a missed finding, a note, appeals open and decided."""
    hashed = accounts.hash_password(PASSWORD)
    for name, role in STAFF.items():
        reviews.add_user(c, name, role, hashed, None, "(command line)")
    reviews.add_user(c, AGENT, "agent", hashed, "A2", "(command line)")
    pack = load(None)
    queue_of_day(c, DAY, pack, "(command line)")
    cal = reviews.add_calibration(c, "一月校准", [RING], "王主管")
    for who, state in (("李复核", "confirmed"), ("赵复核", "overturned")):
        for rule in ("interruption", "confirm_need"):
            reviews.add_review(c, RING, rule, state, "理由", who, None, cal)
    reviews.close_calibration(c, cal, "王主管")
    reviews.add_review(c, RING, "interruption", "confirmed", "", "李复核", None)
    reviews.add_review(c, RING, "interruption", "overturned", "没有打断", "李复核", None)
    reviews.add_missed(c, RING, "greeting", 5.0, "没有问候", "李复核", None)
    reviews.add_note(c, RING, "李复核", "客户情绪激动")
    aid = reviews.add_appeal(c, RING, "confirm_need", AGENT, "我确认过需求")
    reviews.decide_appeal(c, aid, "finding_overturned", "录音里确认了", "王主管", "unreviewed")
    reviews.add_appeal(c, RING, "confirm_understood", AGENT, "我也确认了")
    for h in (RING,):
        reviews.refresh_reviewed(c, h, pack)
    return cal


def test_the_chinese_interface_shows_no_codes(db: str) -> None:
    cal = with_db(db, _world)
    app = app_of(db)
    pages = ["/", f"/queue?day={DAY}", "/calls", f"/calls?day={DAY}", f"/calls/{RING}",
             "/appeals", "/calibration", f"/calibration?day={DAY}", f"/calibration/{cal}",
             "/rules", f"/calls/{sha('missing')}"]
    for name in [*STAFF, AGENT]:
        c = client(app, name)
        for url in pages:
            r = c.get(url, follow_redirects=True)
            assert r.status_code in (200, 403, 404), (name, url, r.status_code)
            text = visible(r.text)
            assert not codes_in(text), (name, url, codes_in(text))
            assert not doubled_headings(r.text), (name, url, doubled_headings(r.text))
        assert WORDS["zh"]["role_" + (STAFF.get(name) or "agent")] in visible(c.get("/calls").text)
    # what the pages show instead: a queue's settings, the method, the trail, the times
    W = WORDS["zh"]
    sup = client(app, "王主管")
    queue = visible(sup.get(f"/queue?day={DAY}").text)
    assert W["command_line"] in queue and W["plan_lowest"] in queue
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d(?!:)", queue)
    assert W["method_cohen"] in visible(sup.get(f"/calibration/{cal}").text)
    call = visible(sup.get(f"/calls/{RING}").text)
    assert W["act_review"] in call and W["act_appeal_decision"] in call and "没有打断" in call
    # the agent of an appeal: their agent id, not their log-in name
    rows = re.findall(r'<tr data-appeal="\d+">(.*?)</tr>', sup.get("/appeals").text, re.S)
    assert rows and all(re.findall(r"<td>(.*?)</td>", r, re.S)[2] == "A2" for r in rows)
    assert AGENT not in "".join(rows)


def test_every_refusal_is_said_in_chinese(db: str) -> None:
    with_db(db, _world)
    app = app_of(db)
    rev, sup, agent = client(app, "李复核"), client(app, "王主管"), client(app, AGENT)
    (decided,) = sql(db, "SELECT id FROM appeals WHERE state != 'open'")[0]
    (open_,) = sql(db, "SELECT id FROM appeals WHERE state = 'open'")[0]
    (cal,) = sql(db, "SELECT id FROM calibrations")[0]
    typed = ["greeting", "no_such_rule", "interruption", "confirm_need", "maybe", "a:b", "99:00",
             "bad", "2026-12-01", "ringback_call", "bad_call", "-3"]
    attempts = [
        (rev, lambda: review(rev, RING, "greeting", "confirmed")),
        (rev, lambda: review(rev, RING, "no_such_rule", "confirmed")),
        (rev, lambda: review(rev, RING, "interruption", "maybe", "x")),
        (rev, lambda: review(rev, RING, "interruption", "")),
        (rev, lambda: review(rev, RING, "interruption", "overturned", "")),
        (rev, lambda: post(rev, f"/calls/{RING}/missed", rule="greeting", start="a:b", comment="x")),
        (rev, lambda: post(rev, f"/calls/{RING}/missed", rule="greeting", start="-3", comment="x")),
        (rev, lambda: post(rev, f"/calls/{RING}/missed", rule="greeting", start="99:00", comment="x")),
        (rev, lambda: post(rev, f"/calls/{RING}/missed", rule="no_such_rule", start="", comment="x")),
        (rev, lambda: post(rev, f"/calls/{RING}/missed", rule="greeting", start="", comment=" ")),
        (rev, lambda: post(rev, f"/calls/{RING}/note", note="")),
        (rev, lambda: post(rev, "/queue", day="2026-12-01")),
        (rev, lambda: post(rev, "/queue", day="bad")),
        (agent, lambda: post(agent, f"/calls/{RING}/appeal", rule="no_such_rule", comment="x")),
        (agent, lambda: post(agent, f"/calls/{RING}/appeal", rule="greeting", comment="")),
        (sup, lambda: post(sup, f"/appeals/{open_}", decision="maybe", reason="x")),
        (sup, lambda: post(sup, f"/appeals/{open_}", decision="finding_upheld", reason="")),
        (sup, lambda: post(sup, f"/appeals/{decided}", decision="finding_upheld", reason="x")),
        (sup, lambda: post(sup, "/calibration", name="k", call=[sha("missing")])),
        (sup, lambda: post(sup, "/calibration", name="", call=[BAD])),
        (sup, lambda: post(sup, "/calibration", name="k", call=[RING])),
        (sup, lambda: post(sup, f"/calibration/{cal}/close")),
    ]
    for i, (who, send) in enumerate(attempts):  # one at a time: flashes would pile up
        errors = [html_lib.unescape(e) for e in flashed_errors(follow(who, send()))]
        assert errors, i
        for e in errors:
            rest = e
            for word in typed:
                rest = rest.replace(word, "")
            assert not re.search(r"[A-Za-z]{2,}", rest), (i, e)
    # a form sent without its CSRF token: said in Chinese too
    strict = client(app_of(db, csrf=True), "李复核")
    r = strict.post(f"/calls/{RING}/note", data={"note": "x"})
    assert r.status_code == 400 and not re.search(r"[A-Za-z]{2,}", visible(r.text).replace("callaudit", ""))
