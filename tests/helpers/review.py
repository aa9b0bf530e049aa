"""The review workbench's test world: the stored audits and accounts of a template database
(its fixtures are in tests/review/conftest.py), Flask test clients logged in as its users,
and readers of what the pages show and the database holds."""

from __future__ import annotations

import hashlib
import itertools
import re
import sqlite3
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from callaudit.results import store
from callaudit.results.store import CallMeta, connect
from callaudit.review.server import create_app
from callaudit.review.words import WORDS
from tests.helpers import ROOT, record_of, stored_result

W = WORDS["zh"]
DAY = "2026-11-30"
PASSWORD = "password123"
CALLS = {"demo_call": "A1", "bad_call": "A1", "mono_call": "A2", "ringback_call": "A2"}
# name, role, agent id; "gone" is disabled, "agent0" is an agent without an agent id
USERS = [("admin", "admin", None), ("super", "supervisor", None), ("rev1", "reviewer", None),
         ("rev2", "reviewer", None), ("agent1", "agent", "A1"), ("agent2", "agent", "A2"),
         ("agent0", "agent", None), ("gone", "reviewer", None)]
XSS = "<script>alert(1)</script>" + '"><img src=x onerror=alert(1)>'
RAW = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "<img src=x")


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


DEMO, BAD, MONO, RING = (sha(n) for n in CALLS)  # A1, A1, A2, A2
RING_SCORE = 91.0  # ringback_call failed interruption (5), confirm_need (2), confirm_understood (2)


# --- the database ------------------------------------------------------------------------------
def add_call(conn: sqlite3.Connection, name: str, key: str | None = None, agent: str | None = "A2",
             day: str = DAY, call_id: str | None = None,
             change: Callable[[dict[str, Any]], None] | None = None) -> str:
    """Store the stored audit `name` under sha256(key or name) (a copy: file /rec/KEY.wav);
    `change` edits its result."""
    d = stored_result(name)
    if change:
        change(d["result"])
    h = sha(key or name)
    # a copy under another key needs a file of its own (the same file would replace the call)
    file = str(ROOT / "samples" / f"{name}.wav") if key is None else f"/rec/{key}.wav"
    store.write_result(conn, CallMeta(file=file, sha256=h,
                                      call_id=call_id or key or name, agent_id=agent, day=day), record_of(d))
    return h


def sql(db: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return [tuple(r) for r in conn.execute(query, args)]
    finally:
        conn.close()


def count(db: str, table: str) -> int:
    return int(sql(db, f"SELECT COUNT(*) FROM {table}")[0][0])  # noqa: S608


def written(db: str) -> dict[str, int]:
    """Rows of what people write (trail: the call entries, not the accounts made above)."""
    out = {t: count(db, t) for t in ("reviews", "missed_findings", "call_notes", "appeals",
                                     "reviewed_scores", "sample_plans", "calibrations")}
    out["trail"] = int(sql(db, "SELECT COUNT(*) FROM trail WHERE sha256 IS NOT NULL OR action "
                               "NOT IN ('user_add', 'user_disable')")[0][0])
    return out


def with_db(db: str, fn: Callable[[sqlite3.Connection], Any]) -> Any:
    conn = connect(db)
    try:
        return fn(conn)
    finally:
        conn.close()


# --- the app and its users ---------------------------------------------------------------------
_ADDRESSES = itertools.count(1)


def app_of(db: str, csrf: bool = False, rules: str | None = None, **kw: Any) -> Flask:
    app = create_app(db, rules, **kw)
    app.config["WTF_CSRF_ENABLED"] = csrf
    return app


def client(app: Flask, name: str | None = None) -> FlaskClient:
    """A browser of its own (its own address, so the per-address login limit is its own),
    logged in as `name` if given."""
    c = app.test_client()
    n = next(_ADDRESSES)
    c.environ_base["REMOTE_ADDR"] = f"10.{n // 250 % 250}.{n % 250}.1"
    if name:
        r = login(c, name)
        assert r.status_code == 302, (name, r.status_code)
    return c


def token(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf_token on the page"
    return m.group(1)


def login(c: FlaskClient, name: str, password: str = PASSWORD, nxt: str | None = None) -> Any:
    tok = token(c.get("/login").text)
    return c.post("/login", query_string={"next": nxt} if nxt else None,
                  data={"name": name, "password": password, "csrf_token": tok})


def post(c: FlaskClient, url: str, **data: Any) -> Any:
    return c.post(url, data=data)


def follow(c: FlaskClient, r: Any) -> str:
    """The page a POST redirected to (with its flashed messages)."""
    assert r.status_code == 302, r.status_code
    return str(c.get(r.headers["Location"]).text)


def rv(html: str, rule: str) -> str:
    """The review block of a failed finding on a call page."""
    start = html.index(f'<div class="rv" data-rule="{rule}">')
    return html[start:html.index("</td>", start)]


def state_of(html: str, rule: str) -> str | None:
    m = re.search(r'data-state="(\w+)"', rv(html, rule))
    return m.group(1) if m else None


def reviewed_on_page(html: str) -> float | None:
    m = re.search(r'id="reviewed-score">([^<]*)<', html)
    return float(m.group(1)) if m else None


def stored_reviewed(db: str, h: str) -> float | None:
    rows = sql(db, "SELECT score FROM reviewed_scores WHERE sha256 = ?", h)
    return rows[0][0] if rows else None


def flashed_errors(html: str) -> list[str]:
    return re.findall(r'<div class="flash error" role="alert">([^<]*)</div>', html)


def without_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html)


def review(c: FlaskClient, h: str, rule: str, state: str, reason: str = "", **kw: Any) -> Any:
    return post(c, f"/calls/{h}/review", rule=rule, state=state, reason=reason, **kw)


def new_calibration(sup: FlaskClient, name: str, calls: list[str]) -> int:
    r = post(sup, "/calibration", name=name, call=calls)
    assert r.status_code == 302
    return int(r.headers["Location"].rsplit("/", 1)[1])
