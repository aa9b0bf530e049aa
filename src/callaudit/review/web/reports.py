"""What reviews teach: how precise each rule is against people's verdicts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from callaudit.results import reviews
from callaudit.review.web.site import conn, need, site


def blueprint() -> Blueprint:
    bp = Blueprint("reports", __name__)

    @bp.get("/rules")
    @need("review")
    def precision() -> Any:
        st = site().pack.settings
        rows = []
        for rule, r in sorted(reviews.precision_by_rule(conn()).items()):
            flagged = r["precision"] is not None and r["reviewed"] >= st.review_min_reviewed \
                and r["precision"] < st.review_min_precision
            rows.append({"rule": rule, **r, "flagged": flagged})
        return render_template("precision.html.j2", rows=rows, min_precision=st.review_min_precision,
                               min_reviewed=st.review_min_reviewed)

    return bp
