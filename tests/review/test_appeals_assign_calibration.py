"""Issue 34: the appeal window (`appeal_window_days`), the appeals page's open/decided filter,
its audio and the open appeals' count in the top bar; the queue assigned to reviewers (evenly
or by hand) with a confirm step before a verdict on someone else's call; the calibration
report (progress while open; overall, per-pair agreement and the disagreements once closed).

Fast: the stored audits of tests/data/results through Flask's test client, no model."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from callaudit.results import reviews
from callaudit.review.agreement import (
    cohen_kappa,
    disagreements,
    fleiss_kappa,
    kappa_band,
    overall_agreement,
    pair_agreement,
)
from callaudit.rules.pack import load
from callaudit.settings import problems
from tests.helpers.review import (
    BAD,
    DAY,
    RING,
    W,
    app_of,
    client,
    count,
    flashed_errors,
    follow,
    new_calibration,
    post,
    review,
    sql,
    with_db,
)


def change(db: str, query: str, *args: object) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            conn.execute(query, args)
    finally:
        conn.close()


def audited_days_ago(db: str, sha256: str, days: float) -> str:
    at = (datetime.now() - timedelta(days=days)).isoformat(timespec="seconds")
    change(db, "UPDATE calls SET audited_at = ? WHERE sha256 = ?", at, sha256)
    return at


# === appeals ===================================================================================
def test_an_appeal_is_taken_only_within_the_window(db: str) -> None:
    app = app_of(db)
    agent = client(app, "agent2")
    at = audited_days_ago(db, RING, 6.5)  # the default window: 7 days
    until = (datetime.fromisoformat(at) + timedelta(days=7)).isoformat(timespec="seconds")
    page = agent.get(f"/calls/{RING}").text
    m = re.search(r'id="appeal-deadline">([^<]*)<', page)
    assert m and m.group(1) == W["appeal_by"].format(until[:16].replace("T", " "))
    assert not flashed_errors(follow(agent, post(agent, f"/calls/{RING}/appeal",
                                                 rule="interruption", comment="他先打断我")))
    assert count(db, "appeals") == 1
    listed = agent.get("/appeals").text  # the appeals list says the deadline too
    assert W["appeal_by"].format(until[:16].replace("T", " ")) in listed
    # a day later the window is shut: one line, nothing stored
    at = audited_days_ago(db, RING, 7.5)
    until = (datetime.fromisoformat(at) + timedelta(days=7)).isoformat(timespec="seconds")
    errors = flashed_errors(follow(agent, post(agent, f"/calls/{RING}/appeal", rule="confirm_need",
                                               comment="我确认过")))
    assert errors == [W["appeal_window_over"].format(7, until[:16].replace("T", " "))]
    assert "\n" not in errors[0] and count(db, "appeals") == 1
    assert W["appeal_expired"] in agent.get(f"/calls/{RING}").text
    # another agent's call is still "not found", window or not
    assert post(client(app, "agent1"), f"/calls/{RING}/appeal", rule="confirm_need",
                comment="x").status_code == 404


def test_the_window_is_a_setting_of_the_centers_pack(db: str, tmp_path: Path) -> None:
    pack = tmp_path / "center.yaml"
    pack.write_text("settings:\n  appeal_window_days: 30\n", encoding="utf-8")
    agent = client(app_of(db, rules=str(pack)), "agent2")
    audited_days_ago(db, RING, 20)
    assert not flashed_errors(follow(agent, post(agent, f"/calls/{RING}/appeal",
                                                 rule="interruption", comment="x")))
    none = tmp_path / "none.yaml"
    none.write_text("settings:\n  appeal_window_days: 0\n", encoding="utf-8")
    agent = client(app_of(db, rules=str(none)), "agent2")
    assert flashed_errors(follow(agent, post(agent, f"/calls/{RING}/appeal", rule="confirm_need",
                                             comment="x"))) == [W["appeal_window_none"]]
    assert count(db, "appeals") == 1
    # typed and validated like every setting
    base = load(None).settings.to_json()
    assert load(None).settings.appeal_window_days == 7
    assert any("appeal_window_days" in p for p in problems({**base, "appeal_window_days": -1}))
    assert any("appeal_window_days" in p for p in problems({**base, "appeal_window_days": 2.5}))
    assert not problems(base)


def test_appeals_filter_audio_and_the_count_in_the_top_bar(db: str) -> None:
    app = app_of(db)
    agent, sup, rev = client(app, "agent2"), client(app, "super"), client(app, "rev1")
    assert 'id="open-appeals"' not in sup.get("/calls").text
    for rule in ("interruption", "confirm_need"):
        post(agent, f"/calls/{RING}/appeal", rule=rule, comment="x")
    (first,), (second,) = sql(db, "SELECT id FROM appeals ORDER BY id")
    bar = re.search(r'id="open-appeals"[^>]*>(\d+)<', sup.get("/calls").text)
    assert bar and bar.group(1) == "2"
    for who in (rev, agent):  # only those who decide see the count
        assert 'id="open-appeals"' not in who.get("/calls").text
    post(sup, f"/appeals/{first}", decision="finding_upheld", reason="维持")
    bar = re.search(r'id="open-appeals"[^>]*>(\d+)<', sup.get("/appeals").text)
    assert bar and bar.group(1) == "1"

    def listed(query: str) -> list[str]:
        return re.findall(r'<tr data-appeal="(\d+)"', sup.get(f"/appeals{query}").text)

    assert listed("?state=open") == [str(second)]
    assert listed("?state=decided") == [str(first)]
    assert listed("") == listed("?state=whatever") == [str(first), str(second)]
    page = sup.get("/appeals?state=open").text
    assert f'<audio controls preload="none" class="appeal-audio" src="/calls/{RING}/audio">' in page
    assert sup.get(f"/calls/{RING}/audio").status_code == 200
    post(sup, f"/appeals/{second}", decision="finding_overturned", reason="撤销")
    assert 'id="open-appeals"' not in sup.get("/calls").text


# === assignment ================================================================================
def queued(db: str) -> list[str]:
    plan = with_db(db, lambda c: reviews.plan_of_day(c, DAY))
    return [i["sha256"] for i in plan["items"]]


def test_the_queue_is_assigned_evenly_or_by_hand(db: str) -> None:
    app = app_of(db)
    sup, r1, r2 = client(app, "super"), client(app, "rev1"), client(app, "rev2")
    post(sup, "/queue", day=DAY)
    calls = queued(db)
    assert len(calls) >= 2
    assert 'id="assign-even"' in sup.get(f"/queue?day={DAY}").text
    assert 'id="assign-even"' not in r1.get(f"/queue?day={DAY}").text
    assert post(r1, "/queue/assign", day=DAY, how="even", reviewer=["rev1"]).status_code == 403
    assert flashed_errors(follow(sup, post(sup, "/queue/assign", day=DAY, how="even")))
    assert flashed_errors(follow(sup, post(sup, "/queue/assign", day=DAY, how="even",
                                           reviewer=["rev1", "agent1"])))
    assert flashed_errors(follow(sup, post(sup, "/queue/assign", day=DAY, how="even",
                                           reviewer=["gone"])))  # disabled
    assert count(db, "assignments") == 0
    follow(sup, post(sup, "/queue/assign", day=DAY, how="even", reviewer=["rev1", "rev2"]))
    given = dict(sql(db, "SELECT sha256, assigned_to FROM assignments"))
    assert set(given) == set(calls)
    per = [list(given.values()).count(r) for r in ("rev1", "rev2")]
    assert abs(per[0] - per[1]) <= 1 and sum(per) == len(calls)
    # a reviewer's queue page lists their own calls first, in queue order
    page = r1.get(f"/queue?day={DAY}").text
    mine = re.search(r'<div class="card" id="my-calls">(.*?)</div>', page, re.S)
    assert mine and page.index('id="my-calls"') < page.index('id="queue"')
    assert re.findall(r'data-sha="(\w+)"', mine.group(1)) == [h for h in calls if given[h] == "rev1"]
    # evenly again: nothing left unassigned, nothing changes
    follow(sup, post(sup, "/queue/assign", day=DAY, how="even", reviewer=["rev1"]))
    assert dict(sql(db, "SELECT sha256, assigned_to FROM assignments")) == given
    # by hand: one call to another reviewer, one to no one
    h = calls[0]
    other = "rev2" if given[h] == "rev1" else "rev1"
    follow(sup, post(sup, "/queue/assign", day=DAY, sha=h, reviewer=other))
    assert sql(db, "SELECT assigned_to, assigned_by FROM assignments WHERE sha256 = ?", h) == \
        [(other, "super")]
    follow(sup, post(sup, "/queue/assign", day=DAY, sha=calls[1], reviewer=""))
    assert sql(db, "SELECT COUNT(*) FROM assignments WHERE sha256 = ?", calls[1]) == [(0,)]
    assert flashed_errors(follow(sup, post(sup, "/queue/assign", day=DAY, sha="0" * 64,
                                           reviewer="rev1")))
    assert flashed_errors(follow(sup, post(sup, "/queue/assign", day="2026-12-01", how="even",
                                           reviewer=["rev1"])))
    # the trail records every assignment: who, which call, before and after
    trail = sql(db, "SELECT actor, sha256, before_json, after_json FROM trail "
                    "WHERE action = 'assign' ORDER BY id")
    assert len(trail) == len(calls) + 2
    assert trail[-2] == ("super", h, f'{{"assigned_to": "{given[h]}"}}', f'{{"assigned_to": "{other}"}}')
    assert trail[-1][3] == '{"assigned_to": null}'
    r2.get(f"/queue?day={DAY}")  # the other reviewer's page renders too


def test_a_verdict_on_another_reviewers_call_waits_for_a_confirm_step(db: str) -> None:
    app = app_of(db)
    sup, r1, r2 = client(app, "super"), client(app, "rev1"), client(app, "rev2")
    post(sup, "/queue", day=DAY)
    assert RING in queued(db)
    follow(sup, post(sup, "/queue/assign", day=DAY, sha=RING, reviewer="rev2"))
    page = r1.get(f"/calls/{RING}").text
    banner = re.search(r'id="assigned-other">(.*?)</div>', page, re.S)
    assert banner and W["assigned_other"].format("rev2") in banner.group(1)
    assert 'id="assigned-ok"' in banner.group(1)
    # warned, not locked: the first verdict is refused with who has the call
    errors = flashed_errors(follow(r1, review(r1, RING, "interruption", "confirmed")))
    assert errors == [W["assign_refused"].format("rev2")]
    assert count(db, "reviews") == 0
    r = post(r1, f"/calls/{RING}/assigned-ok")
    assert r.status_code == 302 and r.headers["Location"] == f"/calls/{RING}"
    page = r1.get(f"/calls/{RING}").text
    assert 'id="assigned-other"' in page and 'id="assigned-ok"' not in page
    assert not flashed_errors(follow(r1, review(r1, RING, "interruption", "confirmed")))
    assert sql(db, "SELECT reviewer FROM reviews") == [("rev1",)]
    # the assignee is not asked; an agent never sees assignments
    assert 'id="assigned-me"' in r2.get(f"/calls/{RING}").text
    assert not flashed_errors(follow(r2, review(r2, RING, "confirm_need", "confirmed")))
    assert 'assigned' not in client(app, "agent2").get(f"/calls/{RING}").text.replace(
        "assigned_", "")
    assert post(client(app, "agent2"), f"/calls/{RING}/assigned-ok").status_code == 403
    assert count(db, "reviews") == 2


def test_a_calibration_review_is_not_held_by_an_assignment(db: str) -> None:
    app = app_of(db)
    sup, r1 = client(app, "super"), client(app, "rev1")
    post(sup, "/queue", day=DAY)
    follow(sup, post(sup, "/queue/assign", day=DAY, sha=RING, reviewer="rev2"))
    cal = new_calibration(sup, "k", [RING])
    assert not flashed_errors(follow(r1, review(r1, RING, "confirm_need", "confirmed",
                                                calibration=cal)))
    assert count(db, "reviews") == 1


# === the calibration report ====================================================================
def test_calibration_progress_then_the_report(db: str) -> None:
    app = app_of(db)
    sup, r1, r2 = client(app, "super"), client(app, "rev1"), client(app, "rev2")
    cal = new_calibration(sup, "十二月校准", [RING, BAD])
    expected = sql(db, """SELECT COUNT(*) FROM findings f JOIN calls c ON c.id = f.call
        WHERE c.sha256 IN (?, ?) AND f.applicable AND NOT f.passed""", RING, BAD)[0][0]
    assert expected >= 3
    review(r1, RING, "confirm_need", "confirmed", calibration=cal)
    review(r1, RING, "confirm_need", "overturned", "改了", calibration=cal)  # the latest counts once
    review(r1, BAD, "confirm_need", "not_applicable", calibration=cal)
    review(r1, RING, "interruption", "confirmed", calibration=cal)
    review(r2, RING, "confirm_need", "overturned", "x", calibration=cal)
    review(r2, BAD, "confirm_need", "overturned", "x", calibration=cal)
    review(r2, RING, "interruption", "confirmed", calibration=cal)

    def progress(html: str) -> dict[str, tuple[str, str]]:
        table = re.search(r'<table id="progress">(.*?)</table>', html, re.S)
        assert table
        return {n: (a, b) for n, a, b in re.findall(
            r'<tr data-reviewer="([^"]+)"><td>[^<]*</td><td class="rated">(\d+)</td><td>(\d+)</td>',
            table.group(1))}

    for who in (sup, r1):  # counts only, no verdicts: every participant sees them
        html = who.get(f"/calibration/{cal}").text
        rows = progress(html)
        assert rows["rev1"] == ("3", str(expected)) and rows["rev2"] == ("3", str(expected))
        assert rows["super"] == ("0", str(expected)) and "gone" not in rows
        assert 'id="overall"' not in html and 'id="disagreements"' not in html
    post(sup, f"/calibration/{cal}/close")
    html = sup.get(f"/calibration/{cal}").text
    assert 'id="progress"' not in html
    # overall: the three findings both rated (Cohen's kappa: the same two reviewers throughout)
    ratings = {"rev1": ["not_applicable", "confirmed", "overturned"],  # BAD cn, RING int, RING cn
               "rev2": ["overturned", "confirmed", "overturned"]}
    order = sorted([(BAD, "confirm_need"), (RING, "confirm_need"), (RING, "interruption")])
    by = {(BAD, "confirm_need"): 0, (RING, "interruption"): 1, (RING, "confirm_need"): 2}
    a = [ratings["rev1"][by[k]] for k in order]
    b = [ratings["rev2"][by[k]] for k in order]
    kappa = cohen_kappa(a, b)
    assert kappa is not None
    m = re.search(r'id="overall-kappa">([^<]*)<', html)
    assert m and m.group(1) == f"{kappa:.2f}"
    band = re.search(r'id="overall-band">([^<]*)<', html)
    assert band and band.group(1) == W["band_" + kappa_band(kappa)]
    assert W["kappa_scale"] in html and "\n" not in W["kappa_scale"]
    pair = re.search(r'<tr data-pair="rev1\|rev2">(.*?)</tr>', html)
    assert pair and f'<td class="kappa">{kappa:.2f}</td>' in pair.group(1)
    # the disagreements, each linked to its call in this session
    table = re.search(r'<table id="disagreements">(.*?)</table>', html, re.S)
    assert table
    rows = re.findall(r'<tr data-sha="(\w+)" data-rule="(\w+)"><td><a href="([^"]+)">', table.group(1))
    assert rows == [(BAD, "confirm_need", f"/calls/{BAD}?calibration={cal}")]
    assert f"rev1: {W['not_applicable']}；rev2: {W['overturned']}" in table.group(1)
    assert r1.get(f"/calls/{BAD}?calibration={cal}").status_code == 200
    # a reviewer sees neither the report nor the others' ratings
    seen = r1.get(f"/calibration/{cal}").text
    assert 'id="overall"' not in seen and 'id="disagreements"' not in seen and "rev2" not in seen


def test_agreement_overall_pairs_and_disagreements() -> None:
    ratings = [("c1", "r", "a", "confirmed"), ("c1", "r", "b", "confirmed"),
               ("c1", "r", "c", "overturned"), ("c2", "r", "a", "confirmed"),
               ("c2", "r", "b", "confirmed"), ("c2", "r", "c", "confirmed"),
               ("c2", "s", "a", "not_applicable"), ("c2", "s", "b", "confirmed"),
               ("c2", "s", "c", "not_applicable"), ("c3", "s", "a", "confirmed")]
    o = overall_agreement(ratings)
    assert o is not None and o.method == "fleiss" and o.items == 3 and o.raters == 3
    items = [["confirmed", "confirmed", "overturned"], ["confirmed"] * 3,
             ["not_applicable", "confirmed", "not_applicable"]]
    assert o.kappa == pytest.approx(fleiss_kappa(items))
    pairs = {(p.a, p.b): p for p in pair_agreement(ratings)}
    assert set(pairs) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert pairs[("a", "b")].items == 3 and pairs[("a", "b")].observed == pytest.approx(2 / 3)
    assert pairs[("a", "b")].kappa == pytest.approx(
        cohen_kappa(["confirmed", "confirmed", "not_applicable"], ["confirmed"] * 3) or 0.0)
    assert disagreements(ratings) == [
        ("c1", "r", {"a": "confirmed", "b": "confirmed", "c": "overturned"}),
        ("c2", "s", {"a": "not_applicable", "b": "confirmed", "c": "not_applicable"})]
    assert overall_agreement([("c1", "r", "a", "confirmed")]) is None
    assert [kappa_band(k) for k in (-0.2, 0.0, 0.3, 0.5, 0.7, 0.8, 0.95)] == [
        "poor", "slight", "fair", "moderate", "substantial", "substantial", "almost_perfect"]
    with pytest.raises(ValueError):
        disagreements([("c1", "r", "a", "maybe")])
