"""Appeals (申诉): the list (an agent's own, everyone's for staff; open or decided), their
decisions, the appeal window (`appeal_window_days` after the audit) and the count of open
appeals in the top bar of those who decide them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from callaudit.errors import AuditError
from callaudit.results import reviews
from callaudit.review import accounts
from callaudit.review.web.site import (
    can,
    conn,
    flashed,
    held,
    me,
    need,
    recording,
    rescore,
    site,
    text,
)

FILTERS = ("open", "decided")  # the appeals page's ?state=; anything else: all


def blueprint() -> Blueprint:
    bp = Blueprint("appeals", __name__)

    @bp.get("/appeals")
    @login_required
    def appeal_list() -> Any:
        u = me()
        agent = None if can("see_all_calls") else (u.agent_id or "\0")
        shown = request.args.get("state", "")
        shown = shown if shown in FILTERS else ""
        rows = [a for a in reviews.appeals(conn(), agent_id=agent)
                if not shown or (a["state"] == "open") == (shown == "open")]
        audits = reviews.audits_of(conn(), [a["sha256"] for a in rows])
        for a in rows:  # what the finding stands at now, for whoever decides
            now = reviews.reviews_of_call(conn(), a["sha256"]).get(a["rule"])
            a["finding_state"] = now["state"] if now else "unreviewed"
            # a call held by an open calibration session takes no decision until it closes
            a["held_by"] = reviews.open_calibration_of(conn(), a["sha256"]) if a["state"] == "open" else None
            k = reviews.calibration(conn(), a["held_by"]) if a["held_by"] is not None else None
            a["held_name"] = k["name"] if k else None
            audit = audits.get(a["sha256"], {})
            a["deadline"] = deadline(audit.get("audited_at"))
            # the recording, to listen to before deciding (its path stays on the server)
            a["audio"] = bool(audit.get("file")) and recording(audit["file"]).is_file()
        return render_template("appeals.html.j2", appeals=rows, shown=shown)

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

    @bp.app_context_processor
    def _appeal_words() -> dict[str, Any]:
        """For the top bar: the open appeals' count (one COUNT, only when the bar asks and
        only for those who decide); for a call's page, its appeal deadline."""
        def open_count() -> int:
            if not current_user.is_authenticated or not accounts.can(me(), "decide_appeal"):
                return 0
            return reviews.open_appeal_count(conn())

        def call_deadline(sha: str) -> dict[str, Any] | None:
            at = reviews.audited_at(conn(), sha) if isinstance(sha, str) and len(sha) == 64 else None
            until = deadline(at)
            return None if until is None else {"until": until, "over": window_refusal(at) is not None}

        return {"open_appeal_count": open_count, "appeal_deadline": call_deadline}

    return bp


def deadline(audited_at: str | None) -> str | None:
    """The last moment (ISO 8601, local time, as stored) an agent may appeal a finding of a
    call audited at `audited_at`: `appeal_window_days` later. None when unknown."""
    if not audited_at:
        return None
    try:
        at = datetime.fromisoformat(audited_at)
    except ValueError:
        return None
    return (at + timedelta(days=site().pack.settings.appeal_window_days)).isoformat(timespec="seconds")


def window_refusal(audited_at: str | None) -> str | None:
    """Why an appeal of a call audited at `audited_at` is refused now (one line), or None."""
    W = site().W
    days = site().pack.settings.appeal_window_days
    if days <= 0:
        return W["appeal_window_none"]
    until = deadline(audited_at)
    if until is None or datetime.now() <= datetime.fromisoformat(until):
        return None
    return W["appeal_window_over"].format(days, until[:16].replace("T", " "))
