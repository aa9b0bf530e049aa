"""The workbench's calls page per business line (calls.line, `audit batch --scorecards`):
calls, average score and pass rate of each line, for those who see every call, when the
night has more than one line. Fast: the stored audits of tests/data/results."""

from __future__ import annotations

import re

from tests.helpers.review import BAD, DAY, DEMO, MONO, RING, app_of, client, sql, with_db


def _lines(html: str) -> dict[str, list[str]]:
    table = re.search(r'<table id="lines">(.*?)</table>', html, re.S)
    if table is None:
        return {}
    return {m[0]: re.findall(r"<td>(.*?)</td>", m[1])[1:]
            for m in re.findall(r'<tr data-line="([^"]*)">(.*?)</tr>', table.group(1), re.S)}


def _set_lines(db: str, lines: dict[str, str]) -> None:
    def put(conn):  # type: ignore[no-untyped-def]
        for sha, line in lines.items():
            conn.execute("UPDATE calls SET line = ? WHERE sha256 = ?", (line, sha))
    with_db(db, put)


def test_the_calls_page_shows_each_business_line(db: str) -> None:
    _set_lines(db, {DEMO: "sales_out", BAD: "sales_out", MONO: "complaints_in", RING: "complaints_in"})
    scores = dict(sql(db, "SELECT line, ROUND(AVG(score), 1) FROM calls GROUP BY line"))
    passed = dict(sql(db, "SELECT line, AVG(passed) FROM calls GROUP BY line"))
    app = app_of(db)
    page = client(app, "super").get("/calls").text
    assert _lines(page) == {line: ["2", f"{scores[line]}", f"{100 * passed[line]:.0f}%"]
                            for line in ("sales_out", "complaints_in")}
    assert _lines(client(app, "super").get(f"/calls?day={DAY}").text) == _lines(page)
    assert _lines(client(app, "super").get("/calls?day=2001-01-01").text) == {}  # no calls that day
    assert _lines(client(app, "agent1").get("/calls").text) == {}  # an agent sees only their own


def test_one_line_or_none_shows_no_table(db: str) -> None:
    app = app_of(db)
    assert 'id="lines"' not in client(app, "super").get("/calls").text  # no line at all
    _set_lines(db, {s: "sales_out" for s in (DEMO, BAD, MONO, RING)})
    assert 'id="lines"' not in client(app, "super").get("/calls").text
