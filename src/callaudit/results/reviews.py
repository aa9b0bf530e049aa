"""What people decided about audited calls, in the results database (audit serve, audit sample).

The tables are made by results/store.py (REVIEW_SCHEMA, migration 4); this module holds their
SQL. Everything is keyed by the call's sha256 and the rule id, so a re-audit or a re-score
keeps every review. Every change a person makes is written with its entry in the audit trail
(`trail`: who, when, what, before and after) in one transaction; the trail is append-only
(database triggers refuse UPDATE and DELETE).

States of a reviewed finding: confirmed (the machine was right), overturned (it was wrong; a
reason is required), not_applicable (the rule does not apply to this call). An appeal (申诉)
is decided as finding_upheld (the finding stands) or finding_overturned (it goes).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from callaudit.errors import AuditError
from callaudit.results.database import fetch_rows, now, transaction
from callaudit.results.queries import read_result
from callaudit.rules.pack import RulePack
from callaudit.rules.reviewed import reviewed_score as score_after_review

ROLES = ("admin", "supervisor", "reviewer", "agent")
STATES = ("confirmed", "overturned", "not_applicable")
DECISIONS = ("finding_upheld", "finding_overturned")


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    agent_id: str | None  # an agent's calls are those whose calls.agent_id is this
    password_hash: str
    disabled: bool
    session_gen: int = 0  # a session cookie names it; a changed one is logged out


def _trail(conn: sqlite3.Connection, actor: str, action: str, sha256: str | None,
           rule: str | None, before: Any, after: Any) -> int:
    """Append to the trail; its id orders what people decided (clocks tie, ids do not)."""
    return int(conn.execute("INSERT INTO trail (at, actor, action, sha256, rule, before_json, after_json) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (now(), actor, action, sha256, rule,
                  None if before is None else json.dumps(before, ensure_ascii=False),
                  None if after is None else json.dumps(after, ensure_ascii=False))).lastrowid or 0)


# --- accounts ----------------------------------------------------------------------------------
def add_user(conn: sqlite3.Connection, name: str, role: str, password_hash: str,
             agent_id: str | None, actor: str, reset: bool = False) -> None:
    """A new account, or with `reset` a new password and role for an existing one (its
    sessions end); recorded in the trail. AuditError if the name exists and not `reset`."""
    if role not in ROLES:
        raise AuditError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    with transaction(conn):
        old = conn.execute("SELECT role, agent_id FROM users WHERE name = ?", (name,)).fetchone()
        if old and not reset:
            raise AuditError(f"account {name!r} exists: give --reset to set its password and role")
        if old:
            conn.execute("UPDATE users SET role = ?, agent_id = ?, password_hash = ?, disabled = 0, "
                         "session_gen = session_gen + 1 WHERE name = ?",
                         (role, agent_id, password_hash, name))
        else:
            conn.execute("INSERT INTO users (name, role, agent_id, password_hash, created_at) "
                         "VALUES (?, ?, ?, ?, ?)", (name, role, agent_id, password_hash, now()))
        _trail(conn, actor, "user_set" if old else "user_add", None, None,
               dict(old) if old else None, {"name": name, "role": role, "agent_id": agent_id})


def set_password_hash(conn: sqlite3.Connection, name: str, password_hash: str) -> None:
    """Store a re-hashed password (argon2 parameters raised since it was set); no trail entry."""
    with transaction(conn):
        conn.execute("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name))


def end_sessions(conn: sqlite3.Connection, uid: int) -> None:
    """Every session of the account ends (log-out: a copied cookie is worth nothing after)."""
    with transaction(conn):
        conn.execute("UPDATE users SET session_gen = session_gen + 1 WHERE id = ?", (uid,))


def disable_user(conn: sqlite3.Connection, name: str, actor: str) -> bool:
    with transaction(conn):
        n = conn.execute("UPDATE users SET disabled = 1, session_gen = session_gen + 1 "
                         "WHERE name = ?", (name,)).rowcount
        if n:
            _trail(conn, actor, "user_disable", None, None, {"name": name}, None)
    return bool(n)


def _user(row: sqlite3.Row | None) -> User | None:
    if row is None:
        return None
    return User(row["id"], row["name"], row["role"], row["agent_id"], row["password_hash"],
                bool(row["disabled"]), int(row["session_gen"]))


def user_by_name(conn: sqlite3.Connection, name: str) -> User | None:
    return _user(conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone())


def user_by_id(conn: sqlite3.Connection, uid: int) -> User | None:
    return _user(conn.execute("SELECT * FROM users WHERE id = ?", (uid,)).fetchone())


def users(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return fetch_rows(conn, "SELECT name, role, agent_id, disabled, created_at FROM users ORDER BY name")


# --- calls as the workbench lists them ---------------------------------------------------------
def call_list(conn: sqlite3.Connection, agent_id: str | None = None, day: str | None = None,
              limit: int = 500) -> list[dict[str, Any]]:
    """Audited calls, newest day first, lowest score first within a day: sha256, call_id,
    agent_id, day, duration_s, score, passed, fatal, reviewed_score, reviewed_passed,
    reviewed_fatal (whether the reviewed score fails as fatal: a reviewer added a missed fatal
    finding, or overturned the fatal one; None before any review),
    reviews (how many findings were reviewed), open_appeals. `agent_id`/`day` filter."""
    where, args = ["c.status = 'ok'"], []
    if agent_id is not None:
        where.append("c.agent_id = ?")
        args.append(agent_id)
    if day:
        where.append("c.day = ?")
        args.append(day)
    return fetch_rows(conn, f"""
        SELECT c.sha256, c.call_id, c.agent_id, c.day, c.duration_s, c.score, c.passed, c.fatal,
               r.score AS reviewed_score, r.passed AS reviewed_passed, r.fatal AS reviewed_fatal,
               (SELECT COUNT(DISTINCT rule) FROM reviews v WHERE v.sha256 = c.sha256
                  AND v.calibration IS NULL) AS reviews,
               (SELECT COUNT(*) FROM appeals a WHERE a.sha256 = c.sha256 AND a.state = 'open')
                  AS open_appeals
        FROM calls c LEFT JOIN reviewed_scores r ON r.sha256 = c.sha256
        WHERE {' AND '.join(where)} ORDER BY c.day DESC, c.score, c.id LIMIT ?""",  # noqa: S608
        (*args, limit))


OUTCOMES = ("failed", "fatal", "no_speech", "not_connected")
REVIEW_FILTERS = ("unreviewed", "reviewed", "appealed")
# "Find calls" sorts by these names only: never SQL from the request (file: by its path)
CALL_SORTS = {"call": "c.call_id", "file": "c.file", "day": "c.day", "agent": "c.agent_id",
              "line": "c.line", "score": "c.score", "reviewed": "r.score", "reviews": "reviews",
              "appeals": "open_appeals"}
_FILE_NAME = "replace(c.file, rtrim(c.file, replace(c.file, '/', '')), '')"  # after the last /
# calls a person gave a verdict on: a review or a missed finding (not calibration), a decided appeal
_VERDICTS = """SELECT sha256 FROM reviews WHERE calibration IS NULL{by}
    UNION SELECT sha256 FROM missed_findings WHERE calibration IS NULL{by}
    UNION SELECT sha256 FROM appeals WHERE state != 'open'{by_appeal}"""


@dataclass(frozen=True)
class CallQuery:
    """What "Find calls" asks for (every field optional; values already validated).
    `outcome`: failed / fatal (the verdict that stands: after review when reviewed, else the
    machine's), no_speech / not_connected (recordings with no call to judge); `review`:
    unreviewed / reviewed (a person's verdict: a review, a missed finding, a decided appeal) /
    appealed (any appeal); `reviewer`: calls with that person's verdict; `rule`: the machine
    failed it, or a reviewer added it as missed; `search`: part of the call id or of the file
    (its whole path when `search_paths`, else its name only); `line`: the business line."""

    agent_id: str | None = None
    day_from: str | None = None
    day_to: str | None = None
    line: str | None = None
    score_min: float | None = None
    score_max: float | None = None
    outcome: str | None = None
    review: str | None = None
    reviewer: str | None = None
    rule: str | None = None
    search: str | None = None
    search_paths: bool = True
    sort: str | None = None  # a CALL_SORTS key; None: newest day first, lowest score first
    descending: bool = False


def _call_where(q: CallQuery) -> tuple[str, list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if q.outcome in ("no_speech", "not_connected"):
        where.append("c.status = ?")
        args.append(q.outcome)
    else:
        where.append("c.status = 'ok'")
    if q.outcome == "failed":
        where.append("COALESCE(r.passed, c.passed) = 0")
    elif q.outcome == "fatal":
        where.append("COALESCE(r.fatal, c.fatal) = 1")
    for sql, v in (("c.agent_id = ?", q.agent_id), ("c.day >= ?", q.day_from),
                   ("c.day <= ?", q.day_to), ("c.line = ?", q.line),
                   ("c.score >= ?", q.score_min), ("c.score <= ?", q.score_max)):
        if v is not None:
            where.append(sql)
            args.append(v)
    if q.review == "reviewed":
        where.append(f"c.sha256 IN ({_VERDICTS.format(by='', by_appeal='')})")
    elif q.review == "unreviewed":
        where.append(f"c.sha256 NOT IN ({_VERDICTS.format(by='', by_appeal='')})")
    elif q.review == "appealed":
        where.append("c.sha256 IN (SELECT sha256 FROM appeals)")
    if q.reviewer is not None:
        by = _VERDICTS.format(by=" AND reviewer = ?", by_appeal=" AND decided_by = ?")
        where.append(f"c.sha256 IN ({by})")
        args += [q.reviewer] * 3
    if q.rule is not None:
        where.append("(EXISTS (SELECT 1 FROM findings f WHERE f.call = c.id AND f.applicable = 1 "
                     "AND f.passed = 0 AND f.rule = ?) OR c.sha256 IN (SELECT sha256 FROM "
                     "missed_findings WHERE rule = ? AND calibration IS NULL))")
        args += [q.rule, q.rule]
    if q.search:
        like = "%" + q.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(f"(c.call_id LIKE ? ESCAPE '\\' OR {'c.file' if q.search_paths else _FILE_NAME} "
                     "LIKE ? ESCAPE '\\')")
        args += [like, like]
    return " AND ".join(where), args


def find_calls(conn: sqlite3.Connection, q: CallQuery, page: int = 1, per_page: int = 50
               ) -> tuple[list[dict[str, Any]], int]:
    """("Find calls"): one page of the calls `q` asks for, and how many there are in all.
    Each row: sha256, call_id, file_name (the file's name, not where it is kept), agent_id,
    day, line, status, score, passed, fatal, reviewed_score, reviewed_passed, reviewed_fatal,
    reviews (findings reviewed), open_appeals."""
    where, args = _call_where(q)
    total = int(conn.execute("SELECT COUNT(*) FROM calls c LEFT JOIN reviewed_scores r ON "  # noqa: S608
                             f"r.sha256 = c.sha256 WHERE {where}", args).fetchone()[0])
    if q.sort in CALL_SORTS:
        order = f"{CALL_SORTS[q.sort]} {'DESC' if q.descending else 'ASC'} NULLS LAST, c.id"
    else:
        order = "c.day DESC, c.score, c.id"
    counts = {"reviews": """(SELECT COUNT(DISTINCT rule) FROM reviews v WHERE v.sha256 = c.sha256
                  AND v.calibration IS NULL)""",
              "open_appeals": """(SELECT COUNT(*) FROM appeals a WHERE a.sha256 = c.sha256
                  AND a.state = 'open')"""}
    # the page's calls first, sorted by what the sort reads only (the counts of every call
    # only when sorting by them); then their columns, for those 50
    need = {k: f"{v} AS {k}" for k, v in counts.items() if k in order}
    ids = [r[0] for r in conn.execute(f"""
        SELECT c.id{''.join(', ' + v for v in need.values())}
        FROM calls c LEFT JOIN reviewed_scores r ON r.sha256 = c.sha256
        WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?""",  # noqa: S608
        (*args, per_page, (max(page, 1) - 1) * per_page))]
    rows = fetch_rows(conn, f"""
        SELECT c.id, c.sha256, c.call_id, {_FILE_NAME} AS file_name, c.agent_id, c.day, c.line,
               c.status, c.score, c.passed, c.fatal,
               r.score AS reviewed_score, r.passed AS reviewed_passed, r.fatal AS reviewed_fatal,
               {counts["reviews"]} AS reviews, {counts["open_appeals"]} AS open_appeals
        FROM calls c LEFT JOIN reviewed_scores r ON r.sha256 = c.sha256
        WHERE c.id IN (SELECT value FROM json_each(?))""", (json.dumps(ids),))  # noqa: S608
    at = {i: n for n, i in enumerate(ids)}
    rows.sort(key=lambda r: at[r["id"]])
    for r in rows:
        del r["id"]
    return rows, total


def call_choices(conn: sqlite3.Connection, agent_id: str | None = None) -> dict[str, list[str]]:
    """What "Find calls" offers to pick from: agents, lines (business lines), reviewers
    (those who gave a verdict) and days; only `agent_id`'s days when given."""
    mine = "AND agent_id = ?" if agent_id is not None else ""
    own = (agent_id,) if agent_id is not None else ()
    out = {"days": [r[0] for r in conn.execute(
        f"SELECT DISTINCT day FROM calls WHERE day IS NOT NULL {mine} ORDER BY day DESC", own)]}  # noqa: S608
    if agent_id is not None:
        return {**out, "agents": [], "lines": [], "reviewers": []}
    out["agents"] = [r[0] for r in conn.execute(
        "SELECT DISTINCT agent_id FROM calls WHERE agent_id IS NOT NULL ORDER BY agent_id")]
    out["lines"] = [r[0] for r in conn.execute(
        "SELECT DISTINCT line FROM calls WHERE line IS NOT NULL ORDER BY line")]
    out["reviewers"] = [r[0] for r in conn.execute(
        "SELECT reviewer FROM reviews WHERE calibration IS NULL UNION SELECT reviewer FROM "
        "missed_findings WHERE calibration IS NULL UNION SELECT decided_by FROM appeals WHERE "
        "decided_by IS NOT NULL ORDER BY 1")]
    return out


def call_by_sha(conn: sqlite3.Connection, sha256: str) -> dict[str, Any] | None:
    """An audited call: sha256, call_id, agent_id, day, file, rules_version, result (its
    records.CallResult)."""
    row = conn.execute("SELECT sha256, call_id, agent_id, day, file, rules_version, result_json "
                       "FROM calls WHERE sha256 = ? AND status = 'ok'", (sha256,)).fetchone()
    if row is None:
        return None
    d = dict(row)
    d["result"] = read_result(d.pop("result_json"))
    return d


def days(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT day FROM calls WHERE status = 'ok' AND "
                                       "day IS NOT NULL ORDER BY day DESC")]


# --- reviews, missed findings, notes -----------------------------------------------------------
def add_review(conn: sqlite3.Connection, sha256: str, rule: str, state: str, reason: str,
               reviewer: str, rules_version: str | None, calibration: int | None = None) -> None:
    if state not in STATES:
        raise AuditError(f"review state must be one of {', '.join(STATES)}, not {state!r}")
    with transaction(conn):
        before = _latest_review(conn, sha256, rule, calibration, reviewer if calibration else None)
        seq = _trail(conn, reviewer, "calibration_review" if calibration else "review", sha256,
                     rule, before, {"state": state, "reason": reason, "calibration": calibration})
        conn.execute("INSERT INTO reviews (sha256, rule, state, reason, reviewer, rules_version, "
                     "calibration, at, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (sha256, rule, state, reason, reviewer, rules_version, calibration, now(), seq))


def _latest_review(conn: sqlite3.Connection, sha256: str, rule: str, calibration: int | None,
                   reviewer: str | None) -> dict[str, Any] | None:
    sql = "SELECT state, reason, reviewer, at FROM reviews WHERE sha256 = ? AND rule = ? AND "
    args: list[Any] = [sha256, rule]
    if calibration is None:
        sql += "calibration IS NULL"
    else:
        sql += "calibration = ? AND reviewer = ?"
        args += [calibration, reviewer]
    row = conn.execute(sql + " ORDER BY seq DESC LIMIT 1", args).fetchone()
    return dict(row) if row else None


def reviews_of_call(conn: sqlite3.Connection, sha256: str) -> dict[str, dict[str, Any]]:
    """rule -> the finding's standing review (not calibration ones): state, reason, reviewer,
    at, rules_version, and `source` "review" or "appeal". A decided appeal later than the
    review decides the state (finding_overturned -> overturned, finding_upheld -> confirmed)."""
    out: dict[str, dict[str, Any]] = {}
    events = fetch_rows(conn, """
        SELECT rule, state, reason, reviewer, at, rules_version, 'review' AS source, seq
          FROM reviews WHERE sha256 = ? AND calibration IS NULL
        UNION ALL
        SELECT rule, CASE state WHEN 'finding_overturned' THEN 'overturned' ELSE 'confirmed' END,
               decision_reason, decided_by, decided_at, NULL, 'appeal', decided_seq
          FROM appeals WHERE sha256 = ? AND state != 'open'
        ORDER BY seq""", (sha256, sha256))
    for e in events:
        if e["source"] == "appeal":  # the review's rules version stays the one shown
            e["rules_version"] = out.get(e["rule"], {}).get("rules_version")
        out[e["rule"]] = e
    return out


def my_calibration_reviews(conn: sqlite3.Connection, sha256: str, calibration: int,
                           reviewer: str) -> dict[str, dict[str, Any]]:
    """rule -> this reviewer's own latest calibration review of the call (blind: no one else's)."""
    out: dict[str, dict[str, Any]] = {}
    for r in fetch_rows(conn, "SELECT rule, state, reason, reviewer, at, rules_version FROM reviews "
                         "WHERE sha256 = ? AND calibration = ? AND reviewer = ? ORDER BY seq",
                   (sha256, calibration, reviewer)):
        out[r["rule"]] = {**r, "source": "calibration"}
    return out


class DuplicateMissed(AuditError):
    """The same missed finding again: its rule at the same time (within DUPLICATE_S)."""


class NotYours(AuditError):
    """A missed finding or note that is not the user's own, or no longer there."""


class CallClosed(AuditError):
    """A call whose verdict is settled (call_closed): what people wrote stays."""


DUPLICATE_S = 1.0  # a missed finding of the same rule this close in time is the same one


def add_missed(conn: sqlite3.Connection, sha256: str, rule: str, start: float | None,
               comment: str, reviewer: str, rules_version: str | None) -> None:
    """Add a finding the machine missed; DuplicateMissed when the call has one of `rule`
    already within DUPLICATE_S of `start` (or both without a time)."""
    with transaction(conn):
        for (other,) in conn.execute("SELECT start FROM missed_findings WHERE sha256 = ? AND "
                                     "rule = ? AND calibration IS NULL", (sha256, rule)):
            if (other is None and start is None) or (
                    other is not None and start is not None and abs(other - start) <= DUPLICATE_S):
                raise DuplicateMissed(f"{rule}: a missed finding at this time exists already")
        conn.execute("INSERT INTO missed_findings (sha256, rule, start, comment, reviewer, "
                     "rules_version, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (sha256, rule, start, comment, reviewer, rules_version, now()))
        _trail(conn, reviewer, "missed_finding", sha256, rule, None,
               {"start": start, "comment": comment})


def missed_of_call(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    return fetch_rows(conn, "SELECT id, rule, start, comment, reviewer, rules_version, at "
                       "FROM missed_findings WHERE sha256 = ? AND calibration IS NULL ORDER BY id",
                 (sha256,))


def add_note(conn: sqlite3.Connection, sha256: str, author: str, note: str) -> None:
    with transaction(conn):
        conn.execute("INSERT INTO call_notes (sha256, author, note, at) VALUES (?, ?, ?, ?)",
                     (sha256, author, note, now()))
        _trail(conn, author, "note", sha256, None, None, {"note": note})


def notes_of_call(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    return fetch_rows(conn, "SELECT id, author, note, at FROM call_notes WHERE sha256 = ? "
                      "ORDER BY id", (sha256,))


def call_closed(conn: sqlite3.Connection, sha256: str) -> bool:
    """Whether the call is closed: an appeal on it has been decided (a supervisor has ruled
    on its verdict). Until then a reviewer may edit or withdraw their own missed findings and
    notes and change a review; afterwards only a supervisor changes what stands."""
    return conn.execute("SELECT 1 FROM appeals WHERE sha256 = ? AND state != 'open' LIMIT 1",
                        (sha256,)).fetchone() is not None


def _own(conn: sqlite3.Connection, table: str, who: str, cols: str, rid: int, sha256: str,
         actor: str) -> dict[str, Any]:
    row = conn.execute(f"SELECT {cols}, {who} AS owner FROM {table} WHERE id = ? "  # noqa: S608
                       "AND sha256 = ?", (rid, sha256)).fetchone()
    if row is None or row["owner"] != actor:
        raise NotYours(f"{table} {rid}: not yours, or withdrawn")
    if call_closed(conn, sha256):
        raise CallClosed(f"{sha256[:12]}: the call is closed")
    old = dict(row)
    old.pop("owner")
    return old


def edit_missed(conn: sqlite3.Connection, mid: int, sha256: str, start: float | None,
                comment: str, actor: str) -> str:
    """Change the time and comment of `actor`'s own missed finding `mid` of the call (not
    closed); the trail keeps the version before and the one after. Its rule."""
    with transaction(conn):
        old = _own(conn, "missed_findings", "reviewer", "rule, start, comment", mid, sha256, actor)
        for (other,) in conn.execute("SELECT start FROM missed_findings WHERE sha256 = ? AND "
                                     "rule = ? AND calibration IS NULL AND id != ?",
                                     (sha256, old["rule"], mid)):
            if (other is None and start is None) or (
                    other is not None and start is not None and abs(other - start) <= DUPLICATE_S):
                raise DuplicateMissed(f"{old['rule']}: a missed finding at this time exists already")
        conn.execute("UPDATE missed_findings SET start = ?, comment = ?, at = ? WHERE id = ?",
                     (start, comment, now(), mid))
        _trail(conn, actor, "missed_edit", sha256, old["rule"],
               {"start": old["start"], "comment": old["comment"]},
               {"start": start, "comment": comment})
        return str(old["rule"])


def withdraw_missed(conn: sqlite3.Connection, mid: int, sha256: str, actor: str) -> str:
    """Withdraw `actor`'s own missed finding `mid` (the call not closed): it no longer counts;
    the trail keeps what it said. Its rule."""
    with transaction(conn):
        old = _own(conn, "missed_findings", "reviewer", "rule, start, comment", mid, sha256, actor)
        conn.execute("DELETE FROM missed_findings WHERE id = ?", (mid,))
        _trail(conn, actor, "missed_withdrawn", sha256, old["rule"],
               {"start": old["start"], "comment": old["comment"]}, None)
        return str(old["rule"])


def edit_note(conn: sqlite3.Connection, nid: int, sha256: str, note: str, actor: str) -> None:
    """Change `actor`'s own note `nid` (the call not closed); the trail keeps both versions."""
    with transaction(conn):
        old = _own(conn, "call_notes", "author", "note", nid, sha256, actor)
        conn.execute("UPDATE call_notes SET note = ?, at = ? WHERE id = ?", (note, now(), nid))
        _trail(conn, actor, "note_edit", sha256, None, {"note": old["note"]}, {"note": note})


def withdraw_note(conn: sqlite3.Connection, nid: int, sha256: str, actor: str) -> None:
    """Withdraw `actor`'s own note `nid` (the call not closed); the trail keeps what it said."""
    with transaction(conn):
        old = _own(conn, "call_notes", "author", "note", nid, sha256, actor)
        conn.execute("DELETE FROM call_notes WHERE id = ?", (nid,))
        _trail(conn, actor, "note_withdrawn", sha256, None, {"note": old["note"]}, None)


def next_in_queue(conn: sqlite3.Connection, sha256: str, reviewer: str | None = None) -> str | None:
    """The next open call of the day's queue after call `sha256` (wrapping round to the
    queue's start; the queue's first open call when this one is not in it): open = no one
    has reviewed a finding of it, added a missed finding or a note; with `reviewer`, not
    assigned to another reviewer. None when the day has no drawn queue or no other open
    call."""
    row = conn.execute("SELECT day FROM calls WHERE sha256 = ?", (sha256,)).fetchone()
    if row is None or row[0] is None:
        return None
    plan = conn.execute("SELECT id FROM sample_plans WHERE day = ?", (row[0],)).fetchone()
    if plan is None:
        return None
    items = [r[0] for r in conn.execute("""
        SELECT i.sha256 FROM sample_items i WHERE i.plan = ?
           AND NOT EXISTS (SELECT 1 FROM reviews v WHERE v.sha256 = i.sha256 AND v.calibration IS NULL)
           AND NOT EXISTS (SELECT 1 FROM missed_findings m WHERE m.sha256 = i.sha256
                           AND m.calibration IS NULL)
           AND NOT EXISTS (SELECT 1 FROM call_notes n WHERE n.sha256 = i.sha256)
           AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.sha256 = i.sha256
                           AND ? IS NOT NULL AND a.assigned_to != ?)
         ORDER BY i.position""", (plan[0], reviewer, reviewer))]
    pos = {r[0]: r[1] for r in conn.execute("SELECT sha256, position FROM sample_items "
                                            "WHERE plan = ?", (plan[0],))}
    here = pos.get(sha256, -1)
    after = [s for s in items if pos[s] > here] + [s for s in items if pos[s] < here]
    return after[0] if after else None


def trail_of_call(conn: sqlite3.Connection, sha256: str) -> list[dict[str, Any]]:
    """The call's audit trail, oldest first, without calibration reviews (they are blind:
    a reviewer must not read another's verdict of the session on the call's page)."""
    return fetch_rows(conn, "SELECT at, actor, action, rule, before_json, after_json FROM trail "
                       "WHERE sha256 = ? AND action != 'calibration_review' ORDER BY id",
                 (sha256,))


def refresh_reviewed(conn: sqlite3.Connection, sha256: str, pack: RulePack) -> None:
    """Compute the call's reviewed score (rules/reviewed.py, with `pack`'s points) from its
    stored findings and everything people decided, and store it: read and written in one
    transaction, so when two people decide at once the last to write has read both."""
    with transaction(conn):
        call = call_by_sha(conn, sha256)
        if call is None:
            return
        states = {r: v["state"] for r, v in reviews_of_call(conn, sha256).items()}
        missed = [m["rule"] for m in missed_of_call(conn, sha256)]
        s = score_after_review(call["result"], states, missed, pack)
        conn.execute("INSERT OR REPLACE INTO reviewed_scores VALUES (?, ?, ?, ?, ?, ?)",
                     (sha256, s.score, int(s.passed), int(s.fatal), json.dumps(s.sections), now()))


def reviewed_score(conn: sqlite3.Connection, sha256: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT score, passed, fatal, sections_json, at FROM reviewed_scores "
                       "WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else {**dict(row), "sections": json.loads(row["sections_json"])}


def reviewed_calls(conn: sqlite3.Connection) -> list[str]:
    """sha256 of every audited call with a review, an appeal decision or a missed finding."""
    return [r[0] for r in conn.execute("""
        SELECT sha256 FROM reviews WHERE calibration IS NULL
        UNION SELECT sha256 FROM appeals WHERE state != 'open'
        UNION SELECT sha256 FROM missed_findings WHERE calibration IS NULL""")]


def reviewed_call_ids(conn: sqlite3.Connection) -> dict[int, str]:
    """calls.id -> sha256 of the audited calls in reviewed_calls (for a re-score)."""
    shas = set(reviewed_calls(conn))
    return {r[0]: r[1] for r in conn.execute("SELECT id, sha256 FROM calls WHERE status = 'ok'")
            if r[1] in shas}


# --- appeals -----------------------------------------------------------------------------------
def add_appeal(conn: sqlite3.Connection, sha256: str, rule: str, agent: str, comment: str) -> int:
    with transaction(conn):
        if conn.execute("SELECT 1 FROM appeals WHERE sha256 = ? AND rule = ? AND state = 'open'",
                        (sha256, rule)).fetchone():
            raise AuditError(f"an appeal of {rule} on this call is already open")
        cur = conn.execute("INSERT INTO appeals (sha256, rule, agent, comment, at) "
                           "VALUES (?, ?, ?, ?, ?)", (sha256, rule, agent, comment, now()))
        _trail(conn, agent, "appeal", sha256, rule, None, {"comment": comment})
        return int(cur.lastrowid or 0)


def decide_appeal(conn: sqlite3.Connection, appeal: int, decision: str, reason: str,
                  actor: str, finding_before: str = "unreviewed") -> dict[str, Any]:
    """Decide an open appeal; returns it (sha256, rule, ...). `finding_before`: the finding's
    standing state until now, for the trail. AuditError if it is not open."""
    if decision not in DECISIONS:
        raise AuditError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    with transaction(conn):
        row = conn.execute("SELECT * FROM appeals WHERE id = ?", (appeal,)).fetchone()
        if row is None or row["state"] != "open":
            raise AuditError(f"appeal {appeal} is not open")
        seq = _trail(conn, actor, "appeal_decision", row["sha256"], row["rule"],
                     {"state": "open", "comment": row["comment"], "agent": row["agent"],
                      "finding": finding_before},
                     {"state": decision, "reason": reason,
                      "finding": "overturned" if decision == "finding_overturned" else "confirmed"})
        conn.execute("UPDATE appeals SET state = ?, decided_by = ?, decision_reason = ?, "
                     "decided_at = ?, decided_seq = ? WHERE id = ?",
                     (decision, actor, reason, now(), seq, appeal))
        return dict(row)


def appeals(conn: sqlite3.Connection, sha256: str | None = None, agent_id: str | None = None,
            state: str | None = None) -> list[dict[str, Any]]:
    """Appeals with their call's call_id and agent_id, oldest first; filtered by call, by the
    agent the call belongs to, or by state."""
    where, args = ["1"], []
    for col, val in (("a.sha256", sha256), ("c.agent_id", agent_id), ("a.state", state)):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    return fetch_rows(conn, f"""
        SELECT a.*, c.call_id, c.agent_id FROM appeals a LEFT JOIN calls c ON c.sha256 = a.sha256
        WHERE {' AND '.join(where)} ORDER BY a.id""", tuple(args))  # noqa: S608


def appeal_by_id(conn: sqlite3.Connection, appeal: int) -> dict[str, Any] | None:
    rows = fetch_rows(conn, "SELECT * FROM appeals WHERE id = ?", (appeal,))
    return rows[0] if rows else None


# --- the nightly queue (抽检) -------------------------------------------------------------------
def day_candidates(conn: sqlite3.Connection, day: str) -> list[dict[str, Any]]:
    """The day's audited calls as the queue draws from them: sha256, agent_id, score, fatal,
    needs_review (a failed finding marked for review), result (its records.CallResult)."""
    rows = fetch_rows(conn, """
        SELECT c.sha256, c.agent_id, c.score, c.fatal, c.result_json,
               EXISTS (SELECT 1 FROM findings f WHERE f.call = c.id AND f.review
                       AND f.applicable AND NOT f.passed) AS needs_review
        FROM calls c WHERE c.status = 'ok' AND c.day = ? ORDER BY c.id""", (day,))
    for r in rows:
        r["result"] = read_result(r.pop("result_json"))
    return rows


def sampled_this_month(conn: sqlite3.Connection, day: str) -> dict[str, int]:
    """Calls per agent ('(unknown)' for none) of the days of `day`'s month before it that
    were queued for review or reviewed (a call reviewed outside the queue counts too)."""
    return {r[0]: r[1] for r in conn.execute("""
        SELECT COALESCE(c.agent_id, '(unknown)'), COUNT(*) FROM calls c
        WHERE c.status = 'ok' AND substr(c.day, 1, 7) = substr(?, 1, 7) AND c.day < ?
          AND (c.sha256 IN (SELECT i.sha256 FROM sample_items i)
               OR c.sha256 IN (SELECT sha256 FROM reviews WHERE calibration IS NULL)
               OR c.sha256 IN (SELECT sha256 FROM missed_findings))
        GROUP BY 1""", (day, day))}


def days_worked_this_month(conn: sqlite3.Connection, day: str) -> dict[str, int]:
    """Days of `day`'s month up to and including it on which each agent has audited calls."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT COALESCE(agent_id, '(unknown)'), COUNT(DISTINCT day) FROM calls WHERE status = 'ok' "
        "AND substr(day, 1, 7) = substr(?, 1, 7) AND day <= ? GROUP BY 1", (day, day))}


def save_plan(conn: sqlite3.Connection, day: str, seed: str, rules: dict[str, Any],
              picks: Iterable[tuple[str, str | None, str]], actor: str) -> None:
    """Store the day's queue: picks are (sha256, agent_id, reason) in queue order."""
    picks = list(picks)
    with transaction(conn):
        if conn.execute("SELECT 1 FROM sample_plans WHERE day = ?", (day,)).fetchone():
            raise AuditError(f"the review queue of {day} is already drawn")
        plan = conn.execute("INSERT INTO sample_plans (day, seed, rules_json, drawn_at, drawn_by) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (day, seed, json.dumps(rules), now(), actor)).lastrowid
        conn.executemany("INSERT INTO sample_items VALUES (?, ?, ?, ?, ?)",
                         [(plan, i, sha, agent, reason) for i, (sha, agent, reason) in enumerate(picks)])
        _trail(conn, actor, "queue_drawn", None, None, None,
               {"day": day, "seed": seed, "calls": len(picks), "rules": rules})


def add_to_plan(conn: sqlite3.Connection, day: str, picks: Iterable[tuple[str, str | None, str]],
                actor: str) -> int:
    """Append calls to a drawn queue (calls audited after the draw that must be reviewed);
    picks (sha256, agent_id, reason) already in it are left out. How many were added."""
    with transaction(conn):
        row = conn.execute("SELECT id FROM sample_plans WHERE day = ?", (day,)).fetchone()
        if row is None:
            raise AuditError(f"the review queue of {day} is not drawn")
        have = {r[0] for r in conn.execute("SELECT sha256 FROM sample_items WHERE plan = ?", (row[0],))}
        new = [p for p in picks if p[0] not in have]
        if not new:
            return 0
        n = conn.execute("SELECT COUNT(*) FROM sample_items WHERE plan = ?", (row[0],)).fetchone()[0]
        conn.executemany("INSERT INTO sample_items VALUES (?, ?, ?, ?, ?)",
                         [(row[0], n + i, sha, agent, reason) for i, (sha, agent, reason) in enumerate(new)])
        _trail(conn, actor, "queue_supplement", None, None, None,
               {"day": day, "calls": [sha for sha, _, _ in new]})
        return len(new)


def plan_of_day(conn: sqlite3.Connection, day: str) -> dict[str, Any] | None:
    """The day's queue: day, seed, rules (dict), drawn_at, drawn_by, items [{sha256,
    agent_id, reason, call_id, score, fatal, reviewed_score, reviews, done}] in queue order,
    and `done` (how many items are done) of `total`.

    An item is done when every failed finding of the call has a standing verdict (a review,
    not a calibration one, or a decided appeal) and a person has looked at it: it had a
    failed finding to review, or a reviewer left a missed finding or a note (a call the
    machine passed whole is done by a note, "listened: nothing wrong", or a missed finding)."""
    row = conn.execute("SELECT * FROM sample_plans WHERE day = ?", (day,)).fetchone()
    if row is None:
        return None
    plan = {k: row[k] for k in ("day", "seed", "drawn_at", "drawn_by")}
    plan["rules"] = json.loads(row["rules_json"])
    items = fetch_rows(conn, """
        SELECT i.sha256, i.agent_id, i.reason, c.call_id, c.score, c.fatal,
               r.score AS reviewed_score,
               (SELECT COUNT(DISTINCT rule) FROM reviews v WHERE v.sha256 = i.sha256
                  AND v.calibration IS NULL) AS reviews,
               (SELECT COUNT(*) FROM findings f WHERE f.call = c.id AND f.applicable = 1
                  AND f.passed = 0) AS failed,
               (SELECT COUNT(*) FROM findings f WHERE f.call = c.id AND f.applicable = 1
                  AND f.passed = 0
                  AND NOT EXISTS (SELECT 1 FROM reviews v WHERE v.sha256 = i.sha256
                                  AND v.rule = f.rule AND v.calibration IS NULL)
                  AND NOT EXISTS (SELECT 1 FROM appeals a WHERE a.sha256 = i.sha256
                                  AND a.rule = f.rule AND a.state != 'open')) AS waiting,
               (EXISTS (SELECT 1 FROM missed_findings m WHERE m.sha256 = i.sha256
                        AND m.calibration IS NULL)
                OR EXISTS (SELECT 1 FROM call_notes n WHERE n.sha256 = i.sha256)) AS touched
        FROM sample_items i LEFT JOIN calls c ON c.sha256 = i.sha256
        LEFT JOIN reviewed_scores r ON r.sha256 = i.sha256
        WHERE i.plan = ? ORDER BY i.position""", (row["id"],))
    for i in items:
        failed, waiting, touched = i.pop("failed"), i.pop("waiting"), i.pop("touched")
        i["done"] = not waiting and bool(failed or touched)
    plan["items"] = items
    plan["done"], plan["total"] = sum(i["done"] for i in items), len(items)
    return plan


def open_appeal_count(conn: sqlite3.Connection) -> int:
    """How many appeals wait for a decision (the top bar of those who decide them)."""
    return int(conn.execute("SELECT COUNT(*) FROM appeals WHERE state = 'open'").fetchone()[0])


def audits_of(conn: sqlite3.Connection, shas: Iterable[str]) -> dict[str, dict[str, Any]]:
    """sha256 -> {audited_at, file} of those calls (an appeal's window, its recording)."""
    return {r["sha256"]: {"audited_at": r["audited_at"], "file": r["file"]} for r in conn.execute(
        "SELECT sha256, audited_at, file FROM calls WHERE status = 'ok' AND sha256 IN "
        "(SELECT value FROM json_each(?))", (json.dumps(list(dict.fromkeys(shas))),))}


def audited_at(conn: sqlite3.Connection, sha256: str) -> str | None:
    """When the call was audited (ISO 8601, local time): an appeal window counts from it."""
    row = conn.execute("SELECT audited_at FROM calls WHERE sha256 = ? AND status = 'ok'",
                       (sha256,)).fetchone()
    return row[0] if row else None


# --- assignment: who reviews a queued call --------------------------------------------------------
def assign(conn: sqlite3.Connection, given: dict[str, str | None], actor: str) -> int:
    """Assign calls (sha256 -> a reviewer's name, or None: no one), each change in the trail
    (action "assign", before and after the assignee). How many changed."""
    changed = 0
    with transaction(conn):
        for sha, who in given.items():
            row = conn.execute("SELECT assigned_to FROM assignments WHERE sha256 = ?",
                               (sha,)).fetchone()
            before = row[0] if row else None
            if before == who:
                continue
            if who is None:
                conn.execute("DELETE FROM assignments WHERE sha256 = ?", (sha,))
            else:
                conn.execute("INSERT OR REPLACE INTO assignments (sha256, assigned_to, assigned_by, at) "
                             "VALUES (?, ?, ?, ?)", (sha, who, actor, now()))
            _trail(conn, actor, "assign", sha, None, {"assigned_to": before}, {"assigned_to": who})
            changed += 1
    return changed


def assignment(conn: sqlite3.Connection, sha256: str) -> dict[str, Any] | None:
    """Who the call is assigned to: assigned_to, assigned_by, at; None when no one."""
    rows = fetch_rows(conn, "SELECT assigned_to, assigned_by, at FROM assignments WHERE sha256 = ?",
                      (sha256,))
    return rows[0] if rows else None


def assignments_of_day(conn: sqlite3.Connection, day: str) -> dict[str, str]:
    """sha256 -> assignee of the calls in `day`'s queue that are assigned."""
    return {r[0]: r[1] for r in conn.execute("""
        SELECT a.sha256, a.assigned_to FROM assignments a
        JOIN sample_items i ON i.sha256 = a.sha256 JOIN sample_plans p ON p.id = i.plan
        WHERE p.day = ?""", (day,))}


def reviewer_names(conn: sqlite3.Connection) -> list[str]:
    """Enabled reviewers and supervisors (those a queue is assigned to), by name; admins,
    who keep the accounts, are left out."""
    return [r[0] for r in conn.execute(
        "SELECT name FROM users WHERE NOT disabled AND role IN ('reviewer', 'supervisor') "
        "ORDER BY name")]


# --- calibration -------------------------------------------------------------------------------
def add_calibration(conn: sqlite3.Connection, name: str, calls: list[str], actor: str) -> int:
    with transaction(conn):
        cal = int(conn.execute("INSERT INTO calibrations (name, created_by, at) VALUES (?, ?, ?)",
                               (name, actor, now())).lastrowid or 0)
        conn.executemany("INSERT INTO calibration_calls VALUES (?, ?)",
                         [(cal, c) for c in dict.fromkeys(calls)])
        _trail(conn, actor, "calibration_add", None, None, None, {"name": name, "calls": calls})
    return cal


def calibration_blockers(conn: sqlite3.Connection, shas: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Why each of the calls `shas` cannot join a new calibration session, for those that
    cannot (the others are left out): {"why": "reviewed"} when a verdict is already on its
    page (a review, a decided appeal or a missed finding: not blind), or {"why":
    "in_calibration", "calibration": id, "name": name} when an open session holds it."""
    wanted = json.dumps(list(dict.fromkeys(shas)))
    out: dict[str, dict[str, Any]] = {}
    for r in conn.execute("""
        SELECT k.sha256, s.id, s.name FROM calibration_calls k JOIN calibrations s
          ON s.id = k.calibration
        WHERE s.closed_at IS NULL AND k.sha256 IN (SELECT value FROM json_each(?))
        ORDER BY s.id""", (wanted,)):
        out.setdefault(r[0], {"why": "in_calibration", "calibration": int(r[1]), "name": r[2]})
    for (h,) in conn.execute("""
        SELECT sha256 FROM reviews WHERE calibration IS NULL AND sha256 IN (SELECT value FROM json_each(?1))
        UNION SELECT sha256 FROM appeals WHERE state != 'open' AND sha256 IN (SELECT value FROM json_each(?1))
        UNION SELECT sha256 FROM missed_findings WHERE calibration IS NULL
          AND sha256 IN (SELECT value FROM json_each(?1))""", (wanted,)):
        out[h] = {"why": "reviewed"}  # the stronger reason: no session can take it blind
    return out


def close_calibration(conn: sqlite3.Connection, cal: int, actor: str) -> None:
    with transaction(conn):
        n = conn.execute("UPDATE calibrations SET closed_at = ? WHERE id = ? AND closed_at IS NULL",
                         (now(), cal)).rowcount
        if not n:
            raise AuditError(f"calibration {cal} is not open")
        _trail(conn, actor, "calibration_close", None, None, None, {"calibration": cal})


def open_calibration_of(conn: sqlite3.Connection, sha256: str) -> int | None:
    """An open calibration session holding the call, if any (its ordinary review waits)."""
    row = conn.execute("SELECT k.id FROM calibrations k JOIN calibration_calls c ON "
                       "c.calibration = k.id WHERE c.sha256 = ? AND k.closed_at IS NULL",
                       (sha256,)).fetchone()
    return int(row[0]) if row else None


def calibrations(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return fetch_rows(conn, "SELECT k.id, k.name, k.created_by, k.at, k.closed_at, (SELECT COUNT(*) FROM "
                       "calibration_calls c WHERE c.calibration = k.id) AS calls FROM calibrations k "
                       "ORDER BY k.id DESC")


def calibration(conn: sqlite3.Connection, cal: int) -> dict[str, Any] | None:
    """A calibration session: id, name, created_by, at, calls [{sha256, call_id, agent_id}]."""
    row = conn.execute("SELECT * FROM calibrations WHERE id = ?", (cal,)).fetchone()
    if row is None:
        return None
    d = dict(row)
    d["calls"] = fetch_rows(conn, "SELECT k.sha256, c.call_id, c.agent_id FROM calibration_calls k "
                             "LEFT JOIN calls c ON c.sha256 = k.sha256 WHERE k.calibration = ? "
                             "ORDER BY c.call_id", (cal,))
    return d


def calibration_progress(conn: sqlite3.Connection, cal: int) -> dict[str, int]:
    """reviewer -> how many findings of the session they rated (the latest rating counts once)."""
    return {r[0]: r[1] for r in conn.execute(
        "SELECT reviewer, COUNT(DISTINCT sha256 || ' ' || rule) FROM reviews WHERE calibration = ? "
        "GROUP BY reviewer ORDER BY reviewer", (cal,))}


def calibration_findings(conn: sqlite3.Connection, cal: int) -> int:
    """How many findings a participant of the session rates: its calls' failed findings."""
    return int(conn.execute("""
        SELECT COUNT(*) FROM findings f JOIN calls c ON c.id = f.call
        JOIN calibration_calls k ON k.sha256 = c.sha256
        WHERE k.calibration = ? AND c.status = 'ok' AND f.applicable AND NOT f.passed""",
        (cal,)).fetchone()[0])


def calibration_ratings(conn: sqlite3.Connection, cal: int) -> list[tuple[str, str, str, str]]:
    """(call sha256, rule, reviewer, state) of a session's reviews, in time order."""
    return [(r[0], r[1], r[2], r[3]) for r in conn.execute(
        "SELECT sha256, rule, reviewer, state FROM reviews WHERE calibration = ? ORDER BY seq",
        (cal,))]


# --- what the reviews teach --------------------------------------------------------------------
def precision_by_rule(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """rule -> reviewed (failed findings with a standing review), confirmed, overturned,
    not_applicable, precision (confirmed / reviewed; None when none reviewed) and missed (the
    findings reviewers added that the machine did not make). Appeal decisions count as the
    finding's latest review. Calibration reviews are left out (they are blind repeats)."""
    out: dict[str, dict[str, Any]] = {}
    failed = {(r[0], r[1]) for r in conn.execute(
        "SELECT c.sha256, f.rule FROM findings f JOIN calls c ON c.id = f.call "
        "WHERE c.status = 'ok' AND f.applicable AND NOT f.passed")}
    for sha in {s for s, _ in failed} & set(reviewed_calls(conn)):
        for rule, rev in reviews_of_call(conn, sha).items():
            if (sha, rule) not in failed:
                continue
            row = out.setdefault(rule, {"reviewed": 0, "confirmed": 0, "overturned": 0,
                                        "not_applicable": 0, "missed": 0})
            row["reviewed"] += 1
            row[rev["state"]] += 1
    for rule, n in conn.execute("SELECT m.rule, COUNT(*) FROM missed_findings m JOIN calls c ON "
                                "c.sha256 = m.sha256 WHERE c.status = 'ok' AND m.calibration IS "
                                "NULL GROUP BY m.rule"):
        out.setdefault(rule, {"reviewed": 0, "confirmed": 0, "overturned": 0,
                              "not_applicable": 0, "missed": 0})["missed"] = n
    for row in out.values():
        row["precision"] = round(row["confirmed"] / row["reviewed"], 3) if row["reviewed"] else None
    return out


def has_review_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reviews'"
                        ).fetchone() is not None


def review_columns(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """calls.id -> what people decided, as export columns: reviewed_score, reviewed_passed,
    reviewed_findings ('rule:state ...'; '*' after a state given under another rules version),
    missed_findings ('rule ...'), open_appeals. Only calls with any of these."""
    if not has_review_tables(conn):
        return {}
    out: dict[int, dict[str, Any]] = {}
    calls = {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT sha256, id, rules_version FROM calls WHERE status = 'ok'")}
    shas = set(reviewed_calls(conn)) | {r[0] for r in conn.execute(
        "SELECT sha256 FROM appeals WHERE state = 'open'")}
    for sha in sorted(shas & set(calls)):
        cid, version = calls[sha]
        rs = reviewed_score(conn, sha)
        states = reviews_of_call(conn, sha)
        out[cid] = {
            "reviewed_score": rs["score"] if rs else None,
            "reviewed_passed": rs["passed"] if rs else None,
            "reviewed_findings": " ".join(
                f"{rule}:{v['state']}" + ("*" if v.get("rules_version") not in (None, version) else "")
                for rule, v in sorted(states.items())),
            "missed_findings": " ".join(m["rule"] for m in missed_of_call(conn, sha)),
            "open_appeals": len(appeals(conn, sha256=sha, state="open")),
        }
    return out


def review_of_call(conn: sqlite3.Connection, sha256: str) -> dict[str, Any] | None:
    """Everything people decided about one call, for its exported result (None if nothing):
    reviewed score, findings' standing reviews, missed findings, notes, appeals."""
    if not has_review_tables(conn):
        return None
    d = {"reviewed": reviewed_score(conn, sha256), "findings": reviews_of_call(conn, sha256),
         "missed": missed_of_call(conn, sha256), "notes": notes_of_call(conn, sha256),
         "appeals": appeals(conn, sha256=sha256)}
    return d if any(d.values()) else None


# --- reports: what people decided, an agent's record, the center's trail -----------------------
def _call_filter(day_from: str | None, day_to: str | None, agent_id: str | None
                 ) -> tuple[list[str], list[Any]]:
    where, args = ["c.status = 'ok'"], []
    for sql, val in (("c.day >= ?", day_from), ("c.day <= ?", day_to), ("c.agent_id = ?", agent_id)):
        if val:
            where.append(sql)
            args.append(val)
    return where, args


def reviewed_findings(conn: sqlite3.Connection, day_from: str | None = None,
                      day_to: str | None = None, agent_id: str | None = None,
                      rule: str | None = None) -> list[dict[str, Any]]:
    """Every finding people decided on (an ordinary review, an appeal, or a missed finding a
    reviewer added), of the audited calls of days `day_from`..`day_to` (inclusive), of
    `agent_id`, of `rule`; newest day first, then call and rule. Each row: sha256, call_id,
    agent_id, day, rule, machine (failed / passed / not_applicable; "" when the machine made no
    such finding), state (the latest review's: confirmed / overturned / not_applicable;
    "missed" for a finding a reviewer added; "" when none), reason, reviewer, at, appeal
    ("" or the latest appeal's state: open / finding_upheld / finding_overturned),
    appeal_comment, decided_by, decision_reason, decided_at, standing (the finding's state
    after everything: confirmed / overturned / not_applicable, "" when nobody decided).
    Calibration reviews are left out (blind repeats that change nothing)."""
    where, args = _call_filter(day_from, day_to, agent_id)
    rule_sql = " AND rule = ?" if rule else ""
    rargs = [rule] if rule else []
    keys = fetch_rows(conn, f"""
        SELECT c.id, c.sha256, c.call_id, c.agent_id, c.day, k.rule FROM calls c JOIN (
          SELECT sha256, rule FROM reviews WHERE calibration IS NULL{rule_sql}
          UNION SELECT sha256, rule FROM appeals WHERE 1{rule_sql}
          UNION SELECT sha256, rule FROM missed_findings WHERE calibration IS NULL{rule_sql}
        ) k ON k.sha256 = c.sha256
        WHERE {' AND '.join(where)} ORDER BY c.day DESC, c.call_id, c.id, k.rule""",  # noqa: S608
        (*rargs, *rargs, *rargs, *args))
    out: list[dict[str, Any]] = []
    by_call: dict[str, dict[str, Any]] = {}
    for k in keys:
        sha = k["sha256"]
        if sha not in by_call:
            machine = {r[0]: ("not_applicable" if not r[1] else "passed" if r[2] else "failed")
                       for r in conn.execute("SELECT rule, applicable, passed FROM findings "
                                             "WHERE call = ?", (k["id"],))}
            latest = {}
            for r in fetch_rows(conn, "SELECT rule, state, reason, reviewer, at FROM reviews "
                                "WHERE sha256 = ? AND calibration IS NULL ORDER BY seq", (sha,)):
                latest[r["rule"]] = r
            missed = {}
            for m in missed_of_call(conn, sha):
                missed.setdefault(m["rule"], m)
            appealed = {a["rule"]: a for a in appeals(conn, sha256=sha)}  # oldest first: the last wins
            by_call[sha] = {"machine": machine, "latest": latest, "missed": missed,
                            "appeals": appealed, "standing": reviews_of_call(conn, sha)}
        d = by_call[sha]
        rid = k["rule"]
        rev, mis, app = d["latest"].get(rid), d["missed"].get(rid), d["appeals"].get(rid)
        if rev is not None:
            state, reason, reviewer, at = rev["state"], rev["reason"], rev["reviewer"], rev["at"]
        elif mis is not None:
            state, reason, reviewer, at = "missed", mis["comment"], mis["reviewer"], mis["at"]
        else:
            state = reason = reviewer = at = ""
        standing = d["standing"].get(rid, {}).get("state", "")
        if not standing and mis is not None:
            standing = "confirmed"  # a reviewer's added finding stands until an appeal says not
        out.append({"sha256": sha, "call_id": k["call_id"], "agent_id": k["agent_id"],
                    "day": k["day"], "rule": rid, "machine": d["machine"].get(rid, ""),
                    "state": state, "reason": reason or "", "reviewer": reviewer or "",
                    "at": at or "", "appeal": app["state"] if app else "",
                    "appeal_comment": (app or {}).get("comment") or "",
                    "decided_by": (app or {}).get("decided_by") or "",
                    "decision_reason": (app or {}).get("decision_reason") or "",
                    "decided_at": (app or {}).get("decided_at") or "", "standing": standing})
    return out


def agents(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Agents with audited calls: agent_id, calls, avg_score, first and last day."""
    return fetch_rows(conn, """
        SELECT agent_id, COUNT(*) AS calls, ROUND(AVG(score), 1) AS avg_score,
               MIN(day) AS first_day, MAX(day) AS last_day
        FROM calls WHERE status = 'ok' AND agent_id IS NOT NULL GROUP BY agent_id ORDER BY agent_id""")


def agent_days(conn: sqlite3.Connection, agent_id: str) -> list[dict[str, Any]]:
    """An agent's audited calls by day, oldest first: day, calls, score (the day's average
    score after review: the reviewed score where there is one, else the machine's), machine
    (the machine's average), passed (calls passing after review)."""
    return fetch_rows(conn, """
        SELECT c.day, COUNT(*) AS calls, ROUND(AVG(COALESCE(r.score, c.score)), 1) AS score,
               ROUND(AVG(c.score), 1) AS machine,
               SUM(COALESCE(r.passed, c.passed)) AS passed
        FROM calls c LEFT JOIN reviewed_scores r ON r.sha256 = c.sha256
        WHERE c.status = 'ok' AND c.agent_id = ? AND c.day IS NOT NULL
        GROUP BY c.day ORDER BY c.day""", (agent_id,))


def agent_failed_rules(conn: sqlite3.Connection, agent_id: str) -> list[dict[str, Any]]:
    """The rules an agent fails most, what stands after review (a failure overturned or
    found not applicable is left out; a reviewer's missed finding counts): rule, count and
    calls [{sha256, call_id, day, start}] (newest first; start: the first moment shown, or
    None), most frequent first."""
    failed = fetch_rows(conn, """
        SELECT c.sha256, c.call_id, c.day, f.rule, f.start, f.review FROM findings f
        JOIN calls c ON c.id = f.call
        WHERE c.status = 'ok' AND c.agent_id = ? AND f.applicable AND NOT f.passed
        ORDER BY c.day DESC, c.id""", (agent_id,))
    failed += fetch_rows(conn, """
        SELECT c.sha256, c.call_id, c.day, m.rule, m.start FROM missed_findings m
        JOIN calls c ON c.sha256 = m.sha256
        WHERE c.status = 'ok' AND c.agent_id = ? AND m.calibration IS NULL
        ORDER BY c.day DESC, c.id""", (agent_id,))
    decided = set(reviewed_calls(conn))
    standing: dict[str, dict[str, dict[str, Any]]] = {}
    rules: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, str]] = set()
    for f in failed:
        sha, rid = f["sha256"], f["rule"]
        if (sha, rid) in seen:
            continue
        seen.add((sha, rid))
        if sha in decided and sha not in standing:
            standing[sha] = reviews_of_call(conn, sha)
        state = standing.get(sha, {}).get(rid, {}).get("state")
        # a failure for review deducts nothing until a person confirms it
        if state is None and f.get("review"):
            continue
        if (state or "confirmed") != "confirmed":
            continue
        row = rules.setdefault(rid, {"rule": rid, "count": 0, "calls": []})
        row["count"] += 1
        row["calls"].append({"sha256": sha, "call_id": f["call_id"], "day": f["day"],
                             "start": f["start"]})
    return sorted(rules.values(), key=lambda r: (-r["count"], r["rule"]))


def trail(conn: sqlite3.Connection, actor: str | None = None, day: str | None = None,
          offset: int = 0, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
    """The center's audit trail, newest first, by `actor` and of `day` (YYYY-MM-DD): a page
    of `limit` entries from `offset` (id, at, actor, action, sha256, call_id, rule,
    before_json, after_json) and how many entries match. Reviews of a calibration session
    still open are left out (they are blind until it closes)."""
    where = ["NOT (t.action = 'calibration_review' AND EXISTS (SELECT 1 FROM calibrations k "
             "WHERE k.id = json_extract(t.after_json, '$.calibration') AND k.closed_at IS NULL))"]
    args: list[Any] = []
    if actor:
        where.append("t.actor = ?")
        args.append(actor)
    if day:
        where.append("substr(t.at, 1, 10) = ?")
        args.append(day)
    sql = " AND ".join(where)
    total = int(conn.execute(f"SELECT COUNT(*) FROM trail t WHERE {sql}", args).fetchone()[0])  # noqa: S608
    rows = fetch_rows(conn, f"""
        SELECT t.id, t.at, t.actor, t.action, t.sha256, c.call_id, t.rule, t.before_json,
               t.after_json FROM trail t LEFT JOIN calls c ON c.sha256 = t.sha256
        WHERE {sql} ORDER BY t.id DESC LIMIT ? OFFSET ?""", (*args, limit, offset))  # noqa: S608
    return rows, total


def trail_actors(conn: sqlite3.Connection) -> list[str]:
    """Everyone who appears in the trail, by name."""
    return [r[0] for r in conn.execute("SELECT DISTINCT actor FROM trail ORDER BY actor")]
