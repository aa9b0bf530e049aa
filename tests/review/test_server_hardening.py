"""The review workbench's hardening (review/server.py, results/reviews.py and friends): log-in
limits that count failures only, reviewed scores under concurrent decisions and re-audits,
missed-finding times, sessions that end, the session key kept out of the database, appeals
of decided findings, precision with a center's settings, the queue's quota by shifts and its
late calls, and calibration sessions that hold their calls.

Fast: the stored audits and accounts of the review tests' template database
(tests/review/conftest.py), no model."""

from __future__ import annotations

import copy
import io
import json
import re
import stat
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from callaudit.batch.jobs import BatchOptions
from callaudit.batch.pool import _reviewed_refresher
from callaudit.cli import main
from callaudit.results import reviews, store
from callaudit.results.store import CallMeta
from callaudit.review.queue import queue_of_day, shifts_left
from callaudit.review.sampling import Candidate, PlanRules, draw, low_confidence
from callaudit.review.server import create_app
from callaudit.rules.pack import load
from callaudit.rules.reviewed import reviewed_score
from tests.helpers import ROOT, copy_database, record, stored, stored_result
from tests.helpers.review import (
    BAD,
    DAY,
    PASSWORD,
    RING,
    RING_SCORE,
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
    sha,
    sql,
    state_of,
    stored_reviewed,
    with_db,
)

RING_FAILED = ("interruption", "confirm_need", "confirm_understood")


def at_address(app: Flask, address: str) -> FlaskClient:
    """A browser at a given address (several may share one)."""
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return c


def recomputed(db: str, h: str) -> float:
    """The reviewed score of call `h` computed afresh from its stored findings and reviews."""
    def score(conn: Any) -> float:
        call = reviews.call_by_sha(conn, h)
        assert call is not None
        states = {r: v["state"] for r, v in reviews.reviews_of_call(conn, h).items()}
        missed = [m["rule"] for m in reviews.missed_of_call(conn, h)]
        return float(reviewed_score(call["result"], states, missed, load(None)).score)
    return float(with_db(db, score))


def appeal_states(html: str) -> dict[int, str]:
    """appeal id -> the text of its finding-state cell on /appeals."""
    rows = re.findall(r'<tr data-appeal="(\d+)">.*?<td class="finding-state">([^<]*)</td>', html, re.S)
    return {int(a): s for a, s in rows}


# === 1. log-in limits count failed log-ins only =================================================
@pytest.mark.slow
def test_login_limits_count_failures_only(db: str) -> None:
    app = app_of(db)
    shift = at_address(app, "10.200.0.1")
    # a shift logging in from one address (one name 6 times): more than both limits, all in
    names = ["rev1", "super", "rev1", "rev2", "rev1", "admin", "rev1", "agent1", "rev1", "agent2",
             "rev1", "super"]
    for i, name in enumerate(names):
        assert login(shift, name).status_code == 302, (i, name)
    # 5 failures for one name: the 6th try of that name is refused, even with the password
    c = at_address(app, "10.200.0.2")
    for _ in range(5):
        assert login(c, "rev2", "wrong password").status_code == 401
    r = login(c, "rev2", PASSWORD)
    assert r.status_code == 429 and 'id="login-error"' in r.text
    assert c.get("/calls").status_code == 302  # not logged in
    # another name from that address works, until the address has 10 failures
    assert login(c, "rev1", PASSWORD).status_code == 302
    for i in range(4):  # failures 6..9 of the address, each of another name
        assert login(c, f"nobody{i}", "wrong password").status_code == 401
    assert login(c, "rev1", PASSWORD).status_code == 302
    assert login(c, "nobody9", "wrong password").status_code == 401  # the 10th
    assert login(c, "rev1", PASSWORD).status_code == 429
    assert login(c, "super", PASSWORD).status_code == 429
    # another address is not limited by it
    assert login(at_address(app, "10.200.0.3"), "super", PASSWORD).status_code == 302


# === 2. concurrent decisions ===================================================================
@pytest.mark.slow
def test_reviewed_score_is_right_when_several_decide_at_once(db: str) -> None:
    app = app_of(db)  # CSRF off
    people = [client(app, name) for name in ("rev1", "rev2", "super")]
    rounds, barrier = 10, threading.Barrier(3)
    last: dict[str, str] = {}

    def decide(k: int, i: int) -> int:
        rule = RING_FAILED[k]
        state = "overturned" if (i + k) % 2 else "confirmed"
        last[rule] = state
        barrier.wait(timeout=30)
        return int(review(people[k], RING, rule, state, f"round {i}").status_code)

    with ThreadPoolExecutor(max_workers=3) as pool:
        for i in range(rounds):
            statuses = list(pool.map(lambda k, i=i: decide(k, i), range(3)))
            assert statuses == [302, 302, 302], i
            assert stored_reviewed(db, RING) == recomputed(db, RING), f"round {i}"
    assert count(db, "reviews") == 3 * rounds
    states = {r: v["state"] for r, v in with_db(db, lambda c: reviews.reviews_of_call(c, RING)).items()}
    assert states == last
    expected = min(100.0, RING_SCORE + sum({"interruption": 5, "confirm_need": 2, "confirm_understood": 2}[r]
                                           for r, s in last.items() if s == "overturned"))
    assert stored_reviewed(db, RING) == recomputed(db, RING) == expected


# === 3. a re-audit recomputes the reviewed score ===============================================
def test_reaudit_of_a_reviewed_call_recomputes_its_reviewed_score(db: str) -> None:
    rev = client(app_of(db), "rev1")
    review(rev, RING, "interruption", "overturned", "客户先打断")
    assert stored_reviewed(db, RING) == RING_SCORE + 5
    # `audit batch --force`: a new result for the same content, failing greeting too
    d = stored_result("ringback_call")
    result = copy.deepcopy(d["result"])
    greeting = next(f for f in result["findings"] if f["rule"] == "greeting")
    assert greeting["applicable"] and greeting["passed"]
    greeting.update(passed=False, deduction=10.0)
    result.update(score=RING_SCORE - 10)
    meta = CallMeta(file=str(ROOT / "samples" / "ringback_call.wav"), sha256=RING,
                    call_id="ringback_call", agent_id="A2", day=DAY)

    def reaudit(conn: Any) -> None:
        refresh = _reviewed_refresher(conn, BatchOptions(db=db, force=True))  # as run() makes it
        store.write_result(conn, meta, record(result, d["regions"], d["acoustics"]))
        refresh(RING)

    with_db(db, reaudit)
    assert sql(db, "SELECT score FROM calls WHERE sha256 = ?", RING) == [(RING_SCORE - 10,)]
    assert sql(db, "SELECT rule, state FROM reviews") == [("interruption", "overturned")]  # kept
    assert stored_reviewed(db, RING) == recomputed(db, RING) == RING_SCORE - 10 + 5


# === 4. a missed finding's time ================================================================
def test_missed_finding_times_outside_the_call_are_refused(db: str) -> None:
    app = app_of(db)
    rev, agent = client(app, "rev1"), client(app, "agent2")
    duration = stored_result("ringback_call")["result"]["duration_s"]
    assert 45 < duration < 46
    trail = count(db, "trail")
    for bad in ("inf", "1e999", "nan", "-1", "1:2:3:4", "46", "0:50", "-inf", "NaN"):
        r = post(rev, f"/calls/{RING}/missed", rule="greeting", start=bad, comment="没有问候")
        assert flashed_errors(follow(rev, r)), bad
    assert count(db, "missed_findings") == 0 and count(db, "trail") == trail
    assert stored_reviewed(db, RING) is None
    for who in (rev, agent):
        assert who.get(f"/calls/{RING}").status_code == 200
    for good in ("0:05", "30"):
        page = follow(rev, post(rev, f"/calls/{RING}/missed", rule="greeting", start=good, comment="x"))
        assert not flashed_errors(page), good
    assert sql(db, "SELECT start FROM missed_findings ORDER BY id") == [(5.0,), (30.0,)]
    for who in (rev, agent):
        assert who.get(f"/calls/{RING}").status_code == 200


# === 5. sessions end ===========================================================================
def replay(app: Flask, address: str, cookie: str) -> FlaskClient:
    """A fresh browser at `address` holding a copied session cookie."""
    c = at_address(app, address)
    c.set_cookie("session", cookie)
    return c


def saved_cookie(c: FlaskClient) -> str:
    cookie = c.get_cookie("session")
    assert cookie is not None
    return str(cookie.value)


@pytest.mark.slow
def test_sessions_end(db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    app = app_of(db)
    address = "10.201.0.1"  # the replay comes from the same address (session protection is strong)
    rev = at_address(app, address)
    assert login(rev, "rev1").status_code == 302
    cookie = saved_cookie(rev)
    assert replay(app, address, cookie).get("/calls").status_code == 200  # a copy works ...
    assert post(rev, "/logout").status_code == 302
    r = replay(app, address, cookie).get("/calls")  # ... and not after the log-out
    assert r.status_code == 302 and urlsplit(r.headers["Location"]).path == "/login"
    # a new password (users add --reset) ends the account's sessions, not others'
    rev, other = at_address(app, address), at_address(app, "10.201.0.2")
    assert login(rev, "rev1").status_code == 302 and login(other, "rev2").status_code == 302
    cookie = saved_cookie(rev)
    monkeypatch.setattr(sys, "stdin", io.StringIO("a new password\n"))
    assert main(["users", "add", "rev1", "--role", "reviewer", "--db", db, "--password-stdin",
                 "--reset"]) == 0
    for c in (rev, replay(app, address, cookie)):
        r = c.get("/calls")
        assert r.status_code == 302 and urlsplit(r.headers["Location"]).path == "/login"
    assert other.get("/calls").status_code == 200
    assert login(at_address(app, "10.201.0.3"), "rev1", PASSWORD).status_code == 401
    assert login(at_address(app, "10.201.0.3"), "rev1", "a new password").status_code == 302
    # an existing name without --reset: one line saying to give it, nothing changed
    capsys.readouterr()
    before = sql(db, "SELECT password_hash, session_gen FROM users WHERE name = 'rev2'")
    monkeypatch.setattr(sys, "stdin", io.StringIO("another password\n"))
    assert main(["users", "add", "rev2", "--role", "admin", "--db", db, "--password-stdin"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--reset" in err
    assert sql(db, "SELECT password_hash, session_gen FROM users WHERE name = 'rev2'") == before
    assert sql(db, "SELECT role FROM users WHERE name = 'rev2'") == [("reviewer",)]
    assert other.get("/calls").status_code == 200
    # disabling ends its sessions
    cookie = saved_cookie(other)
    assert main(["users", "disable", "rev2", "--db", db]) == 0
    for c in (other, replay(app, "10.201.0.2", cookie)):
        r = c.get("/calls")
        assert r.status_code == 302 and urlsplit(r.headers["Location"]).path == "/login"


# === 6. the session key ========================================================================
def test_session_key_is_not_in_the_database(template_db: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLAUDIT_SESSION_KEY", raising=False)
    db = copy_database(template_db, tmp_path / "file.sqlite")
    key_file = Path(f"{db}.session-key")
    assert not key_file.exists()
    app = create_app(db)
    meta = sql(db, "SELECT key, value FROM meta")
    assert not [k for k, _ in meta if "secret" in k.lower()]
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text(encoding="ascii").strip()
    assert len(key) >= 32 and app.config["SECRET_KEY"] == key
    assert key.encode() not in Path(db).read_bytes() and all(key not in str(v) for _, v in meta)
    assert create_app(db).config["SECRET_KEY"] == key  # kept: sessions outlive a restart
    # from the environment: used, and no file made
    monkeypatch.setenv("CALLAUDIT_SESSION_KEY", "e" * 64)
    other = copy_database(template_db, tmp_path / "env.sqlite")
    app = create_app(other)
    assert app.config["SECRET_KEY"] == "e" * 64
    assert not Path(f"{other}.session-key").exists()
    assert not [k for k, _ in sql(other, "SELECT key, value FROM meta") if "secret" in k.lower()]


# === 7. appeals ================================================================================
def test_appeals_of_decided_findings(db: str) -> None:
    app = app_of(db)
    agent, sup, rev = client(app, "agent2"), client(app, "super"), client(app, "rev1")
    review(rev, RING, "interruption", "overturned", "客户先打断")
    # a crafted appeal of a finding a reviewer overturned: refused
    assert "<option>interruption</option>" not in agent.get(f"/calls/{RING}").text
    assert flashed_errors(follow(agent, post(agent, f"/calls/{RING}/appeal", rule="interruption",
                                             comment="x")))
    assert count(db, "appeals") == 0
    # decided once: a second appeal of the same rule is refused
    assert not flashed_errors(follow(agent, post(agent, f"/calls/{RING}/appeal", rule="confirm_need",
                                                 comment="我确认过")))
    (aid,) = sql(db, "SELECT id FROM appeals")[0]
    assert appeal_states(sup.get("/appeals").text)[aid] == W["unreviewed"]
    assert not flashed_errors(follow(sup, post(sup, f"/appeals/{aid}", decision="finding_upheld",
                                               reason="没有确认")))
    assert flashed_errors(follow(agent, post(agent, f"/calls/{RING}/appeal", rule="confirm_need",
                                             comment="again")))
    assert count(db, "appeals") == 1
    assert appeal_states(sup.get("/appeals").text)[aid] == W["confirmed"]
    # a reviewer cannot change a finding decided on appeal; a supervisor can
    reviewed = count(db, "reviews")
    page = follow(rev, review(rev, RING, "confirm_need", "overturned", "我觉得确认了"))
    assert flashed_errors(page) and state_of(page, "confirm_need") == "confirmed"
    assert count(db, "reviews") == reviewed and stored_reviewed(db, RING) == RING_SCORE + 5
    page = follow(sup, review(sup, RING, "confirm_need", "overturned", "录音里确认了"))
    assert not flashed_errors(page) and state_of(page, "confirm_need") == "overturned"
    assert stored_reviewed(db, RING) == RING_SCORE + 5 + 2
    # /appeals shows where the finding stands now
    for who in (sup, agent):
        assert appeal_states(who.get("/appeals").text)[aid] == W["overturned"]


# === 8. precision with the center's settings ===================================================
def test_summary_by_rule_uses_the_packs_precision_settings(db: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    pack = tmp_path / "center.yaml"
    pack.write_text("settings:\n  review_min_precision: 0.99\n  review_min_reviewed: 1\n", encoding="utf-8")
    assert main(["rules", "check", str(pack)]) == 0
    rev = client(app_of(db), "rev1")
    review(rev, RING, "interruption", "overturned", "客户先打断")

    def by_rule(*extra: str) -> dict[str, dict[str, Any]]:
        capsys.readouterr()
        assert main(["summary", "--db", db, "--by", "rule", "--format", "json", *extra]) == 0
        return {r["rule"]: r for r in json.loads(capsys.readouterr().out)}

    center = by_rule("--rules", str(pack))["interruption"]
    assert (center["reviewed"], center["precision"], center["low_precision"]) == (1, 0.0, 1)
    assert by_rule()["interruption"]["low_precision"] == 0  # the default: 5 reviews needed
    assert by_rule("--rules", str(pack))["confirm_need"]["low_precision"] == 0  # not reviewed


# === 9. the queue's quota by shifts ============================================================
def test_queue_quota_by_shifts_left(db: str, tmp_path: Path) -> None:
    assert shifts_left({"A": 10, "B": 30}, 30, 1) == {"A": 1, "B": 1}
    assert shifts_left({"A": 10, "B": 30}, 30, 3) == {"A": 1, "B": 3}
    assert shifts_left({"A": 1, "B": 10}, 10, 21) == {"A": 3, "B": 21}
    assert shifts_left({"A": 0}, 0, 5) == {"A": 1}  # at least 1
    # draw: an agent with fewer shifts left takes more calls tonight
    calls = [Candidate(sha(f"{a}{i}"), a, 100.0, False, False, False) for a in "AB" for i in range(20)]
    rules = PlanRules(lowest=0, per_agent=1, per_agent_month=30)

    def taken(**kw: Any) -> dict[str, int]:
        picks = draw(calls, rules, "seed", {}, 10, **kw)
        assert {p.reason for p in picks} == {"random_agent"}
        return {a: sum(p.agent_id == a for p in picks) for a in "AB"}

    assert taken() == {"A": 3, "B": 3}
    assert taken(shifts_left={"A": 10, "B": 2}) == {"A": 3, "B": 15}
    # the day's queue: A1 worked each of the month's 10 days, A2 only the 10th
    day = "2026-11-10"
    assert not low_confidence(stored("demo_call"), load(None).settings)

    def month(conn: Any) -> None:
        for d in range(1, 10):
            add_call(conn, "demo_call", key=f"a1-{d}", agent="A1", day=f"2026-11-{d:02d}")
        for a in ("A1", "A2"):
            for i in range(6):
                add_call(conn, "demo_call", key=f"{a}-{i}", agent=a, day=day)

    with_db(db, month)
    pack = tmp_path / "queue.yaml"
    pack.write_text("settings:\n  sample_lowest: 0\n", encoding="utf-8")
    plan, drawn = with_db(db, lambda c: queue_of_day(c, day, load(str(pack)), "test"))
    assert drawn
    per_agent = {a: sum(i["agent_id"] == a for i in plan["items"]) for a in ("A1", "A2")}
    # 10 a month; 21 nights left: A1 works them all (ceil(10/21) = 1), A2 one in ten (3: 4 a night)
    assert per_agent == {"A1": 1, "A2": 4}


# === 10. the queue takes late calls that must be reviewed ======================================
def test_queue_takes_late_calls_that_must_be_reviewed(db: str) -> None:
    rev = client(app_of(db), "rev1")
    assert post(rev, "/queue", day=DAY).status_code == 302
    first = [i["sha256"] for i in with_db(db, lambda c: reviews.plan_of_day(c, DAY))["items"]]
    assert first
    assert not low_confidence(stored("demo_call"), load(None).settings)
    late_ok = with_db(db, lambda c: add_call(c, "demo_call", key="late_ok", agent="A1"))
    late_bad = with_db(db, lambda c: add_call(c, "bad_call", key="late_bad", agent="A1"))
    assert sql(db, "SELECT fatal FROM calls WHERE sha256 = ?", late_bad) == [(1,)]
    assert post(rev, "/queue", day=DAY).status_code == 302
    plan = with_db(db, lambda c: reviews.plan_of_day(c, DAY))
    items = [(i["sha256"], i["reason"]) for i in plan["items"]]
    assert items[:len(first)] == [(h, r) for h, r in items[:len(first)] if h in first]
    assert [h for h, _ in items[:len(first)]] == first  # the drawn queue as it was
    assert items[len(first):] == [(late_bad, "fatal")]  # at its end
    assert late_ok not in {h for h, _ in items}
    page = rev.get(f"/queue?day={DAY}").text
    assert re.findall(r'<tr data-sha="(\w+)">', page)[-1] == late_bad
    supplements = sql(db, "SELECT actor, after_json FROM trail WHERE action = 'queue_supplement'")
    assert len(supplements) == 1 and supplements[0][0] == "rev1"
    assert json.loads(supplements[0][1])["calls"] == [late_bad]
    post(rev, "/queue", day=DAY)  # again: nothing more
    assert len(with_db(db, lambda c: reviews.plan_of_day(c, DAY))["items"]) == len(items)
    assert count(db, "sample_plans") == 1
    assert len(sql(db, "SELECT 1 FROM trail WHERE action = 'queue_supplement'")) == 1


# === 11. calibration holds its calls ===========================================================
@pytest.mark.slow
def test_calibration_sessions_hold_their_calls(db: str) -> None:
    app = app_of(db)
    sup, r1, r2, agent = (client(app, n) for n in ("super", "rev1", "rev2", "agent2"))
    post(agent, f"/calls/{RING}/appeal", rule="confirm_understood", comment="我确认过")
    # the same call twice: held once
    cal = new_calibration(sup, "k", [RING, RING])
    assert sql(db, "SELECT sha256 FROM calibration_calls WHERE calibration = ?", cal) == [(RING,)]
    # a call with a standing review is not reviewed blind
    review(r1, BAD, "confirm_need", "confirmed")
    page = follow(sup, post(sup, "/calibration", name="k2", call=[BAD]))
    assert flashed_errors(page) and count(db, "calibrations") == 1
    # while the session is open: no ordinary review, nothing standing shown to reviewers
    (aid,) = sql(db, "SELECT id FROM appeals")[0]
    # an appeal waits too while the call is in an open session
    assert flashed_errors(follow(sup, post(sup, f"/appeals/{aid}", decision="finding_overturned",
                                           reason="录音里确认了")))
    assert stored_reviewed(db, RING) is None
    # a verdict standing anyway (written before the session, say) is not shown to anyone
    with_db(db, lambda c: reviews.add_review(c, RING, "confirm_understood", "overturned", "x", "rev2",
                                             None))
    page = follow(r1, review(r1, RING, "interruption", "overturned", "客户先打断"))
    assert W["in_calibration"] in " ".join(flashed_errors(page))
    assert sql(db, "SELECT COUNT(*) FROM reviews WHERE sha256 = ?", RING) == [(1,)]  # rev2's only
    for who in (r1, sup):
        page = who.get(f"/calls/{RING}").text
        assert 'id="in-calibration"' in page
        assert "data-state=" not in page and reviewed_on_page(page) is None
    for who, state in ((r1, "confirmed"), (r2, "overturned")):
        r = review(who, RING, "confirm_need", state, "校准", calibration=cal)
        assert not flashed_errors(follow(who, r))
    assert 'id="agreement"' not in sup.get(f"/calibration/{cal}").text
    # closed: ordinary review again, no more calibration reviews, agreement for the supervisor
    assert post(sup, f"/calibration/{cal}/close").status_code == 302
    post(sup, f"/appeals/{aid}", decision="finding_overturned", reason="录音里确认了")
    page = follow(r1, review(r1, RING, "interruption", "overturned", "客户先打断"))
    assert not flashed_errors(page) and 'id="in-calibration"' not in page
    assert state_of(page, "interruption") == "overturned"
    assert state_of(page, "confirm_understood") == "overturned"
    assert reviewed_on_page(page) == RING_SCORE + 5 + 2 == stored_reviewed(db, RING)
    calibrated = sql(db, "SELECT COUNT(*) FROM reviews WHERE calibration = ?", cal)
    assert flashed_errors(follow(r2, review(r2, RING, "confirm_need", "confirmed", calibration=cal)))
    assert sql(db, "SELECT COUNT(*) FROM reviews WHERE calibration = ?", cal) == calibrated == [(2,)]
    assert 'id="agreement"' in sup.get(f"/calibration/{cal}").text
    assert 'id="agreement"' not in r1.get(f"/calibration/{cal}").text

