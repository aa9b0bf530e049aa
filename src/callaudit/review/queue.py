"""The day's review queue (抽检) from the database: drawn once, stored with its seed and rules,
shown the same way by `audit sample` and the workbench."""

from __future__ import annotations

import sqlite3
from typing import Any

from callaudit.errors import AuditError
from callaudit.results import reviews
from callaudit.review.sampling import (
    Candidate,
    PlanRules,
    default_seed,
    draw,
    low_confidence,
    nights_left_in_month,
)
from callaudit.rules.pack import RulePack

MUST = ("fatal", "needs_review", "low_confidence")  # reasons every such call is queued for


def queue_of_day(conn: sqlite3.Connection, day: str, pack: RulePack, actor: str,
                 seed: str | None = None) -> tuple[dict[str, Any], bool]:
    """(the day's plan as reviews.plan_of_day gives it, whether it was drawn now). A day
    already drawn keeps its queue, whatever `pack` and `seed` say now: the queue a team works
    through does not change under it; calls of the day audited since that must be reviewed
    (fatal, needs review, low confidence) are added at its end."""
    calls = [Candidate(sha256=r["sha256"], agent_id=r["agent_id"], score=r["score"],
                       fatal=bool(r["fatal"]), needs_review=bool(r["needs_review"]),
                       low_confidence=low_confidence(r["result"], pack.settings))
             for r in reviews.day_candidates(conn, day)]
    plan = reviews.plan_of_day(conn, day)
    if plan is not None:
        late = [(c.sha256, c.agent_id, next(m for m in MUST if getattr(c, m)))
                for c in sorted(calls, key=lambda c: c.sha256) if any(getattr(c, m) for m in MUST)]
        if reviews.add_to_plan(conn, day, late, actor):
            plan = reviews.plan_of_day(conn, day) or plan
        return plan, False
    rules = PlanRules.from_settings(pack.settings)
    if not calls:
        raise AuditError(f"no audited calls on {day} (days are the calls' `day`, from --pattern "
                         "or the manifest)")
    seed = seed or default_seed(day)
    nights = nights_left_in_month(day)
    picks = draw(calls, rules, seed, reviews.sampled_this_month(conn, day), nights,
                 shifts_left(reviews.days_worked_this_month(conn, day), int(day[8:10]), nights))
    reviews.save_plan(conn, day, seed, rules.to_json(),
                      [(p.sha256, p.agent_id, p.reason) for p in picks], actor)
    return reviews.plan_of_day(conn, day) or {}, True


def shifts_left(worked: dict[str, int], elapsed: int, nights_left: int) -> dict[str, int]:
    """Per agent, the nights left in the month they are expected to work: the nights left
    (tonight counted) times the share of the month's days so far they worked; at least 1.
    An agent who works one night in three must reach the month's quota in a third of the
    nights, or falls short of it."""
    return {a: max(1, -(-nights_left * n // max(elapsed, 1))) for a, n in worked.items()}
