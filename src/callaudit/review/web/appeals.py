"""Appeals (申诉): the list (an agent's own, everyone's for staff) and their decisions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import login_required

from callaudit.errors import AuditError
from callaudit.results import reviews
from callaudit.review.web.site import can, conn, flashed, held, me, need, rescore, site, text


def blueprint() -> Blueprint:
    bp = Blueprint("appeals", __name__)

    @bp.get("/appeals")
    @login_required
    def appeal_list() -> Any:
        u = me()
        agent = None if can("see_all_calls") else (u.agent_id or "\0")
        rows = reviews.appeals(conn(), agent_id=agent)
        for a in rows:  # what the finding stands at now, for whoever decides
            now = reviews.reviews_of_call(conn(), a["sha256"]).get(a["rule"])
            a["finding_state"] = now["state"] if now else "unreviewed"
            # a call held by an open calibration session takes no decision until it closes
            a["held_by"] = reviews.open_calibration_of(conn(), a["sha256"]) if a["state"] == "open" else None
            k = reviews.calibration(conn(), a["held_by"]) if a["held_by"] is not None else None
            a["held_name"] = k["name"] if k else None
        return render_template("appeals.html.j2", appeals=rows)

    @bp.post("/appeals/<int:aid>")
    @need("decide_appeal")
    def decide(aid: int) -> Any:
        W = site().W
        a = reviews.appeal_by_id(conn(), aid)
        if a is None:
            abort(404)
        with flashed():
            busy = reviews.open_calibration_of(conn(), a["sha256"])
            if busy is not None:
                raise AuditError(held(busy))
            if a["state"] != "open":
                raise AuditError(W["appeal_decided"])
            if request.form.get("decision", "") not in reviews.DECISIONS:
                raise AuditError(W["bad_decision"])
            now = reviews.reviews_of_call(conn(), a["sha256"]).get(a["rule"])
            reviews.decide_appeal(conn(), aid, request.form.get("decision", ""), text("reason"),
                                  me().name, now["state"] if now else "unreviewed")
            rescore(a["sha256"])
        return redirect(request.form.get("back") == "call" and url_for("calls.call", sha=a["sha256"])
                        or url_for("appeals.appeal_list"))

    return bp
