"""Calibration sessions: the same calls reviewed blind by several people, then their
agreement per rule (review/agreement.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from callaudit.errors import AuditError
from callaudit.results import reviews
from callaudit.review.agreement import agreement_by_rule
from callaudit.review.web.site import can, conn, flashed, me, need, site, text


def blueprint() -> Blueprint:
    bp = Blueprint("calibration", __name__)

    @bp.get("/calibration")
    @need("review")
    def calibration_list() -> Any:
        day = request.args.get("day") or None
        return render_template("calibrations.html.j2", sessions=reviews.calibrations(conn()),
                               days=reviews.days(conn()), day=day,
                               calls=candidates(day) if day else [])

    @bp.post("/calibration")
    @need("calibrate")
    def calibration_add() -> Any:
        chosen = list(dict.fromkeys(s for s in request.form.getlist("call")
                                    if reviews.call_by_sha(conn(), s)))
        try:
            if len(chosen) < 1:
                raise AuditError(site().W["choose_calls"])
            blocked = reviews.calibration_blockers(conn(), chosen)
            if blocked:  # a verdict already on the page (not blind), or held by another session
                raise AuditError("；".join(refused(s, why) for s, why in blocked.items()))
            cal = reviews.add_calibration(conn(), text("name"), chosen, me().name)
        except AuditError as e:
            flash(str(e), "error")
            return redirect(url_for("calibration.calibration_list"))
        return redirect(url_for("calibration.calibration_page", cal=cal))

    @bp.get("/calibration/<int:cal>")
    @need("review")
    def calibration_page(cal: int) -> Any:
        k = reviews.calibration(conn(), cal)
        if k is None:
            abort(404)
        # agreement once the session is closed: a participant who saw it could change a rating
        agreement = agreement_by_rule(reviews.calibration_ratings(conn(), cal)) \
            if can("calibrate") and k["closed_at"] else None
        return render_template("calibration.html.j2", k=k, agreement=agreement)

    @bp.post("/calibration/<int:cal>/close")
    @need("calibrate")
    def calibration_close(cal: int) -> Any:
        with flashed():
            k = reviews.calibration(conn(), cal)
            if k is None:
                abort(404)
            if k["closed_at"]:
                raise AuditError(site().W["already_closed"])
            reviews.close_calibration(conn(), cal, me().name)
        return redirect(url_for("calibration.calibration_page", cal=cal))

    return bp


def candidates(day: str) -> list[dict[str, Any]]:
    """The day's calls a new session takes: none with a verdict on its page already, none
    held by an open session (calibration_add refuses those)."""
    calls = reviews.call_list(conn(), day=day, limit=1000)
    blocked = reviews.calibration_blockers(conn(), [c["sha256"] for c in calls])
    return [c for c in calls if c["sha256"] not in blocked][:200]


def refused(sha: str, why: dict[str, Any]) -> str:
    """A call a new session cannot take: which (its call id) and why."""
    W = site().W
    c = reviews.call_by_sha(conn(), sha)
    name = (c and c["call_id"]) or sha[:12]
    if why["why"] == "reviewed":
        return f"{name}: {W['already_reviewed']}"
    return f"{name}: {W['in_open_session'].format(why['name'])}"
