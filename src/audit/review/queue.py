"""The day's review queue (抽检) from the database: drawn once, stored with its seed and rules,
shown the same way by `audit sample` and the workbench."""

from __future__ import annotations

import sqlite3
from typing import Any

from audit.errors import AuditError
from audit.results import reviews
from audit.review.sampling import (
    Candidate,
    PlanRules,
    default_seed,
    draw,
    low_confidence,
    nights_left_in_month,
)
from audit.rules.pack import RulePack


def queue_of_day(conn: sqlite3.Connection, day: str, pack: RulePack, actor: str,
                 seed: str | None = None) -> tuple[dict[str, Any], bool]:
    """(the day's plan as reviews.plan_of_day gives it, whether it was drawn now). A day
    already drawn is shown as stored, whatever `pack` and `seed` say now: the queue a team
    works through does not change under it."""
    plan = reviews.plan_of_day(conn, day)
    if plan is not None:
        return plan, False
    rules = PlanRules.from_settings(pack.settings)
    calls = [Candidate(sha256=r["sha256"], agent_id=r["agent_id"], score=r["score"],
                       fatal=bool(r["fatal"]), needs_review=bool(r["needs_review"]),
                       low_confidence=low_confidence(r["result"], pack.settings))
             for r in reviews.day_candidates(conn, day)]
    if not calls:
        raise AuditError(f"no audited calls on {day} (days are the calls' `day`, from --pattern "
                         "or the manifest)")
    seed = seed or default_seed(day)
    picks = draw(calls, rules, seed, reviews.sampled_this_month(conn, day),
                 nights_left_in_month(day))
    reviews.save_plan(conn, day, seed, rules.to_json(),
                      [(p.sha256, p.agent_id, p.reason) for p in picks], actor)
    return reviews.plan_of_day(conn, day) or {}, True
