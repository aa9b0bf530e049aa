"""The day's review queue (抽检): shown, and drawn once (review/queue.py draws it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from callaudit.errors import AuditError
from callaudit.results import reviews
from callaudit.review.queue import queue_of_day
from callaudit.review.web.site import conn, flashed, me, need, site, the_call


def blueprint() -> Blueprint:
    bp = Blueprint("queue", __name__)

    @bp.get("/queue")
    @need("review")
    def queue() -> Any:
        days = reviews.days(conn())
        day = request.args.get("day") or (days[0] if days else "")
        plan = reviews.plan_of_day(conn(), day) if day else None
        return render_template("queue.html.j2", days=days, day=day, plan=plan)

    @bp.post("/queue")
    @need("review")
    def draw_queue() -> Any:
        day = request.form.get("day", "")
        with flashed(ValueError):  # a bad day
            if day not in reviews.days(conn()):
                raise AuditError(f"{day[:32]}：{site().W['no_calls_on_day']}")
            queue_of_day(conn(), day, site().pack, me().name)
        return redirect(url_for("queue.queue", day=day))

    # --- assignment: who reviews which queued call (a supervisor decides; not a lock) ------
    @bp.post("/queue/assign")
    @need(ASSIGN)
    def assign() -> Any:
        """The day's queue assigned: `how=even` shares the calls not yet assigned or reviewed
        among the chosen `reviewer`s (the one with the fewest of the day's calls first); else
        call `sha` to `reviewer` ("" = no one)."""
        W = site().W
        day = request.form.get("day", "")
        with flashed():
            plan = reviews.plan_of_day(conn(), day) if day in reviews.days(conn()) else None
            if plan is None:
                raise AuditError(f"{day[:32]}：{W['no_plan']}")
            known = set(reviews.reviewer_names(conn()))
            have = reviews.assignments_of_day(conn(), day)
            if request.form.get("how") == "even":
                chosen = list(dict.fromkeys(request.form.getlist("reviewer")))
                if not chosen:
                    raise AuditError(W["choose_reviewers"])
                for r in chosen:
                    if r not in known:
                        raise AuditError(f"{r[:64]}：{W['not_a_reviewer']}")
                given = share_evenly([i["sha256"] for i in plan["items"]
                                      if not i["reviews"] and i["sha256"] not in have],
                                     chosen, have)
            else:
                sha, who = request.form.get("sha", ""), request.form.get("reviewer", "")
                if sha not in {i["sha256"] for i in plan["items"]}:
                    raise AuditError(f"{sha[:12]}：{W['not_in_queue']}")
                if who and who not in known:
                    raise AuditError(f"{who[:64]}：{W['not_a_reviewer']}")
                given = {sha: who or None}
            n = reviews.assign(conn(), given, me().name)
            flash(W["assigned_n"].format(n), "ok")
        return redirect(url_for("queue.queue", day=day))

    @bp.post("/calls/<sha>/assigned-ok")
    @need("review")
    def acknowledge(sha: str) -> Any:
        """The confirm step: this reviewer knows the call is another's and reviews it anyway
        (remembered in their session, for this call)."""
        the_call(sha)
        seen = [s for s in session.get(ACK, []) if s != sha][-(ACK_KEEP - 1):]
        session[ACK] = [*seen, sha]
        return redirect(url_for("calls.call", sha=sha))

    @bp.app_context_processor
    def _assignment_words() -> dict[str, Any]:
        """For the queue page's assignment part and a call page's banner, computed only when
        a template asks."""
        def call_assignment(sha: str) -> dict[str, Any] | None:
            a = reviews.assignment(conn(), sha) if isinstance(sha, str) and len(sha) == 64 else None
            if a is None or not current_user.is_authenticated:
                return None
            return {**a, "mine": a["assigned_to"] == me().name,
                    "acknowledged": sha in session.get(ACK, [])}

        def day_assignments(day: str) -> dict[str, Any]:
            by_call = reviews.assignments_of_day(conn(), day) if day else {}
            mine = {sha for sha, who in by_call.items()
                    if current_user.is_authenticated and who == me().name}
            return {"by_call": by_call, "mine": mine, "reviewers": reviews.reviewer_names(conn())}

        return {"call_assignment": call_assignment, "day_assignments": day_assignments}

    return bp


ASSIGN = "calibrate"  # who assigns the queue: supervisors and admins (accounts.CAN)
ACK = "assigned_ok"  # the session's list of calls this reviewer confirmed reviewing anyway
ACK_KEEP = 50  # ... at most this many (the cookie stays small)


def share_evenly(calls: list[str], reviewers: list[str], have: dict[str, str]) -> dict[str, str | None]:
    """Calls (in queue order) given one by one to the reviewer who has the fewest of the day's
    calls so far, counting those assigned already (`have`: sha256 -> reviewer); ties go to
    the reviewer chosen first."""
    load = {r: sum(1 for w in have.values() if w == r) for r in reviewers}
    out: dict[str, str | None] = {}
    for sha in calls:
        who = min(reviewers, key=lambda r: (load[r], reviewers.index(r)))
        out[sha] = who
        load[who] += 1
    return out


def assigned_elsewhere(sha: str) -> str | None:
    """Who the call is assigned to, when that is not the user asking."""
    a = reviews.assignment(conn(), sha) if len(sha) == 64 else None
    return a["assigned_to"] if a and a["assigned_to"] != me().name else None


def assignment_refusal(sha: str) -> str | None:
    """Why a verdict on call `sha` waits for the confirm step (it is assigned to another
    reviewer and this one has not confirmed taking it: never a lock), or None."""
    other = assigned_elsewhere(sha)
    if other is None or sha in session.get(ACK, []):
        return None
    return site().W["assign_refused"].format(other)
