"""The review workbench end to end: `audit users add` and `audit serve` as real processes, a
real browser (Debian's Chromium, driven by Playwright) over real HTTP. A reviewer draws the
queue and overturns findings, an agent appeals, a supervisor decides; every step is checked on
what the page shows. Stored audits (tests/data/results), no model."""

from __future__ import annotations

import hashlib
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from callaudit.results.store import CallMeta, connect, write_result
from callaudit.review.words import WORDS
from tests.helpers import ROOT, SAMPLES, record_of, stored_result
from tests.helpers.serve import add_users, serving

pytestmark = pytest.mark.slow  # `audit serve` and Chromium: not in `make test-fast`

DAY = "2026-11-30"
NAMES = ("demo_call", "bad_call", "mono_call", "ringback_call")
AGENT = {"demo_call": "A1", "bad_call": "A1", "mono_call": "A2", "ringback_call": "A2"}
PASSWORDS = {"lead": "lead-pass-1234", "rev": "rev-pass-1234", "a1": "agent-pass-1234"}
HOSTILE_NOTE = "<b>bold</b> & <script>window.__x=1</script>"
SCREENSHOT = ROOT / "test-artifacts" / "review.png"  # docs/review.png is a copy of one


def _failed(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["rule"]: f for f in result["findings"] if f["applicable"] and not f["passed"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A results database of the four stored audits, three accounts made by the CLI, and
    `audit serve` on a free port (always stopped at the end)."""
    tmp = tmp_path_factory.mktemp("review")
    db = tmp / "results.sqlite"
    conn = connect(db)
    calls: dict[str, dict[str, Any]] = {}
    for name in NAMES:
        r = stored_result(name)
        wav = SAMPLES / f"{name}.wav"
        sha = hashlib.sha256(wav.read_bytes()).hexdigest()
        write_result(conn, CallMeta(file=str(wav.resolve()), sha256=sha, call_id=name,
                                    agent_id=AGENT[name], day=DAY), record_of(r))
        calls[name] = {"sha": sha, "result": r["result"]}
    conn.close()
    add_users(db, [("lead", "supervisor", []), ("rev", "reviewer", []),
                   ("a1", "agent", ["--agent-id", "A1"])], PASSWORDS)
    with serving(db, tmp / "serve.log") as base:
        yield {"base": base, "db": db, "calls": calls}


def _login(page: Any, name: str, password: str) -> None:
    page.fill("#login input[name=name]", name)
    page.fill("#login input[name=password]", password)
    page.click("#login button[type=submit]")
    page.wait_for_load_state("load")


def _logout(page: Any) -> None:
    page.click("#logout")
    page.wait_for_load_state("load")
    assert urllib.parse.urlparse(page.url).path == "/login"
    assert page.locator("#login").is_visible()


def _number(page: Any, selector: str) -> float:
    return float(page.locator(selector).inner_text().strip())


def _review(page: Any, rule: str, state: str, reason: str) -> None:
    rv = page.locator(f'.rv[data-rule="{rule}"]')
    rv.locator("input[name=reason]").fill(reason)
    rv.locator(f"button[name=state][value={state}]").click()
    page.wait_for_load_state("load")


def test_review_story_in_chromium(server: dict[str, Any], browser: Any) -> None:
    base, calls = server["base"], server["calls"]
    bad = calls["bad_call"]
    bad_url = f"{base}/calls/{bad['sha']}"
    failed = _failed(bad["result"])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))

    # a. no session: the login page; a wrong password is refused, the right one goes on
    page.goto(f"{base}/queue")
    assert urllib.parse.urlparse(page.url).path == "/login"
    assert page.locator("#login").is_visible() and page.locator("#login-error").count() == 0
    _login(page, "rev", "not-the-password")
    assert page.locator("#login-error").is_visible()
    _login(page, "rev", PASSWORDS["rev"])
    assert urllib.parse.urlparse(page.url).path == "/queue"
    assert page.locator("#nav .me").inner_text().startswith("rev")

    # b. the day has no queue yet: draw it; the fatal call is in it, with its reason
    page.goto(f"{base}/queue?day={DAY}")
    assert page.locator("#queue").count() == 0
    page.click("#draw")
    page.wait_for_load_state("load")
    assert page.locator("#queue").is_visible() and page.locator("#plan").is_visible()
    row = page.locator(f'#queue tr[data-sha="{bad["sha"]}"]')
    assert row.count() == 1
    assert "致命违规" in row.inner_text()  # W.r_fatal
    assert "rev" in page.locator("#plan").inner_text()

    # c. overturn a failed rule, then the fatal one: the reviewed score beside the machine's
    row.locator("a").click()
    page.wait_for_load_state("load")
    assert urllib.parse.urlparse(page.url).path == f"/calls/{bad['sha']}"
    machine = _number(page, "#score")
    assert machine == bad["result"]["score"] == 0.0
    assert page.locator("#fatal").is_visible()
    assert page.locator("#reviewed-score").count() == 0  # nothing reviewed yet
    assert "greeting" in failed and failed["greeting"]["deduction"] > 0
    _review(page, "greeting", "overturned", "开头其实问候了，识别错了")
    assert page.locator('.rv[data-rule="greeting"] .state[data-state="overturned"]').count() == 1
    assert "开头其实问候了" in page.locator('.rv[data-rule="greeting"]').inner_text()
    first = _number(page, "#reviewed-score")  # the fatal finding still stands: 0
    assert first == pytest.approx(0.0, abs=0.05)
    _review(page, "ask_secret", "overturned", "客户自己说出了密码，坐席并没有索要")
    assert page.locator('.rv[data-rule="ask_secret"] .state[data-state="overturned"]').count() == 1
    overturned = {"greeting", "ask_secret"}
    expected = max(0.0, 100.0 - sum(f["deduction"] for r, f in failed.items() if r not in overturned))
    reviewed = _number(page, "#reviewed-score")
    assert reviewed == pytest.approx(expected, abs=0.05)
    assert _number(page, "#score") == machine  # the machine's score stays as it was

    # d. overturning needs a reason: a flash error, the finding stays unreviewed
    page.locator('.rv[data-rule="self_id"] button[name=state][value=overturned]').click()
    page.wait_for_load_state("load")
    assert page.locator(".flash.error").is_visible()
    assert "推翻需要填写原因" in page.locator(".flash.error").inner_text()
    assert page.locator('.rv[data-rule="self_id"] .state').count() == 0
    assert _number(page, "#reviewed-score") == pytest.approx(reviewed, abs=0.05)

    # e. a note with markup is shown as text and runs nothing
    page.fill("#note-form textarea[name=note]", HOSTILE_NOTE)
    page.locator("#note-form button").click()
    page.wait_for_load_state("load")
    assert HOSTILE_NOTE in page.locator("#notes").inner_text()
    assert "<b>bold</b>" in page.inner_text("body")
    assert page.locator("#notes .note b, #notes .note script").count() == 0
    assert page.evaluate("typeof window.__x") == "undefined"

    # f. the agent: only A1's calls, an appeal of a finding that still stands, no other calls
    _logout(page)
    _login(page, "a1", PASSWORDS["a1"])
    assert urllib.parse.urlparse(page.url).path == "/calls"
    listed = {page.locator("#calls tr[data-sha]").nth(i).get_attribute("data-sha")
              for i in range(page.locator("#calls tr[data-sha]").count())}
    assert listed == {calls["demo_call"]["sha"], calls["bad_call"]["sha"]}
    assert "mono_call" not in page.inner_text("#calls") and "ringback_call" not in page.inner_text("#calls")
    page.locator(f'#calls tr[data-sha="{bad["sha"]}"] a').click()
    page.wait_for_load_state("load")
    assert page.locator("#trail").count() == 0  # the audit trail is for reviewers
    assert page.locator(".review-form").count() == 0  # an agent does not review
    # the rules by name, grouped by section; their ids are the options' values (issue 34)
    options = page.eval_on_selector_all("#appeal-form select[name=rule] option", "os => os.map(o => o.value)")
    assert "farewell" in options and not overturned & set(options)
    appealed = "farewell"
    page.select_option("#appeal-form select[name=rule]", appealed)
    page.fill("#appeal-form input[name=comment]", "结尾说了再见，录音最后几秒被截断")
    page.locator("#appeal-form button").click()
    page.wait_for_load_state("load")
    appeal_row = page.locator(f'#appeals tr[data-rule="{appealed}"]')
    assert appeal_row.count() == 1 and "待处理" in appeal_row.inner_text()  # W.open
    assert "结尾说了再见" in appeal_row.inner_text()
    resp = page.goto(f"{base}/calls/{calls['mono_call']['sha']}")
    assert resp is not None and resp.status == 404
    assert page.locator("#message").inner_text() == "没有这个通话"  # W.not_found
    resp = page.goto(f"{base}/calls/{calls['mono_call']['sha']}/audio")
    assert resp is not None and resp.status == 404

    # g. the supervisor decides the appeal: the finding's deduction comes back to the agent
    _logout(page)
    _login(page, "lead", PASSWORDS["lead"])
    page.goto(f"{base}/appeals")
    arow = page.locator("#appeals tr[data-appeal]")
    assert arow.count() == 1 and appealed in arow.inner_text() and "A1" in arow.inner_text()  # agent id
    arow.locator("select[name=decision]").select_option("finding_overturned")
    arow.locator("input[name=reason]").fill("听了录音，结尾确有道别")
    arow.locator("button").click()
    page.wait_for_load_state("load")
    assert "撤销扣分" in page.locator("#appeals tr[data-appeal]").inner_text()  # W.finding_overturned
    assert "lead" in page.locator("#appeals tr[data-appeal]").inner_text()
    page.goto(bad_url)
    after = _number(page, "#reviewed-score")
    assert after == pytest.approx(reviewed + failed[appealed]["deduction"], abs=0.05)
    assert page.locator(f'.rv[data-rule="{appealed}"] .state[data-state="overturned"]').count() == 1
    trail = [[c.strip() for c in r.split("\t")]
             for r in page.locator("#trail tr").all_inner_texts()[1:]]
    actions = {(r[1], r[2]) for r in trail}
    w = WORDS["zh"]  # the trail names its actions in words.py's words
    assert {("rev", w["act_review"]), ("rev", w["act_note"]), ("a1", w["act_appeal"]),
            ("lead", w["act_appeal_decision"])} <= actions, trail
    assert {r[1] for r in trail} == {"rev", "a1", "lead"}

    # h. the recording: real Ogg/Opus from /calls/<sha>/audio, as long as the call. (This browser
    # has fetched it before, so Chromium's cache answers load() with ranges; on a first visit
    # the duration stays unknown: test_audio_is_seekable_on_first_visit.)
    assert page.evaluate("document.getElementById('audio') !== null")
    assert page.evaluate("new URL(document.getElementById('audio').src).pathname") \
        == f"/calls/{bad['sha']}/audio"
    page.evaluate("document.getElementById('audio').load()")
    # a function, not an expression string: the page's CSP allows no eval
    page.wait_for_function("() => { const d = document.getElementById('audio').duration;"
                           " return isFinite(d) && d > 0; }", timeout=15000)
    duration = page.evaluate("document.getElementById('audio').duration")
    assert abs(duration - bad["result"]["duration_s"]) < 1.5, duration

    # i. the screenshot of the README: the top of the reviewer's call page
    page.evaluate("window.scrollTo(0, 0)")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 20_000
    assert errors == []
    assert all(u.startswith(base) or u.startswith(("data:", "blob:")) for u in requests), requests
    context.close()


def test_audio_is_seekable_on_first_visit(server: dict[str, Any], browser: Any) -> None:
    base, call = server["base"], server["calls"]["bad_call"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # an empty cache
    page = context.new_page()
    try:
        page.goto(f"{base}/login")
        _login(page, "lead", PASSWORDS["lead"])
        part = page.request.get(f"{base}/calls/{call['sha']}/audio", headers={"Range": "bytes=0-99"})
        assert part.headers["content-type"] == "audio/ogg"  # the recording, not the login page
        assert part.status == 206 and part.headers.get("content-range", "").startswith("bytes 0-99/")
        assert part.body()[:4] == b"OggS"
        page.goto(f"{base}/calls/{call['sha']}")
        page.wait_for_function("() => { const d = document.getElementById('audio').duration;"
                               " return isFinite(d) && d > 0; }", timeout=5000)
        duration = page.evaluate("document.getElementById('audio').duration")
        assert abs(duration - call["result"]["duration_s"]) < 1.5, duration
    finally:
        context.close()


# --- without a browser --------------------------------------------------------------------------
def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def test_note_without_csrf_token_is_refused(server: dict[str, Any]) -> None:
    base, sha = server["base"], server["calls"]["demo_call"]["sha"]
    web = _opener()
    with web.open(base + "/login", timeout=10) as resp:
        token = _csrf(resp.read().decode())
    form = urllib.parse.urlencode({"csrf_token": token, "name": "rev",
                                   "password": PASSWORDS["rev"]}).encode()
    with web.open(base + "/login", data=form, timeout=10) as resp:
        assert urllib.parse.urlparse(resp.url).path == "/queue"  # the session cookie works
    marker = "note-without-csrf-7f3a"
    with pytest.raises(urllib.error.HTTPError) as e:
        web.open(f"{base}/calls/{sha}/note", data=urllib.parse.urlencode({"note": marker}).encode(),
                 timeout=10)
    assert e.value.code == 400
    with web.open(f"{base}/calls/{sha}", timeout=10) as resp:
        assert resp.status == 200 and urllib.parse.urlparse(resp.url).path == f"/calls/{sha}"
        page = resp.read().decode()
    assert 'id="note-form"' in page and marker not in page
