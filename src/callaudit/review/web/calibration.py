"""Calibration sessions: the same calls reviewed blind by several people, then their
agreement per rule (review/agreement.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from callaudit.errors import AuditError
from callaudit.results import reviews
from callaudit.review.agreement import (
    agreement_by_rule,
    disagreements,
    kappa_band,
    overall_agreement,
    pair_agreement,
)
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
        report = closed_report(cal, k) if can("calibrate") and k["closed_at"] else None
        return render_template("calibration.html.j2", k=k,
                               agreement=report["by_rule"] if report else None, report=report,
                               progress=progress(cal) if not k["closed_at"] else None)

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


def progress(cal: int) -> dict[str, Any]:
    """While a session is open: how many findings each participant rated of those expected
    (every failed finding of its calls), participants being every account that reviews and
    anyone who rated. Counts only: no one's verdicts."""
    given = reviews.calibration_progress(conn(), cal)
    names = sorted(set(reviews.reviewer_names(conn())) | set(given))
    return {"expected": reviews.calibration_findings(conn(), cal),
            "rows": [{"name": n, "rated": given.get(n, 0)} for n in names]}


def closed_report(cal: int, k: dict[str, Any]) -> dict[str, Any]:
    """A closed session's agreement: per rule, over all rules (with its band in plain words),
    per pair of reviewers, and the findings rated differently with each reviewer's rating."""
    ratings = reviews.calibration_ratings(conn(), cal)
    overall = overall_agreement(ratings)
    ids = {c["sha256"]: c["call_id"] or c["sha256"][:12] for c in k["calls"]}
    return {"by_rule": agreement_by_rule(ratings), "overall": overall,
            "band": kappa_band(overall.kappa) if overall and overall.kappa is not None else None,
            "pairs": pair_agreement(ratings),
            "disagreements": [{"sha256": sha, "call": ids.get(sha, sha[:12]), "rule": rule,
                               "ratings": who} for sha, rule, who in disagreements(ratings)]}
