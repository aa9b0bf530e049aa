"""Issue 34, what the workbench's lists say: a rule by its name (its id only as a secondary
label) everywhere it appears, the rules of a dropdown grouped by section; an appeal of a call
held by an open calibration session offers no decision and names the session; the calls list
marks a call that became fatal after review."""

from __future__ import annotations

import re

from callaudit.rules.pack import load
from callaudit.strings import LABELS
from tests.helpers.review import (
    BAD,
    RING,
    W,
    app_of,
    client,
    new_calibration,
    post,
    review,
    sql,
)

L = LABELS["zh"]
PACK = load(None)


def name(rule: str) -> str:
    return PACK.rule(rule).text("zh", PACK.settings)


def section(rule: str) -> str:
    return PACK.sections[PACK.rule(rule).section]["zh"]


def row(html: str, table: str, attr: str) -> str:
    t = re.search(rf'<table id="{table}">(.*?)</table>', html, re.S)
    assert t, table
    r = re.search(rf"<tr {attr}[^>]*>(.*?)</tr>", t.group(1), re.S)
    assert r, (table, attr)
    return r.group(1)


def test_rules_are_shown_by_their_names_grouped_by_section(db: str) -> None:
    assert name("greeting") == "开场未问候（您好）"
    app = app_of(db)
    sup, r1, r2, a2 = (client(app, n) for n in ("super", "rev1", "rev2", "agent2"))
    page = r1.get(f"/calls/{RING}").text
    form = re.search(r'<form [^>]*id="missed-form">(.*?)</form>', page, re.S)
    assert form
    # the missed-finding dropdown: rules by name, grouped by section, the id as the value
    groups = re.findall(r'<optgroup label="([^"]*)">', form.group(1))
    assert section("greeting") in groups and len(groups) == len(set(groups)) > 1
    group = re.search(rf'<optgroup label="{section("greeting")}">(.*?)</optgroup>', form.group(1), re.S)
    assert group and re.search(rf'<option value="greeting">{re.escape(name("greeting"))}', group.group(1))
    # a missed finding, its row on the call page
    post(r1, f"/calls/{RING}/missed", rule="greeting", start="0:05", comment="没有问候")
    missed = re.search(r'<tr data-rule="greeting">(.*?)</tr>', r1.get(f"/calls/{RING}").text, re.S)
    assert missed and name("greeting") in missed.group(1)
    # the agent's appeal dropdown and the appeals list
    own = a2.get(f"/calls/{RING}").text
    appeal_form = re.search(r'<form [^>]*id="appeal-form">(.*?)</form>', own, re.S)
    assert appeal_form and "<optgroup" in appeal_form.group(1)
    assert re.search(rf'<option value="interruption">{re.escape(name("interruption"))}', appeal_form.group(1))
    post(a2, f"/calls/{RING}/appeal", rule="interruption", comment="他先打断我")
    (aid,) = sql(db, "SELECT id FROM appeals")[0]
    for who in (sup, a2):
        cells = row(who.get("/appeals").text, "appeals", f'data-appeal="{aid}"')
        assert name("interruption") in cells and "interruption" in cells
    # precision
    review(r1, RING, "confirm_need", "confirmed")
    cells = row(sup.get("/rules").text, "precision", 'data-rule="confirm_need"')
    assert name("confirm_need") in cells
    # the agreement table of a closed calibration session
    cal = new_calibration(sup, "k", [BAD])
    for who in (r1, r2):
        review(who, BAD, "confirm_need", "confirmed", calibration=cal)
    post(sup, f"/calibration/{cal}/close")
    cells = row(sup.get(f"/calibration/{cal}").text, "agreement", 'data-rule="confirm_need"')
    assert name("confirm_need") in cells
    # the id stays, as a secondary label
    assert re.search(r'<span class="rid">confirm_need</span>', cells)


def _decide_form(html: str, aid: int) -> str:
    cells = row(html, "appeals", f'data-appeal="{aid}"')
    assert "<form" in cells
    return cells


def test_an_appeal_of_a_call_held_by_an_open_calibration_offers_no_decision(db: str) -> None:
    app = app_of(db)
    sup, a2 = client(app, "super"), client(app, "agent2")
    post(a2, f"/calls/{RING}/appeal", rule="interruption", comment="他先打断我")
    (aid,) = sql(db, "SELECT id FROM appeals")[0]
    cells = _decide_form(sup.get("/appeals").text, aid)
    assert " disabled" not in cells and W["in_calibration"] not in cells
    cal = new_calibration(sup, "十一月校准", [RING])
    cells = _decide_form(sup.get("/appeals").text, aid)
    for control in re.findall(r"<(?:button|select|input type=\"text\")[^>]*>", cells):
        assert " disabled" in control, control
    assert W["in_calibration"] in cells and "十一月校准" in cells and f'href="/calibration/{cal}"' in cells
    post(sup, f"/calibration/{cal}/close")
    cells = _decide_form(sup.get("/appeals").text, aid)
    assert " disabled" not in cells and "十一月校准" not in cells


def test_the_calls_list_marks_a_call_fatal_after_review(db: str) -> None:
    app = app_of(db)
    r1 = client(app, "rev1")

    def listed(h: str) -> str:
        return row(r1.get("/calls").text, "calls", f'data-sha="{h}"')

    assert L["fatal"] not in listed(RING)
    post(r1, f"/calls/{RING}/missed", rule="ask_secret", start="0:05", comment="索要了验证码")
    assert L["fatal"] in listed(RING)
    # the machine's fatal call, overturned: not fatal after review
    review(r1, BAD, "ask_secret", "overturned", "客户自己说的")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", listed(BAD), re.S)
    assert L["fatal"] not in cells[4]
