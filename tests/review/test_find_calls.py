"""Find calls (issue 34): the calls list's filters, search, sort and pages of 50, over real
HTTP requests (Flask's test client); an agent sees only their own calls whatever is asked;
the queue's state per call and the day's progress."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from markupsafe import escape

from callaudit.results import reviews, store
from callaudit.results.store import CallMeta
from tests.helpers import record_of, stored_result
from tests.helpers.review import (
    BAD,
    DAY,
    DEMO,
    MONO,
    RAW,
    RING,
    XSS,
    W,
    app_of,
    client,
    flashed_errors,
    post,
    review,
    sha,
    with_db,
)

OTHER_DAY = "2026-11-28"


def put(conn: sqlite3.Connection, name: str, key: str, agent: str | None, day: str = DAY,
        call_id: str | None = None, line: str | None = None, outcome: str | None = None) -> str:
    """Stored audit `name` again as call `key` (file /rec/KEY.wav), with a business line."""
    d = stored_result(name)
    if outcome:
        d["result"]["outcome"] = outcome
    h = sha(key)
    store.write_result(conn, CallMeta(file=f"/rec/{key}.wav", sha256=h, call_id=call_id or key,
                                      agent_id=agent, day=day, line=line), record_of(d))
    return h


def listed(c: Any, url: str) -> list[str]:
    page = c.get(url)
    assert page.status_code == 200, (url, page.status_code)
    table = re.search(r'<table id="calls">(.*?)</table>', page.text, re.S)
    assert table, url
    return re.findall(r'<tr data-sha="(\w+)"', table.group(1))


def found(c: Any, url: str) -> set[str]:
    return set(listed(c, url))


def test_each_filter_narrows_the_list(db: str) -> None:
    late = with_db(db, lambda c: put(c, "ringback_call", "late", "A3", OTHER_DAY, "LATE-7", "贷款"))
    silent = with_db(db, lambda c: put(c, "demo_call", "silent", "A3", DAY, "SILENT", "理财",
                                       outcome="no_speech"))
    app = app_of(db)
    sup, rev1, rev2 = client(app, "super"), client(app, "rev1"), client(app, "rev2")
    every = {DEMO, BAD, MONO, RING, late}
    assert found(sup, "/calls") == every  # no speech: not a call, only when asked for
    assert found(sup, f"/calls?from={OTHER_DAY}&to=2026-11-29") == {late}
    assert found(sup, f"/calls?from={DAY}") == every - {late}
    assert found(sup, f"/calls?to={OTHER_DAY}") == {late}
    assert found(sup, f"/calls?day={OTHER_DAY}") == {late}  # the older single-day link
    assert found(sup, "/calls?agent=A3") == {late}
    assert found(sup, "/calls?agent=A1") == {DEMO, BAD}
    assert found(sup, "/calls?line=贷款") == {late}
    assert found(sup, "/calls?score_min=50&score_max=95") == {RING, late}
    assert found(sup, "/calls?score_max=0") == {BAD}
    assert found(sup, "/calls?outcome=failed") == {BAD}
    assert found(sup, "/calls?outcome=fatal") == {BAD}
    assert found(sup, "/calls?outcome=no_speech") == {silent}
    assert found(sup, "/calls?outcome=not_connected") == set()
    assert found(sup, "/calls?rule=interruption") == {RING, late}
    assert found(sup, "/calls?rule=ask_secret") == {BAD}
    assert found(sup, "/calls?rule=interruption&agent=A2") == {RING}
    # review state and reviewer
    assert found(sup, "/calls?state=unreviewed") == every
    assert found(sup, "/calls?state=reviewed") == set()
    review(rev1, RING, "interruption", "confirmed")
    post(rev2, f"/calls/{DEMO}/missed", rule="greeting", start="0:05", comment="没有问候")
    with_db(db, lambda c: reviews.add_appeal(c, late, "interruption", "agent3", "没有打断"))
    assert found(sup, "/calls?state=reviewed") == {RING, DEMO}
    assert found(sup, "/calls?state=unreviewed") == {BAD, MONO, late}
    assert found(sup, "/calls?state=appealed") == {late}
    assert found(sup, "/calls?reviewer=rev1") == {RING}
    assert found(sup, "/calls?reviewer=rev2") == {DEMO}
    assert found(sup, "/calls?reviewer=gone") == set()
    assert found(sup, "/calls?rule=greeting") == {BAD, DEMO}  # failed, or added as missed
    # the verdict that stands: the machine's fatal call overturned is no longer fatal
    review(rev1, BAD, "ask_secret", "overturned", "客户自己说的")
    assert found(sup, "/calls?outcome=fatal") == set()
    page = sup.get("/calls").text
    for v in ("rev1", "rev2"):  # the reviewers offered are those who gave a verdict
        assert f'<option value="{v}"' in page
    assert '<option value="super"' not in page


def test_search_by_call_id_and_by_file(db: str) -> None:
    late = with_db(db, lambda c: put(c, "ringback_call", "late_one", "A1", OTHER_DAY, "LATE-7"))
    app = app_of(db)
    sup, a1 = client(app, "super"), client(app, "agent1")
    assert found(sup, "/calls?q=LATE-7") == {late}
    assert found(sup, "/calls?q=late-7") == {late}  # either case
    assert found(sup, "/calls?q=late_one.wav") == {late}  # the file's name
    assert found(sup, "/calls?q=bad_call") == {BAD}
    assert found(sup, "/calls?q=%") == set()  # typed as is: no wildcard
    assert found(sup, "/calls?q=e_o") == {late}  # "_" is a character, not any character
    assert found(sup, "/calls?q=samples/") == {DEMO, BAD, MONO, RING}  # staff: the whole path
    assert found(a1, "/calls?q=samples/") == set()  # an agent: the file's name only
    assert found(a1, "/calls?q=.wav") == {DEMO, BAD, late}
    assert found(sup, "/calls?q=nothing-like-it") == set()


def test_pages_of_50_with_the_total(db: str) -> None:
    def many(conn: sqlite3.Connection) -> None:
        for i in range(120):
            put(conn, "demo_call", f"p{i:03d}", "P", DAY, f"P{i:03d}")

    with_db(db, many)
    rev = client(app_of(db), "rev1")
    first = rev.get("/calls").text
    assert 'data-total="124"' in first and W["page_of"].format(1, 3, 124) in first
    assert 'rel="next"' in first and 'rel="prev"' not in first
    pages = [listed(rev, f"/calls?page={n}") for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [50, 50, 24]
    assert len({h for p in pages for h in p}) == 124  # every call once
    last = rev.get("/calls?page=3").text
    assert 'rel="prev"' in last and 'rel="next"' not in last
    assert listed(rev, "/calls?page=99") == pages[2]  # past the end: the last page
    # a filter is kept by the page links
    mine = rev.get("/calls?agent=P").text
    assert 'data-total="120"' in mine
    nxt = re.search(r'<a href="([^"]+)" rel="next"', mine)
    assert nxt and "agent=P" in nxt.group(1).replace("&amp;", "&")
    assert len(listed(rev, "/calls?agent=P&page=3")) == 20


def _scores(c: Any, url: str) -> list[float | None]:
    html = c.get(url).text
    table = re.search(r'<table id="calls">(.*?)</table>', html, re.S)
    assert table
    out: list[float | None] = []
    for tr in re.findall(r'<tr data-sha="\w+"[^>]*>(.*?)</tr>', table.group(1), re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        m = re.match(r"\s*([\d.]+)", cells[3])
        out.append(float(m.group(1)) if m else None)
    return out


def test_sort_by_a_column(db: str) -> None:
    with_db(db, lambda c: put(c, "ringback_call", "late", "A0", OTHER_DAY, "AAA"))
    app = app_of(db)
    rev = client(app, "rev1")
    up = _scores(rev, "/calls?sort=score&dir=asc")
    assert up == sorted(up) and up[0] == 0.0
    down = _scores(rev, "/calls?sort=score&dir=desc")
    assert down == sorted(down, reverse=True) and down[-1] == 0.0
    assert listed(rev, "/calls?sort=call")[0] == sha("late")  # AAA first
    assert listed(rev, "/calls?sort=agent&dir=desc")[-1] == sha("late")  # A0 last
    assert listed(rev, "/calls?sort=day")[0] == sha("late")  # the older day first
    review(rev, RING, "interruption", "overturned", "没有打断")
    assert listed(rev, "/calls?sort=reviewed&dir=desc")[0] == RING  # the unreviewed after
    assert listed(rev, "/calls?sort=reviews&dir=desc")[0] == RING
    # the column's link turns the order around; the page marks the column sorted
    page = rev.get("/calls?sort=score&dir=asc").text
    link = re.search(r'<a href="([^"]+)" data-sort="score">', page)
    assert link and "dir=desc" in link.group(1)
    assert 'aria-sort=ascending' in page


def test_an_agent_cannot_widen_the_filter(db: str) -> None:
    with_db(db, lambda c: put(c, "ringback_call", "late", "A2", OTHER_DAY, "LATE-7", "贷款"))
    review(client(app_of(db), "rev1"), RING, "interruption", "confirmed")
    app = app_of(db)
    a1, a0 = client(app, "agent1"), client(app, "agent0")
    for url in ("/calls", "/calls?agent=A2", "/calls?agent=", "/calls?reviewer=rev1",
                "/calls?q=ringback", "/calls?q=LATE", "/calls?line=贷款", f"/calls?from={OTHER_DAY}",
                "/calls?rule=interruption", "/calls?state=reviewed", "/calls?outcome=failed",
                "/calls?sort=agent&dir=desc", "/calls?agent=A2&page=2"):
        assert found(a1, url) <= {DEMO, BAD}, url
        assert found(a0, url) == set(), url
    assert found(a1, "/calls?agent=A2") == {DEMO, BAD}
    page = a1.get("/calls").text
    assert 'name="agent"' not in page and 'name="reviewer"' not in page
    assert "ringback_call" not in page and "/samples/" not in page  # nor where files are kept


def test_bad_parameters_are_one_flashed_message(db: str) -> None:
    rev = client(app_of(db), "rev1")
    url = ("/calls?from=2026-13-01&to=yesterday&score_min=abc&score_max=1e999&outcome=%3Cscript%3E"
           "&state=maybe&rule=no_such_rule&sort=id%3BDROP%20TABLE%20calls&dir=sideways&page=-1")
    r = rev.get(url)
    assert r.status_code == 200
    errors = flashed_errors(r.text)
    assert len(errors) == 1
    for key in ("day_from", "day_to", "score_min", "score_max", "outcome", "review_filter",
                "rule_failed", "sort_by", "page"):
        assert W[key] in errors[0], key
    assert found(rev, url) == {DEMO, BAD, MONO, RING}  # what was bad is left out
    assert "<script>" not in r.text
    # a range the wrong way round
    r = rev.get("/calls?score_min=90&score_max=10&from=2026-12-01&to=2026-11-01")
    assert len(flashed_errors(r.text)) == 1 and W["score_max"] in flashed_errors(r.text)[0]
    # typed text comes back escaped, in the form and the links
    r = rev.get("/calls", query_string={"q": XSS, "line": XSS, "agent": XSS, "reviewer": XSS})
    assert r.status_code == 200 and found(rev, "/calls?q=" + XSS) == set()
    for raw in RAW:
        assert raw not in r.text
    assert f'value="{escape(XSS)}"' in r.text


def test_the_form_keeps_the_chosen_values(db: str) -> None:
    rev = client(app_of(db), "rev1")
    page = rev.get(f"/calls?from={DAY}&to={DAY}&agent=A2&score_min=10&score_max=95.5"
                   "&outcome=failed&state=unreviewed&rule=interruption&q=ring&sort=score&dir=desc").text
    for snippet in (f'name="from" value="{DAY}"', f'name="to" value="{DAY}"',
                    "<option selected>A2</option>",
                    'name="score_min" min="0" max="100" step="any" style="width:5em" value="10"',
                    'value="95.5"', '<option value="failed" selected>',
                    '<option value="unreviewed" selected>', '<option value="interruption" selected>',
                    'name="q" value="ring"', 'name="sort" value="score"', 'name="dir" value="desc"'):
        assert snippet in page, snippet


def test_the_queue_shows_each_call_open_or_done_and_the_progress(db: str) -> None:
    app = app_of(db)
    rev, sup = client(app, "rev1"), client(app, "super")
    assert post(rev, "/queue", day=DAY).status_code == 302
    plan = with_db(db, lambda c: reviews.plan_of_day(c, DAY))
    shas = [i["sha256"] for i in plan["items"]]
    n = len(shas)
    assert RING in shas and BAD in shas

    def states() -> dict[str, str]:
        page = rev.get(f"/queue?day={DAY}").text
        return dict(re.findall(r'<tr data-sha="(\w+)">.*?data-state="(\w+)"', page, re.S))

    def progress() -> tuple[int, int]:
        page = rev.get(f"/queue?day={DAY}").text
        m = re.search(r'id="progress" data-done="(\d+)" data-total="(\d+)"', page)
        assert m and W["q_progress"].format(m.group(1), m.group(2)) in page
        return int(m.group(1)), int(m.group(2))

    assert set(states().values()) == {"open"} and progress() == (0, n)
    # RING: done once each of its failed findings has a verdict
    review(rev, RING, "interruption", "confirmed")
    review(rev, RING, "confirm_need", "overturned", "说了")
    assert states()[RING] == "open"
    review(rev, RING, "confirm_understood", "not_applicable")
    assert states()[RING] == "done" and progress() == (1, n)
    # a calibration review is not the queue's verdict
    cal_call = next((h for h in shas if h not in (RING, BAD)), None)
    clean = [h for h in shas if h in (DEMO, MONO)]
    if clean:  # a call the machine passed whole: done when a reviewer leaves a note
        post(rev, f"/calls/{clean[0]}/note", note="听过，没有问题")
        assert states()[clean[0]] == "done" and progress() == (2, n)
    assert cal_call is None or cal_call in clean or states()[cal_call] == "open"
    # BAD: an appeal decided counts as the finding's verdict; the rest must be reviewed
    failed = [f.rule for f in record_of(stored_result("bad_call")).findings
              if f.applicable and not f.passed]
    for rule in failed[1:]:
        review(rev, BAD, rule, "confirmed")
    assert states()[BAD] == "open"
    aid = with_db(db, lambda c: reviews.add_appeal(c, BAD, failed[0], "agent1", "不同意"))
    post(sup, f"/appeals/{aid}", decision="finding_upheld", reason="维持")
    assert states()[BAD] == "done"
    assert progress()[0] == (3 if clean else 2)
