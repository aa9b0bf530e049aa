"""The workbench's search (a box on every page, /search): moments of the calls a user may
see, each marked where it matched and linked to play from there; nothing typed reaches the
page unescaped."""

from __future__ import annotations

import re
from typing import Any

import pytest

from callaudit.results.search import parse
from tests.helpers.review import BAD, DEMO, MONO, XSS, app_of, client
from tests.review.test_browser import PASSWORDS, _login, server  # noqa: F401 - the fixture


def moments(html: str) -> list[tuple[str, float]]:
    rows = re.findall(r'<tr class="moment" data-sha="(\w+)" data-t="([0-9.]+)"', html)
    return [(s, float(t)) for s, t in rows]


def test_a_phrase_is_found_with_its_time_and_a_link_that_plays_from_there(db: str) -> None:
    c = client(app_of(db), "rev1")
    html = c.get("/search", query_string={"q": "密码"}).text
    assert moments(html) == [(BAD, 16.89)]
    assert "<mark>密码</mark>" in html
    assert f'href="/calls/{BAD}#t=16.89"' in html
    page = c.get(f"/calls/{BAD}").text  # the call page plays from #t= (workbench.js)
    assert 'data-t="16.89"' in page
    assert "#t=" in c.get("/workbench.js").text


def test_every_page_has_the_search_box(db: str) -> None:
    c = client(app_of(db), "agent1")
    for url in ("/calls", f"/calls/{DEMO}", "/appeals"):
        assert 'id="search-box"' in c.get(url).text, url
    assert 'name="csrf_token"' not in re.search(r'<form[^>]*id="search-box".*?</form>',
                                                 c.get("/calls").text).group(0)


def test_an_agent_finds_only_their_own_calls(db: str) -> None:
    rev, a1, a2 = (client(app_of(db), n) for n in ("rev1", "agent1", "agent2"))
    q = {"q": "~工号"}  # said in demo (A1), mono (A2), ringback (A2)
    assert {s for s, _ in moments(rev.get("/search", query_string=q).text)} >= {DEMO, MONO}
    assert {s for s, _ in moments(a1.get("/search", query_string=q).text)} == {DEMO}
    other = a1.get("/search", query_string={**q, "agent": "A2"}).text  # asked for, not given
    assert {s for s, _ in moments(other)} == {DEMO}
    assert moments(a2.get("/search", query_string={"q": "宫号"}).text) == []  # demo's only (A1)
    assert moments(rev.get("/search", query_string={"q": "宫号"}).text) == [(DEMO, 1.0)]
    nobody = client(app_of(db), "agent0").get("/search", query_string=q).text
    assert moments(nobody) == []


def test_pinyin_finds_the_homophone_and_marks_it(db: str) -> None:
    c = client(app_of(db), "rev1")
    html = c.get("/search", query_string={"q": "~工号", "who": "agent"}).text
    assert "<mark>宫号</mark>" in html and "<mark>公号</mark>" in html
    assert moments(c.get("/search", query_string={"q": "~工号", "who": "customer"}).text) == []


def test_nothing_typed_reaches_the_page_unescaped(db: str) -> None:
    c = client(app_of(db), "rev1")
    for q in (XSS, f'"{XSS}"', "~" + XSS, "(" + XSS):
        r = c.get("/search", query_string={"q": q, "who": XSS, "from": XSS})
        assert r.status_code == 200
        assert "<script>alert" not in r.text and "<img src=x" not in r.text


def test_a_malformed_query_is_one_line_on_the_page(db: str) -> None:
    c = client(app_of(db), "rev1")
    html = c.get("/search", query_string={"q": '"不知道'}).text
    assert 'id="bad-query"' in html and "not closed" in html
    assert 'id="moments"' not in html


def test_filters_narrow_the_moments(db: str) -> None:
    c = client(app_of(db), "rev1")
    one = c.get("/search", query_string={"q": "~工号", "agent": "A1"}).text
    assert {s for s, _ in moments(one)} == {DEMO}
    assert moments(c.get("/search", query_string={"q": "~工号", "from": "2027-01-01"}).text) == []
    assert parse("~工号").terms[0].sounds == ("gon", "hao")


@pytest.mark.slow
def test_the_search_box_plays_the_moment_in_chromium(server: dict[str, Any], browser: Any) -> None:  # noqa: F811
    base, call = server["base"], server["calls"]["bad_call"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{base}/login")
        _login(page, "rev", PASSWORDS["rev"])
        page.fill("#search-box input[name=q]", "密码告诉我")
        page.press("#search-box input[name=q]", "Enter")
        page.wait_for_load_state("load")
        row = page.locator("tr.moment")
        assert row.count() == 1 and row.locator("mark").inner_text() == "密码告诉我"
        row.locator("a.play").click()
        page.wait_for_load_state("load")
        assert page.url.endswith(f"/calls/{call['sha']}#t=16.89")
        page.wait_for_function("() => document.getElementById('audio').currentTime > 16.5", timeout=10000)
        assert page.locator('.line.now[data-t="16.89"]').count() == 1
    finally:
        page.close()


def test_the_page_uses_only_words_it_has(db: str) -> None:
    from jinja2 import StrictUndefined

    app = app_of(db)
    app.jinja_env.undefined = StrictUndefined  # a word the page does not have: an error
    for name in ("admin", "rev1", "agent1", "agent0"):
        c = client(app, name)
        for q in ({}, {"q": "~工号"}, {"q": "您好", "page": "2"}, {"q": '"x'}, {"q": "量子纠缠"}):
            r = c.get("/search", query_string=q)
            assert r.status_code == 200, (name, q)
    en = client(app_of(db, lang="en"), "rev1").get("/search", query_string={"q": "~工号"}).text
    assert "Search what was said" in en and "<mark>" in en
