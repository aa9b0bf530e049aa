"""The calls: the list, a call's page (the machine's verdict, people's verdicts, missed
findings, notes, appeals, the trail), its audio, and what reviewers and agents do there."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, flash, render_template, request, url_for
from flask_login import login_required

from callaudit.audio.decode import decode
from callaudit.audio.opus import opus_bytes
from callaudit.errors import AuditError
from callaudit.privacy.audio import mask_audio, spans_of
from callaudit.render.html import call_view
from callaudit.results import reviews, store
from callaudit.results.summary import business_lines
from callaudit.review.web import find
from callaudit.review.web.appeals import window_refusal
from callaudit.review.web.queue import assignment_refusal
from callaudit.review.web.site import (
    after_review,
    appealable,
    back,
    can,
    conn,
    flashed,
    held,
    in_calibration,
    me,
    need,
    recording,
    requested_filters,
    rescore,
    rule_groups,
    rule_names,
    site,
    text,
    the_call,
)
from callaudit.review.words import WORDS


def blueprint() -> Blueprint:
    bp = Blueprint("calls", __name__)

    @bp.get("/calls")
    @login_required
    def calls() -> Any:
        """Find calls (review/web/find.py reads the filters): a page of 50, the total."""
        u = me()
        staff = can("see_all_calls")
        rules = {r.id for r in site().pack.rules}
        f = requested_filters()
        rows, total = reviews.find_calls(conn(), f.query, f.page, find.PER_PAGE)
        last = find.pages(total)
        page = f.page
        if page > last:  # past the end (the calls changed since the link): the last page
            page = last
            rows, total = reviews.find_calls(conn(), f.query, page, find.PER_PAGE)
        q = f.query
        one_day = q.day_from if q.day_from == q.day_to else None
        # per business line (scorecards) for those who see every call, when there are several:
        # of the day shown, or of every day when no days are asked for
        lines = business_lines(conn(), one_day) if staff and (one_day or not q.day_from and
                                                              not q.day_to) else []
        # the recordings of those days that could not be audited: for reviewers, not agents
        failed = [r for r in store.failed_files(conn(), one_day, limit=500)
                  if (q.day_from is None or (r["day"] or "") >= q.day_from)
                  and (q.day_to is None or (r["day"] or "") <= q.day_to)] if staff else []

        def link(**change: Any) -> str:
            return url_for("calls.calls", **{**f.params, **change})

        return render_template(
            "calls.html.j2", calls=rows, total=total, page=page, pages=last, p=f.params,
            link=link, choices=reviews.call_choices(conn(), None if staff else u.agent_id or "\0"),
            rule_groups=rule_groups(sorted(rules)), sort=q.sort,
            descending=q.descending, lines=lines, failed=failed)

    @bp.get("/calls/<sha>")
    @login_required
    def call(sha: str) -> Any:
        c = the_call(sha)
        u = me()
        cal = request.args.get("calibration", type=int)
        if cal is not None and (not can("review") or not in_calibration(cal, sha)):
            abort(404)
        result, meta = c["result"], {k: c[k] for k in ("call_id", "agent_id", "day", "file")}
        staff = can("see_all_calls")
        if not staff:  # where the recordings are kept is not an agent's business
            result = replace(result, file=Path(result.file).name)
            meta["file"] = Path(c["file"]).name
        view = call_view(result, site().lang, meta)
        held_in = reviews.open_calibration_of(conn(), sha)
        holder = reviews.calibration(conn(), held_in) if held_in is not None else None
        if cal is not None:  # blind: only this reviewer's own verdicts of this session
            standing = reviews.my_calibration_reviews(conn(), sha, cal, u.name)
        else:
            standing = reviews.reviews_of_call(conn(), sha)
        blind = cal is not None or (held_in is not None and staff)
        if blind and cal is None:  # in an open calibration session: no one's verdicts shown
            standing = {}
        appeal_list = [] if blind else reviews.appeals(conn(), sha256=sha)
        open_appeals = {a["rule"] for a in appeal_list if a["state"] == "open"}
        missed = [] if blind else reviews.missed_of_call(conn(), sha)
        reviewed = None if blind else reviews.reviewed_score(conn(), sha)
        pack = site().pack
        return render_template(
            "review_call.html.j2", **view, sha=sha, calibration=cal, in_calibration=held_in,
            audio_src=url_for("calls.audio", sha=sha) if recording(c["file"]).is_file() else None,
            standing=standing, current_rules=c["rules_version"],
            reviewed=reviewed, held_by=holder["name"] if holder else None,
            after=after_review(c["result"], standing, missed) if reviewed else None,
            notes=reviews.notes_of_call(conn(), sha) if staff and not blind else [],
            missed=missed, appeals=appeal_list, open_appeals=open_appeals,
            appealable=rule_groups(appealable(sha, c["result"]), c["result"])
            if can("appeal") else [],
            trail=reviews.trail_of_call(conn(), sha) if staff and not blind else [],
            rule_groups=rule_groups([r.id for r in pack.enabled_rules], c["result"]),
            RN=rule_names(c["result"]),
            next_call=reviews.next_in_queue(conn(), sha, u.name) if can("review") else None,
            closed=reviews.call_closed(conn(), sha) and not can("decide_appeal"))

    @bp.get("/workbench.js")
    @login_required
    def script() -> Any:
        """The workbench's one script (the CSP allows scripts from this site only, none
        inline): seek on click, the playhead, keyboard shortcuts, forms that submit on change."""
        return Response(render_template("workbench.js.j2"), mimetype="text/javascript")

    @bp.get("/calls/<sha>/audio")
    @login_required
    def audio(sha: str) -> Any:
        c = the_call(sha)
        try:
            path = recording(c["file"])
            s = site().pack.settings
            spans = tuple(spans_of(c["result"], s.redact_audio_pad_s)) if site().masked else None
            data = _opus(str(path), path.stat().st_mtime_ns, spans, s.redact_tone_hz)
        except (AuditError, OSError):
            abort(404)
        resp = Response(data, mimetype="audio/ogg")
        resp.headers["Cache-Control"] = "private, max-age=3600"
        # byte ranges: without them Chromium plays the Ogg as a live stream (no length, no seek)
        return resp.make_conditional(request, accept_ranges=True, complete_length=len(data))

    @bp.post("/calls/<sha>/review")
    @need("review")
    def review(sha: str) -> Any:
        c = the_call(sha)
        W = site().W
        cal = request.form.get("calibration", type=int)
        rule, state = request.form.get("rule", ""), request.form.get("state", "")
        with flashed():
            failed = {f.rule for f in c["result"].findings if f.applicable and not f.passed}
            if rule not in failed:
                raise AuditError(f"{rule[:64]}：{W['not_failed']}")
            if state not in reviews.STATES:
                raise AuditError(W["bad_state"])
            if cal is not None and not in_calibration(cal, sha):
                abort(404)
            if cal is not None and not in_calibration(cal, sha, open_only=True):
                raise AuditError(W["calibration_closed"])
            if cal is None:
                busy = reviews.open_calibration_of(conn(), sha)
                if busy is not None:
                    raise AuditError(held(busy))
                taken = assignment_refusal(sha)  # assigned to another: confirm first
                if taken:
                    raise AuditError(taken)
                standing = reviews.reviews_of_call(conn(), sha).get(rule)
                if standing and standing["source"] == "appeal" and not can("decide_appeal"):
                    raise AuditError(W["decided_on_appeal"])
                if standing and not can("decide_appeal") and reviews.call_closed(conn(), sha):
                    raise AuditError(W["call_closed"])
            reason = text("reason", required=state == "overturned")
            reviews.add_review(conn(), sha, rule, state, reason, me().name, c["rules_version"], cal)
            if cal is None:
                rescore(sha)
            flash(f"{W['saved_' + state]}：{rule_names(c['result']).get(rule, rule)}", "ok")
        # at the finding judged (a calibration session's page: its top, as before)
        return back(sha, cal, f"f-{rule}" if rule in failed and cal is None else None)

    @bp.post("/calls/<sha>/missed")
    @need("review")
    def add_missed(sha: str) -> Any:
        c = the_call(sha)
        W = site().W
        with flashed():
            rule = request.form.get("rule", "")
            if rule not in {r.id for r in site().pack.enabled_rules}:
                raise AuditError(f"{rule[:64]}：{W['not_a_rule']}")
            try:
                reviews.add_missed(conn(), sha, rule,
                                   parse_time(request.form.get("start", ""), c["result"].duration_s,
                                              W),
                                   text("comment"), me().name, c["rules_version"])
            except reviews.DuplicateMissed:
                raise AuditError(f"{rule_names(c['result']).get(rule, rule)}：{W['duplicate_missed']}") \
                    from None
            rescore(sha)
            flash(f"{W['saved_missed']}：{rule_names(c['result']).get(rule, rule)}", "ok")
        return back(sha, anchor="missed")

    @bp.post("/calls/<sha>/missed/<int:mid>")
    @need("review")
    def change_missed(sha: str, mid: int) -> Any:
        """Edit (time, comment) or withdraw (`withdraw` given) one's own missed finding."""
        c = the_call(sha)
        W = site().W
        with flashed():
            try:
                if request.form.get("withdraw"):
                    rule = reviews.withdraw_missed(conn(), mid, sha, me().name)
                    done = W["withdrawn"]
                else:
                    start = parse_time(request.form.get("start", ""), c["result"].duration_s, W)
                    rule = reviews.edit_missed(conn(), mid, sha, start, text("comment"), me().name)
                    done = W["edited"]
            except reviews.DuplicateMissed:
                raise AuditError(W["duplicate_missed"]) from None
            except reviews.NotYours:
                raise AuditError(W["not_yours"]) from None
            except reviews.CallClosed:
                raise AuditError(W["call_closed"]) from None
            rescore(sha)
            flash(f"{done}：{rule_names(c['result']).get(rule, rule)}", "ok")
        return back(sha, anchor="missed")

    @bp.post("/calls/<sha>/note")
    @need("review")
    def add_note(sha: str) -> Any:
        the_call(sha)
        with flashed():
            reviews.add_note(conn(), sha, me().name, text("note"))
            flash(site().W["saved_note"], "ok")
        return back(sha, anchor="notes")

    @bp.post("/calls/<sha>/note/<int:nid>")
    @need("review")
    def change_note(sha: str, nid: int) -> Any:
        """Edit or withdraw (`withdraw` given) one's own note."""
        the_call(sha)
        W = site().W
        with flashed():
            try:
                if request.form.get("withdraw"):
                    reviews.withdraw_note(conn(), nid, sha, me().name)
                    flash(f"{W['withdrawn']}：{W['note']}", "ok")
                else:
                    reviews.edit_note(conn(), nid, sha, text("note"), me().name)
                    flash(f"{W['edited']}：{W['note']}", "ok")
            except reviews.NotYours:
                raise AuditError(W["not_yours"]) from None
            except reviews.CallClosed:
                raise AuditError(W["call_closed"]) from None
        return back(sha, anchor="notes")

    @bp.post("/calls/<sha>/appeal")
    @need("appeal")
    def appeal(sha: str) -> Any:
        c = the_call(sha)
        rule = request.form.get("rule", "")
        with flashed():
            late = window_refusal(reviews.audited_at(conn(), sha))  # the center's appeal window
            if late:
                raise AuditError(late)
            if rule not in appealable(sha, c["result"]):
                raise AuditError(f"{rule[:64]}：{site().W['not_appealable']}")
            reviews.add_appeal(conn(), sha, rule, me().name, text("comment"))
        return back(sha)

    return bp


def parse_time(value: str, duration_s: float, words: dict[str, str] = WORDS["en"]) -> float | None:
    """'1:05' or '65' or '' -> seconds into a call of `duration_s` (None when empty);
    AuditError for anything else, or a time outside the call, said in `words`."""
    value = value.strip()[:32]
    if not value:
        return None
    try:
        parts = [float(p) for p in value.split(":")]
    except ValueError:
        raise AuditError(f"{value}：{words['bad_time']}") from None
    if len(parts) > 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        raise AuditError(f"{value}：{words['bad_time']}")
    t = 0.0
    for p in parts:
        t = 60 * t + p
    if t > duration_s:
        raise AuditError(f"{value}：{words['time_after_end']} ({duration_s:.0f} {words['seconds']})")
    return t


@lru_cache(maxsize=16)
def _opus(path: str, mtime_ns: int, spans: tuple[tuple[float, float], ...] | None = None,
          tone_hz: float = 0.0) -> bytes:
    """A recording as Ogg Opus for the page, encoded once per file version (a player asks
    for byte ranges of it again and again); `spans` (seconds) masked when given."""
    if spans is None:
        return opus_bytes(path)
    return opus_bytes(mask_audio(decode(path), list(spans), tone_hz))
