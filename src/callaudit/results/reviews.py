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


def add_missed(conn: sqlite3.Connection, sha256: str, rule: str, start: float | None,
               comment: str, reviewer: str, rules_version: str | None) -> None:
    with transaction(conn):
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
    return fetch_rows(conn, "SELECT author, note, at FROM call_notes WHERE sha256 = ? ORDER BY id",
                 (sha256,))


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
    """The day's queue: day, seed, rules (dict), drawn_at, drawn_by and items [{sha256,
    agent_id, reason, call_id, score, fatal, reviewed_score, reviews}] in queue order."""
    row = conn.execute("SELECT * FROM sample_plans WHERE day = ?", (day,)).fetchone()
    if row is None:
        return None
    plan = {k: row[k] for k in ("day", "seed", "drawn_at", "drawn_by")}
    plan["rules"] = json.loads(row["rules_json"])
    plan["items"] = fetch_rows(conn, """
        SELECT i.sha256, i.agent_id, i.reason, c.call_id, c.score, c.fatal,
               r.score AS reviewed_score,
               (SELECT COUNT(DISTINCT rule) FROM reviews v WHERE v.sha256 = i.sha256
                  AND v.calibration IS NULL) AS reviews
        FROM sample_items i LEFT JOIN calls c ON c.sha256 = i.sha256
        LEFT JOIN reviewed_scores r ON r.sha256 = i.sha256
        WHERE i.plan = ? ORDER BY i.position""", (row["id"],))
    return plan


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
