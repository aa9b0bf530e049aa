"""The calls: the list, a call's page (the machine's verdict, people's verdicts, missed
findings, notes, appeals, the trail), its audio, and what reviewers and agents do there."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_login import login_required

from callaudit.audio.decode import decode
from callaudit.audio.opus import opus_bytes
from callaudit.errors import AuditError
from callaudit.privacy.audio import mask_audio, spans_of
from callaudit.render.html import call_view
from callaudit.results import reviews, store
from callaudit.results.summary import business_lines
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
        u = me()
        staff = can("see_all_calls")
        agent = request.args.get("agent") or None
        if not staff:
            agent = u.agent_id or "\0"  # an agent without an id sees nothing
        day = request.args.get("day") or None
        # per business line (scorecards) for those who see every call, when there are several
        lines = business_lines(conn(), day) if staff else []
        # the recordings of the night that could not be audited: for reviewers, not agents
        failed = store.failed_files(conn(), day, limit=500) if staff else []
        return render_template("calls.html.j2", calls=reviews.call_list(conn(), agent, day),
                               day=day, agent=agent, days=reviews.days(conn()), lines=lines,
                               failed=failed)

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
            RN=rule_names(c["result"]))

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
                standing = reviews.reviews_of_call(conn(), sha).get(rule)
                if standing and standing["source"] == "appeal" and not can("decide_appeal"):
                    raise AuditError(W["decided_on_appeal"])
            reason = text("reason", required=state == "overturned")
            reviews.add_review(conn(), sha, rule, state, reason, me().name, c["rules_version"], cal)
            if cal is None:
                rescore(sha)
        return back(sha, cal)

    @bp.post("/calls/<sha>/missed")
    @need("review")
    def add_missed(sha: str) -> Any:
        c = the_call(sha)
        with flashed():
            rule = request.form.get("rule", "")
            if rule not in {r.id for r in site().pack.enabled_rules}:
                raise AuditError(f"{rule[:64]}：{site().W['not_a_rule']}")
            reviews.add_missed(conn(), sha, rule,
                               parse_time(request.form.get("start", ""), c["result"].duration_s,
                                          site().W),
                               text("comment"), me().name, c["rules_version"])
            rescore(sha)
        return back(sha)

    @bp.post("/calls/<sha>/note")
    @need("review")
    def add_note(sha: str) -> Any:
        the_call(sha)
        with flashed():
            reviews.add_note(conn(), sha, me().name, text("note"))
        return back(sha)

    @bp.post("/calls/<sha>/appeal")
    @need("appeal")
    def appeal(sha: str) -> Any:
        c = the_call(sha)
        rule = request.form.get("rule", "")
        with flashed():
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
