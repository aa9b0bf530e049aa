"""The day's review queue (抽检): shown, and drawn once (review/queue.py draws it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from callaudit.errors import AuditError
from callaudit.results import reviews
from callaudit.review.queue import queue_of_day
from callaudit.review.web.site import conn, flashed, me, need, site


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

    return bp
