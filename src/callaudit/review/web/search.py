"""Search what was said (the search box of every page): the moments of the calls a user may
see where a query matches, each a link that plays the call from there. The filters are the
calls list's (review/web/find.py reads them, so an agent sees their own calls only, exactly
as there); the query's language is results/search.py's. A GET form: a search is a bookmark,
and needs no CSRF token (it changes nothing)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, render_template, request, url_for
from flask_login import login_required

from callaudit.errors import AuditError
from callaudit.results import reviews, search
from callaudit.review.web import find
from callaudit.review.web.site import can, conn, me, requested_filters, rule_groups, site

MAX_QUERY = 200  # characters of a query


def blueprint() -> Blueprint:
    bp = Blueprint("search", __name__)

    @bp.get("/search")
    @login_required
    def search_page() -> Any:
        u = me()
        staff = can("see_all_calls")
        W = site().W
        rules = {r.id for r in site().pack.rules}
        f = requested_filters()
        text = (request.args.get("q") or "").strip()[:MAX_QUERY]
        who = request.args.get("who") or None
        if who not in (None, *search.WHO):
            flash(f"{W['bad_filter']}：{W['said_by']}", "error")
            who = None
        q = f.query
        filters = search.Filters(agent_id=q.agent_id, day_from=q.day_from, day_to=q.day_to,
                                 who=who, rule=q.rule)
        found, problem = None, None
        if text:
            try:
                found = search.search(conn(), text, filters, find.PER_PAGE,
                                       (f.page - 1) * find.PER_PAGE)
            except AuditError as e:
                problem = str(e)
        params = {k: v for k, v in {**f.params, "q": text, "who": who}.items() if v}
        params.pop("page", None)
        pages = find.pages(found.total) if found else 1

        def link(**change: Any) -> str:
            return url_for("search.search_page", **{**params, **change})

        return render_template(
            "search.html.j2", text=text, found=found, problem=problem, p=params, page=f.page,
            pages=pages, link=link, who=who,
            choices=reviews.call_choices(conn(), None if staff else u.agent_id or "\0"),
            rule_groups=rule_groups(sorted(rules)))

    return bp
