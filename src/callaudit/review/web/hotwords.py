"""Hot words (热词): the terms callers said that rose most on a night against the days
before it, the same per business line, and why callers called (their first 30 s), each
with the calls behind it (results/hotwords.py: what a term is and how a rise is scored).

For reviewers, supervisors and admins (`review`): the terms and their calls are every
agent's, and an agent sees only their own calls. On a site that masks personal data over a
database of unmasked transcripts, no terms are shown (they were cut from the text as said).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for

from callaudit.results import hotwords
from callaudit.review.web.site import conn, need, site
from callaudit.strings import HOT


def _pick(value: str | None, known: list[str]) -> str | None:
    """A query argument if it is one of `known` (anything else is ignored, not an error)."""
    return value if value in known else None


def blueprint() -> Blueprint:
    bp = Blueprint("hotwords", __name__)

    @bp.get("/hotwords")
    @need("review")
    def hot_words() -> Any:
        c = conn()
        nights = hotwords.nights(c) if hotwords.has_terms(c) else []
        night = _pick(request.args.get("day"), nights) or next(iter(nights), None)
        lines = hotwords.lines_of(c, night) if night else []
        line = _pick(request.args.get("line"), lines)
        hot = hotwords.night_terms(c, night, site().pack, line, masked=site().masked)
        return render_template(
            "hotwords.html.j2", hot=hot, nights=nights, lines=lines, line=line,
            H=HOT[site().lang], min_calls=hotwords.MIN_CALLS, opening_s=int(hotwords.OPENING_S),
            call_url=lambda sha: url_for("calls.call", sha=sha))

    return bp
