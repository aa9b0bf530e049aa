"""The workbench's hot words page (issue 36): reviewers, supervisors and admins read what
callers talked about on a night (the planted complaint first), per business line, with the
calls behind each term; agents may not (the terms and calls are every agent's)."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from callaudit.cli.results import write_dashboard
from callaudit.results import reviews
from callaudit.results.store import connect
from callaudit.review import accounts
from tests.helpers import ROOT
from tests.helpers.hotwords import DAYS, LINES, NIGHT, PLANTED, said, store, week
from tests.helpers.review import PASSWORD, RAW, USERS, XSS, W, app_of, client

SHOTS = os.environ.get("CALLAUDIT_SCREENSHOTS")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("hot_page") / "week.sqlite"
    conn = connect(path)
    week(conn)
    for k in range(3):  # a business line named to break the page, on an earlier day
        store(conn, f"x{k}", DAYS[0], said("耳机坏了"), line=XSS)
    hashed = accounts.hash_password(PASSWORD)
    for name, role, agent in USERS:
        reviews.add_user(conn, name, role, hashed, agent, "test")
    conn.close()
    return str(path)


def _terms(html: str, table: str) -> list[str]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr data-term="([^"]+)"', body)


@pytest.mark.parametrize("name", ["admin", "super", "rev1"])
def test_staff_read_the_nights_hot_words(db: str, name: str) -> None:
    c = client(app_of(db), name)
    html = c.get("/hotwords").text
    assert f'href="/hotwords">{W["hot_words"]}<' in c.get("/calls").text  # in the nav
    assert _terms(html, "hot-7")[0] == PLANTED and _terms(html, "hot-30")[0] == PLANTED
    assert f"<option selected>{NIGHT}</option>" in html
    # the calls behind the term link to their pages, which open
    row = html.split(f'<tr data-term="{PLANTED}">', 1)[1].split("</tr>", 1)[0]
    links = re.findall(r'href="(/calls/[0-9a-f]{64})"', row)
    assert links, row
    assert c.get(links[0]).status_code == 200
    assert "<polyline" in row  # the trend line


def test_agents_may_not(db: str) -> None:
    c = client(app_of(db), "agent1")
    assert c.get("/hotwords").status_code == 403
    assert "/hotwords" not in c.get("/calls").text


def test_logged_out_is_sent_to_log_in(db: str) -> None:
    r = client(app_of(db)).get("/hotwords")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_a_line_and_an_earlier_night(db: str) -> None:
    c = client(app_of(db), "rev1")
    html = c.get("/hotwords", query_string={"line": LINES[1]}).text
    assert PLANTED not in _terms(html, "hot-7")  # the complaint was the first line's
    old = c.get("/hotwords", query_string={"day": DAYS[0]}).text
    assert f"<option selected>{DAYS[0]}</option>" in old
    assert c.get("/hotwords", query_string={"day": "<x>", "line": "nope"}).status_code == 200


def test_nothing_unescaped(db: str) -> None:
    c = client(app_of(db), "super")
    html = c.get("/hotwords", query_string={"day": DAYS[0]}).text
    assert "耳机" in html  # the line's own night: its calls are listed (a line of their own)
    for raw in RAW:
        assert raw not in html


def test_a_masking_site_over_a_plain_database_shows_no_terms(db: str) -> None:
    html = client(app_of(db, redact=True), "rev1").get("/hotwords").text
    assert 'id="hot-7"' not in html and "audit redact" in html


@pytest.mark.slow
def test_hot_words_in_chromium(db: str, browser: object, tmp_path: Path) -> None:
    """The dashboard (`audit report`) in Chromium: the planted complaint first, Chinese
    rendered, the trend lines drawn; its screenshot is docs/screenshots/hotwords.png
    (CALLAUDIT_SCREENSHOTS)."""
    out = tmp_path / "nightly.html"
    write_dashboard(db, str(out))
    page = browser.new_page(viewport={"width": 1366, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri())
    first = page.locator("#hot-7 tr[data-term]").first
    assert first.get_attribute("data-term") == PLANTED
    assert PLANTED in first.inner_text()
    assert page.locator("#hot-7 svg.spark polyline").count() >= 1
    box = page.locator("#hot-7 svg.spark").first.bounding_box()
    assert box and box["width"] > 50
    assert not errors
    if SHOTS:
        folder = Path(SHOTS) if Path(SHOTS).is_absolute() else ROOT / SHOTS
        folder.mkdir(parents=True, exist_ok=True)
        section = page.locator("#hot-words")
        section.screenshot(path=str(folder / "hotwords.png"))
        assert (folder / "hotwords.png").stat().st_size < 300_000
    page.close()


@pytest.mark.slow
def test_the_workbench_page_in_chromium(db: str, browser: object) -> None:
    """/hotwords in Chromium under the workbench's CSP: a reviewer logs in, opens 热词 from
    the nav, picks a line, and follows a call behind the complaint to its page."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app_of(db, csrf=True), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    page = browser.new_page(viewport={"width": 1366, "height": 900})  # type: ignore[attr-defined]
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error"  # a CSP refusal
            and not m.location.get("url", "").endswith("/favicon.ico") else None)
    try:
        page.goto(f"{base}/login")
        page.fill("#login input[name=name]", "rev1")
        page.fill("#login input[name=password]", PASSWORD)
        page.click("#login button[type=submit]")
        page.wait_for_load_state("load")
        page.click(f"#nav a:has-text('{W['hot_words']}')")
        page.wait_for_load_state("load")
        assert page.locator("#hot-7 tr[data-term]").first.get_attribute("data-term") == PLANTED
        if SHOTS:
            folder = Path(SHOTS) if Path(SHOTS).is_absolute() else ROOT / SHOTS
            page.screenshot(path=str(folder / "hotwords_workbench.png"))
            assert (folder / "hotwords_workbench.png").stat().st_size < 300_000
        page.select_option("#hot-filters select[name=line]", LINES[1])
        page.click("#hot-filters button")
        page.wait_for_load_state("load")
        assert PLANTED not in page.locator("#hot-7").inner_text()
        page.select_option("#hot-filters select[name=line]", "")
        page.click("#hot-filters button")
        page.wait_for_load_state("load")
        assert not problems, problems  # nothing the CSP refused, no script error
        page.locator(f'#hot-7 tr[data-term="{PLANTED}"] td.calls-behind a').first.click()
        page.wait_for_load_state("load")
        assert "/calls/" in page.url  # (its recording is not there: the page says so)
    finally:
        page.close()
        server.shutdown()
        thread.join(timeout=10)
