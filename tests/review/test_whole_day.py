"""A whole day of the review workbench in real Chromium over real HTTP (issue 34): the supervisor
draws and assigns the day's queue, a reviewer finds calls, reviews ten with the keyboard only
and changes one verdict, the supervisor exports the reviews and reads an agent's page, an agent
appeals and the supervisor decides, and a calibration session is run, closed and read. Stored
audits (tests/data/results) copied under other ids, agents and recordings (links to samples/),
no model; accounts made by `audit users add`.

With CALLAUDIT_SCREENSHOTS=<folder> (docs/screenshots) the test also saves screenshots of the
main pages there (1366x900, PNG); without it nothing in the repository is written."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from callaudit.results.store import CallMeta, connect, write_result
from callaudit.review.words import WORDS
from tests.helpers import ROOT, SAMPLES, record_of, stored_result
from tests.helpers.serve import add_users, serving

pytestmark = pytest.mark.slow  # `audit serve` and Chromium: not in `make test-fast`

W = WORDS["zh"]
DAY = "2026-11-30"
AGENTS = ("A01", "A02", "A03", "A04")
PASSWORDS = {"lead": "lead-pass-1234", "rev1": "rev1-pass-1234", "rev2": "rev2-pass-1234",
             "a01": "agent-pass-1234"}
ACCOUNTS = (("lead", "supervisor", []), ("rev1", "reviewer", []), ("rev2", "reviewer", []),
            ("a01", "agent", ["--agent-id", "A01"]))
VIEWPORT = {"width": 1366, "height": 900}
SHOTS = os.environ.get("CALLAUDIT_SCREENSHOTS")
MAX_SHOT = 300_000  # bytes: the docs' screenshots stay small


def _needs_review(result: dict[str, Any]) -> None:
    """ringback_call with its interruption finding unsure of who spoke: deducts nothing until
    confirmed, and puts the call in the day's queue."""
    for f in result["findings"]:
        if f["rule"] == "interruption":
            f["review"], f["deduction"] = True, 0.0
    result["score"] = 96.0


def _store(conn: Any, rec: Path, name: str, key: str, call_id: str, agent: str, day: str,
           change: Any = None) -> dict[str, Any]:
    doc = stored_result(name)
    if change:
        change(doc["result"])
    wav = rec / f"{key}.wav"  # a real recording, a file of its own for each copy
    wav.symlink_to(SAMPLES / f"{name}.wav")
    sha = hashlib.sha256(key.encode()).hexdigest()
    write_result(conn, CallMeta(file=str(wav), sha256=sha, call_id=call_id, agent_id=agent, day=day),
                 record_of(doc))
    return {"sha": sha, "call_id": call_id, "agent": agent, "day": day, "name": name,
            "score": doc["result"]["score"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """24 calls of DAY (22 with a finding that needs review, 2 fatal; four agents), two calls of
    A01 on the days before, four accounts made by the CLI, and `audit serve` on a free port."""
    tmp = tmp_path_factory.mktemp("whole_day")
    rec = tmp / "rec"
    rec.mkdir()
    db = tmp / "results.sqlite"
    conn = connect(db)
    calls: dict[str, dict[str, Any]] = {}
    for i in range(22):
        c = _store(conn, rec, "ringback_call", f"day-{i:02d}", f"C{1001 + i}", AGENTS[i % 4], DAY,
                   _needs_review)
        calls[c["sha"]] = c
    for i, agent in enumerate(("A01", "A03")):
        c = _store(conn, rec, "bad_call", f"fatal-{i}", f"C{2001 + i}", agent, DAY)
        calls[c["sha"]] = c
    for day, name in (("2026-11-28", "demo_call"), ("2026-11-29", "ringback_call")):
        c = _store(conn, rec, name, f"before-{day}", f"C{day[-2:]}00", "A01", day)
        calls[c["sha"]] = c
    conn.close()
    add_users(db, ACCOUNTS, PASSWORDS)
    with serving(db, tmp / "serve.log") as base:
        yield {"base": base, "db": db, "calls": calls}


# --- what a user does ---------------------------------------------------------------------------
def _login(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#login input[name=name]", name)
    page.fill("#login input[name=password]", PASSWORDS[name])
    page.click("#login button[type=submit]")
    page.wait_for_load_state("load")
    assert page.locator("#nav .me").inner_text().startswith(name)


def _logout(page: Any) -> None:
    page.click("#logout")
    page.wait_for_load_state("load")
    assert urllib.parse.urlparse(page.url).path == "/login"


def _path(page: Any) -> str:
    return urllib.parse.urlparse(page.url).path


def _sha_of(page: Any) -> str:
    path = _path(page)
    assert path.startswith("/calls/"), path
    return path.rsplit("/", 1)[1]


def _submit(page: Any, action: Any) -> None:
    """Something that loads a new page (a key that posts a form, a click): wait for it."""
    with page.expect_navigation(wait_until="load"):
        action()


def _key(page: Any, key: str) -> None:
    _submit(page, lambda: page.keyboard.press(key))


def _progress(page: Any, base: str) -> tuple[int, int]:
    page.goto(f"{base}/queue?day={DAY}")
    p = page.locator("#progress")
    text = p.inner_text()
    done, total = int(p.get_attribute("data-done")), int(p.get_attribute("data-total"))
    assert W["q_progress"].format(done, total) in text
    return done, total


def _rows(page: Any, selector: str) -> list[list[str]]:
    return [[c.strip() for c in r.split("\t")] for r in page.locator(selector).all_inner_texts()]


def _shot(page: Any, name: str, full_page: bool = True) -> None:
    """A screenshot for the docs, when CALLAUDIT_SCREENSHOTS names a folder."""
    if not SHOTS:
        return
    folder = Path(SHOTS) if Path(SHOTS).is_absolute() else ROOT / SHOTS
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if path.stat().st_size > MAX_SHOT and full_page:  # too tall: the first screen only
        page.screenshot(path=str(path))
    assert path.stat().st_size <= MAX_SHOT, (name, path.stat().st_size)


def _review_with_keys(page: Any, overturn_last: bool) -> dict[str, str]:
    """Every failed finding of the call open in `page`, with the keyboard: j to the next
    finding, c to confirm it, o + a reason + Enter to overturn it. Returns rule -> verdict."""
    rules = page.eval_on_selector_all(".rv", "rs => rs.map(r => r.getAttribute('data-rule'))")
    assert rules, "a queued call with no failed finding"
    done: dict[str, str] = {}
    for i, rule in enumerate(rules):
        if i:
            page.keyboard.press("j")
        assert page.locator(f"#f-{rule}.current").count() == 1, (rule, i)
        if overturn_last and i == len(rules) - 1:
            page.keyboard.press("o")
            reason = page.locator(f'.rv[data-rule="{rule}"] input[name=reason]')
            assert reason.evaluate("el => el === document.activeElement")
            page.keyboard.type("复听录音，这一条判错了")
            _key(page, "Enter")
            done[rule] = "overturned"
        else:
            _key(page, "c")
            done[rule] = "confirmed"
        assert page.locator(f'.rv[data-rule="{rule}"] .state[data-state="{done[rule]}"]').count() == 1
        assert page.locator(".flash.error").count() == 0, page.locator(".flash.error").inner_text()
    return done


def test_whole_day(server: dict[str, Any], browser: Any, tmp_path: Path) -> None:
    base, calls = server["base"], server["calls"]
    today = {s: c for s, c in calls.items() if c["day"] == DAY}
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # 1. the supervisor draws the day's queue and shares it evenly between the two reviewers
    _login(page, base, "lead")
    page.goto(f"{base}/queue?day={DAY}")
    _submit(page, lambda: page.click("#draw"))
    queued = page.eval_on_selector_all("#queue tr[data-sha]", "rs => rs.map(r => r.dataset.sha)")
    assert set(queued) == set(today)  # every call of the day: fatal or needs review
    assert _progress(page, base) == (0, len(today))
    assign = page.locator("#assign-even")
    assign.locator("input[name=reviewer][value=rev1]").check()
    assign.locator("input[name=reviewer][value=rev2]").check()
    _submit(page, lambda: assign.locator("button").click())
    assigned = {r.get_attribute("data-sha"): r.get_attribute("data-assigned")
                for r in page.locator("#assignments tr[data-sha]").all()}
    mine = {s for s, who in assigned.items() if who == "rev1"}
    theirs = {s for s, who in assigned.items() if who == "rev2"}
    assert len(mine) == len(theirs) == len(today) // 2 and mine | theirs == set(today)
    _logout(page)

    # 2. reviewer 1 finds calls: day range, agent, outcome; then a call id
    _login(page, base, "rev1")
    assert page.locator("#my-calls li[data-sha]").count() == len(mine)
    page.goto(f"{base}/calls")
    find = page.locator("#find")
    find.locator("input[name=from]").fill(DAY)
    find.locator("input[name=to]").fill(DAY)
    _submit(page, lambda: page.click("#find-button"))
    assert int(page.locator("#total").get_attribute("data-total")) == len(today)
    find.locator("select[name=agent]").select_option("A03")
    find.locator("select[name=outcome]").select_option("fatal")
    _submit(page, lambda: page.click("#find-button"))
    rows = _rows(page, "#calls tr[data-sha]")
    assert len(rows) == 1 and rows[0][0].startswith("C2002") and rows[0][1] == DAY and rows[0][2] == "A03"
    assert page.locator("#calls tr[data-sha][data-fatal]").count() == 1
    query = urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)
    assert query["from"] == [DAY] and query["agent"] == ["A03"] and query["outcome"] == ["fatal"]
    page.goto(f"{base}/calls")
    page.locator("#find select[name=outcome]").select_option("failed")
    _submit(page, lambda: page.click("#find-button"))
    failed_ids = {r[0].split()[0] for r in _rows(page, "#calls tr[data-sha]")}
    assert failed_ids == {"C2001", "C2002"}  # the others pass (96)
    page.goto(f"{base}/calls")
    page.locator("#find input[name=q]").fill("c1007")  # either case
    _submit(page, lambda: page.click("#find-button"))
    rows = _rows(page, "#calls tr[data-sha]")
    assert len(rows) == 1 and rows[0][0] == "C1007" and rows[0][2] == AGENTS[6 % 4]
    assert float(rows[0][3]) == 96.0
    page.goto(f"{base}/calls?from={DAY}&to={DAY}")
    _shot(page, "calls")

    # 3. ten calls with the keyboard only, from the first call assigned to reviewer 1
    page.goto(f"{base}/queue?day={DAY}")
    _submit(page, lambda: page.locator("#my-calls li a").first.click())
    verdicts: dict[str, dict[str, str]] = {}
    skipped = 0
    while len(verdicts) < 10:
        sha = _sha_of(page)
        assert sha not in verdicts, "the next call came round again"
        if page.locator("#assigned-other").is_visible():  # reviewer 2's: on to the next
            assert sha not in mine and "rev2" in page.locator("#assigned-other").inner_text()
            skipped += 1
        else:
            assert sha in mine and page.locator("#assigned-me").count() == 1
            if not verdicts:  # the list of shortcuts, once
                page.keyboard.press("?")
                assert page.locator("#shortcuts").is_visible()
                assert W["sc_confirm"] in page.locator("#shortcuts").inner_text()
                page.keyboard.press("Escape")
                assert not page.locator("#shortcuts").is_visible()
            verdicts[sha] = _review_with_keys(page, overturn_last=len(verdicts) % 3 == 0)
            if len(verdicts) == 10:
                break
        assert page.locator("#next-call").count() == 1
        _key(page, "n")
    assert skipped == 0  # `n` goes to the next call assigned to this reviewer (or nobody)
    done, total = _progress(page, base)
    assert (done, total) == (10, len(today))
    states = {s: page.locator(f'#queue tr[data-sha="{s}"] .q-state').get_attribute("data-state")
              for s in today}
    assert {s for s, st in states.items() if st == "done"} == set(verdicts)

    # the call page with the help overlay and the current finding, for the docs
    last = list(verdicts)[-1]
    page.goto(f"{base}/calls/{last}")
    page.keyboard.press("j")
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible() and page.locator("tr.rule-row.current").count() == 1
    _shot(page, "call", full_page=False)  # the list of shortcuts over the finding chosen
    page.keyboard.press("Escape")

    # 4. reviewer 1 changes one verdict (confirmed -> overturned): the trail keeps both
    changed = next(s for s, v in verdicts.items() if "confirmed" in v.values())
    rule = next(r for r, v in verdicts[changed].items() if v == "confirmed")
    page.goto(f"{base}/calls/{changed}")
    rv = page.locator(f'.rv[data-rule="{rule}"]')
    rv.locator("input[name=reason]").fill("再听一遍：这一条是识别错了")
    _submit(page, lambda: rv.locator("button[name=state][value=overturned]").click())
    assert page.locator(f'.rv[data-rule="{rule}"] .state[data-state="overturned"]').count() == 1
    verdicts[changed][rule] = "overturned"
    trail = [r for r in _rows(page, "#trail tr")[1:] if r[1] == "rev1" and r[2] == W["act_review"]]
    # the change: before (confirmed) -> after (overturned, with its reason)
    change = [r for r in trail if "再听一遍" in r[-1]]
    assert len(change) == 1 and "→" in change[0][-1], trail
    was, now = change[0][-1].split("→")
    assert W["confirmed"] in was and W["overturned"] in now and "再听一遍" in now, change
    _logout(page)

    # 5. the supervisor exports the reviewed findings (CSV): the ten calls' verdicts are in it
    _login(page, base, "lead")
    assert _progress(page, base) == (10, len(today))
    _shot(page, "queue")
    page.goto(f"{base}/reports?day_from={DAY}&day_to={DAY}")
    ids = {calls[s]["call_id"] for s in verdicts}
    shown = {r[0] for r in _rows(page, "#reviewed tr[data-rule]")}
    assert ids <= shown
    _shot(page, "reports")
    with page.expect_download() as dl:
        page.click("#export-csv")
    data = Path(dl.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese
    table = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    got = {(r[W["call_id"]], r[W["rule_id"]]): r[W["reviewer_verdict"]] for r in table}
    want = {(calls[s]["call_id"], r): W[v] for s, v in verdicts.items() for r, v in v.items()}
    assert got == want
    assert {r[W["reviewer"]] for r in table} == {"rev1"}

    # 6. the supervisor opens an agent's page: the chart by day, the rules failed most, links
    appealed_sha = next(s for s in verdicts if calls[s]["agent"] == "A01"
                        and "confirmed" in verdicts[s].values())
    page.goto(f"{base}/reports")
    _submit(page, lambda: page.locator('#agents a:text-is("A01")').click())
    assert _path(page) == "/agents/A01"
    assert page.locator("#score-chart").is_visible()
    assert page.locator("#score-chart circle.pt").count() == 3  # three days
    assert page.locator("#score-chart .pass-mark").count() == 1
    top = page.locator("#top-failed tr[data-rule]")
    assert top.count() >= 1
    link = top.first.locator("a").first
    href = link.get_attribute("href")
    assert href.startswith("/calls/") and "#f-" in href
    _shot(page, "agent")
    _submit(page, lambda: link.click())
    assert _path(page) == urllib.parse.urlparse(href).path
    _logout(page)

    # 7. the agent appeals a confirmed finding; the supervisor overturns it: the score follows
    appealed_rule = next(r for r, v in verdicts[appealed_sha].items() if v == "confirmed")
    _login(page, base, "a01")
    page.goto(f"{base}/calls/{appealed_sha}")
    before = float(page.locator("#reviewed-score").inner_text())
    page.select_option("#appeal-form select[name=rule]", appealed_rule)
    page.fill("#appeal-form input[name=comment]", "客户一直没说完，我没有打断")
    _submit(page, lambda: page.locator("#appeal-form button").click())
    arow = page.locator(f'#appeals tr[data-rule="{appealed_rule}"]')
    assert arow.count() == 1 and W["open"] in arow.inner_text()
    _logout(page)
    _login(page, base, "lead")
    assert page.locator("#open-appeals").inner_text() == "1"
    page.goto(f"{base}/appeals?state=open")
    row = page.locator("#appeals tr[data-appeal]")
    assert row.count() == 1 and "A01" in row.inner_text()
    _shot(page, "appeals")
    row.locator("select[name=decision]").select_option("finding_overturned")
    row.locator("input[name=reason]").fill("听了录音，确实是客户打断")
    _submit(page, lambda: row.locator("button").click())
    page.goto(f"{base}/appeals?state=decided")
    decided = page.locator("#appeals tr[data-appeal]")
    assert decided.count() == 1 and W["finding_overturned"] in decided.inner_text()
    assert "lead" in decided.inner_text() and "确实是客户打断" in decided.inner_text()
    page.goto(f"{base}/calls/{appealed_sha}")
    after = float(page.locator("#reviewed-score").inner_text())
    deduction = next(f["deduction"] or 5.0 for f in stored_result("ringback_call")["result"]["findings"]
                     if f["rule"] == appealed_rule)
    assert after == pytest.approx(before + deduction, abs=0.05)
    assert page.locator(f'.rv[data-rule="{appealed_rule}"] .state[data-state="overturned"]').count() == 1

    # 8. a calibration session: two calls no one reviewed, both reviewers blind, closed, read
    page.goto(f"{base}/calibration?day={DAY}")
    offered = page.locator("#new-calibration input[name=call]")
    picked = [v for v in (offered.nth(i).get_attribute("value") for i in range(offered.count()))
              if calls[v]["name"] == "ringback_call"][:2]
    assert len(picked) == 2 and not set(picked) & set(verdicts)
    page.fill("#new-calibration input[name=name]", "十一月校准")
    for s in picked:
        page.check(f'#new-calibration input[name=call][value="{s}"]')
    _submit(page, lambda: page.click("#new-calibration button"))
    session = page.url
    assert page.locator("#calib-calls li").count() == 2
    _logout(page)
    # rev1 overturns the interruption of the second call only, rev2 of both: one disagreement
    overturn = {"rev1": {1}, "rev2": {0, 1}}
    ratings: dict[str, dict[tuple[str, str], str]] = {"rev1": {}, "rev2": {}}
    first_call = ""
    for who in ("rev1", "rev2"):
        _login(page, base, who)
        page.goto(session)
        for i in range(2):
            _submit(page, lambda i=i: page.locator("#calib-calls a").nth(i).click())
            sha = _sha_of(page)
            first_call = first_call or sha
            assert page.locator("#calibration").is_visible()
            assert page.locator(".rv .state").count() == 0  # blind: no one else's verdict
            for r in page.eval_on_selector_all(".rv", "rs => rs.map(r => r.dataset.rule)"):
                state = "overturned" if r == "interruption" and i in overturn[who] else "confirmed"
                rv = page.locator(f'.rv[data-rule="{r}"]')
                if state == "overturned":
                    rv.locator("input[name=reason]").fill("听不出是谁先说话")
                _submit(page, lambda rv=rv, state=state: rv.locator(
                    f"button[name=state][value={state}]").click())
                ratings[who][(sha, r)] = state
            page.goto(session)
        _logout(page)
    _login(page, base, "lead")
    page.goto(session)
    progress = {r.get_attribute("data-reviewer"): r.locator(".rated").inner_text()
                for r in page.locator("#progress tr[data-reviewer]").all()}
    assert progress["rev1"] == progress["rev2"] == str(len(ratings["rev1"]))
    _submit(page, lambda: page.click("#close-calibration"))
    page.goto(session)
    assert page.locator("#closed").is_visible()
    kappa = page.locator("#overall-kappa").inner_text()
    assert kappa == "–" or -1.0 <= float(kappa) <= 1.0
    overall = page.locator("#overall").inner_text()
    assert f"{W['finding_count']} {len(ratings['rev1'])}" in overall
    assert W["kappa_scale"][:10] in page.locator("#kappa-scale").inner_text()
    pair = page.locator('#pairs tr[data-pair="rev1|rev2"]')
    assert pair.count() == 1 and pair.locator(".kappa").inner_text()
    differ = [k for k, v in ratings["rev1"].items() if ratings["rev2"][k] != v]
    assert differ == [(first_call, "interruption")]
    disagreements = page.locator("#disagreements tr[data-sha]")
    assert disagreements.count() == 1
    assert disagreements.first.get_attribute("data-sha") == first_call
    assert disagreements.first.get_attribute("data-rule") == "interruption"
    text = disagreements.first.inner_text()
    assert f"rev1: {W['confirmed']}" in text and f"rev2: {W['overturned']}" in text
    # 5 of 6 alike; rev1 overturned 1 of 6, rev2 2 of 6: Cohen's kappa (5/6 - 11/18) / (7/18) = 4/7
    assert float(kappa) == pytest.approx(4 / 7, abs=0.005)
    assert page.locator("#overall-band").inner_text() == W["band_moderate"]
    assert pair.locator(".kappa").inner_text() == kappa
    _shot(page, "calibration")

    assert errors == []
    context.close()
