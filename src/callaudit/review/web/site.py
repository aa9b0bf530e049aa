"""What every page of the workbench shares: the site's settings (`Site`, one per app), the
request's database connection, the user asking and what they may do, a call they may see,
form fields, and the rules by their names."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

from flask import Response, abort, current_app, flash, g, redirect, request, url_for
from flask_login import current_user, login_required

from callaudit.errors import AuditError
from callaudit.privacy.mask import redact_result
from callaudit.records import CallResult, Finding
from callaudit.results import reviews, store
from callaudit.results.reviews import User
from callaudit.review import accounts
from callaudit.rules.pack import RulePack
from callaudit.rules.reviewed import standing_failures

MAX_TEXT = 2000  # characters of a note, reason or comment
FIELD_WORDS = {"name": "calib_name"}  # a form field -> its words.py key, where they differ


@dataclass(frozen=True)
class Site:
    """One workbench: its database, the rule pack that scores reviews, the language of its
    pages and their words (`W` the workbench's, `L` the result's labels), whether pages and
    audio show personal data masked, and every rule's name in that language."""

    db: str
    db_path: Path  # resolved: older rows' relative recording paths are beside it
    pack: RulePack
    lang: str
    masked: bool
    W: dict[str, str]
    L: dict[str, str]
    names: dict[str, str]


def site() -> Site:
    return current_app.extensions["callaudit"]  # type: ignore[no-any-return]


def conn() -> sqlite3.Connection:
    """The request's connection (closed when the request ends; review/server.py)."""
    if "conn" not in g:
        g.conn = store.connect(site().db, check=False)  # checked once, when the server started
    return g.conn  # type: ignore[no-any-return]


def me() -> User:
    return current_user.user  # type: ignore[no-any-return]


def can(action: str) -> bool:
    return accounts.can(me(), action)


def need(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view for users who may do `action` (accounts.py); others get 403."""
    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        @login_required
        def inner(*a: Any, **k: Any) -> Any:
            if not can(action):
                abort(403)
            return view(*a, **k)
        return inner
    return wrap


def the_call(sha: str) -> dict[str, Any]:
    """The call, if this user may see it (agents: their own only; 404 either way, so an
    agent cannot learn which other calls exist), its result masked when the site masks."""
    call = reviews.call_by_sha(conn(), sha) if len(sha) == 64 else None
    if call is None:
        abort(404)
    u = me()
    if not accounts.can(u, "see_all_calls") and (u.agent_id is None or call["agent_id"] != u.agent_id):
        abort(404)
    if site().masked:
        call["result"] = redact_result(call["result"], site().pack)
    return call


def text(field: str, required: bool = True) -> str:
    """A form field, trimmed and cut to MAX_TEXT; AuditError (in the page's words) when
    `required` and empty."""
    W = site().W
    v = (request.form.get(field) or "").strip()[:MAX_TEXT]
    if required and not v:
        if field == "reason":
            raise AuditError(W["reason_needed"])
        raise AuditError(f"{W[FIELD_WORDS.get(field, field)]}：{W['required']}")
    return v


def recording(file: str) -> Path:
    return store.recording_file(file, site().db_path)  # the same from whatever folder serve runs


def rescore(sha: str) -> None:
    reviews.refresh_reviewed(conn(), sha, site().pack)


def rule_names(result: CallResult | None = None) -> dict[str, str]:
    """Rules by their names: the pack's words, a stored result's own (judged_with) where a
    page shows one call."""
    lang = site().lang
    stored = result.judged_with.messages if result is not None else {}
    return {**site().names,
            **{r: m[lang] for r, m in stored.items() if isinstance(m, dict) and m.get(lang)}}


def rule_groups(ids: list[str], result: CallResult | None = None
                ) -> list[tuple[str, list[tuple[str, str]]]]:
    """Rule ids as a dropdown offers them: [(section name, [(id, name)])], the sections in
    their order (the result's, else the pack's), the rules in the pack's order."""
    pack, lang = site().pack, site().lang
    sections = (result.judged_with.sections if result is not None else {}) or pack.sections
    said = rule_names(result)
    of = {r.id: r.section for r in pack.rules}
    order = {r.id: i for i, r in enumerate(pack.rules)}
    keys = list(sections) + sorted({of.get(r, "") for r in ids} - set(sections))
    groups = []
    for key in keys:
        rids = sorted((r for r in ids if of.get(r, "") == key), key=lambda r: order.get(r, len(order)))
        if rids:
            label = (sections.get(key) or {}).get(lang) or key or site().W["other_rules"]
            groups.append((label, [(r, said.get(r, r)) for r in rids]))
    return groups


def appealable(sha: str, result: CallResult) -> list[str]:
    """What an agent may appeal on a call: a finding against them that stands (failed and
    not overturned, or added by a reviewer), not already appealed."""
    standing = reviews.reviews_of_call(conn(), sha)
    against = {f.rule for f in result.findings if f.applicable and not f.passed}
    against |= {m["rule"] for m in reviews.missed_of_call(conn(), sha)}
    appealed = {a["rule"] for a in reviews.appeals(conn(), sha256=sha)}
    return sorted(r for r in against - appealed
                  if standing.get(r, {}).get("state", "confirmed") == "confirmed")


def after_review(result: CallResult, standing: dict[str, dict[str, Any]],
                 missed: list[dict[str, Any]]) -> dict[str, Any]:
    """What stands after review, as the call page shows it beside the machine's verdict:
    `fatal`, the fatal failures [{message, missed}] (the reviewed score's own reckoning,
    rules/reviewed.py), and `added`, rule -> the points a reviewer's missed finding deducts."""
    pack, lang = site().pack, site().lang
    kept = standing_failures(result, {r: v["state"] for r, v in standing.items()},
                             [m["rule"] for m in missed], pack)
    found = {f.rule: f for f in result.findings}
    failed = {r for r, f in found.items() if f.applicable and not f.passed}
    rules = {r.id: r for r in pack.rules}

    def says(rid: str) -> str:
        f = found.get(rid)
        if f is None:  # a reviewer's missed finding: the rule as the pack words it
            own = rules[rid].message.get(lang, "") if rid in rules else ""
            f = Finding(rule=rid, section="", severity="info", applicable=True, passed=False,
                        deduction=0.0, message=own)
        return result.message_of(f, lang) or rid

    return {"fatal": [{"message": says(f.rule), "missed": f.rule not in failed}
                      for f in kept if f.severity == "fatal"],
            "added": {f.rule: f.deduction for f in kept if f.rule not in failed}}


def held(cal: int) -> str:
    """Why a call of open calibration session `cal` takes no ordinary verdict, naming it."""
    W = site().W
    k = reviews.calibration(conn(), cal)
    return f"{W['in_calibration']} · {W['session_named'].format(k['name'] if k else cal)}"


def in_calibration(cal: int, sha: str, open_only: bool = False) -> bool:
    """Whether call `sha` is in calibration session `cal` (and it is open, `open_only`)."""
    k = reviews.calibration(conn(), cal)
    return bool(k) and any(c["sha256"] == sha for c in k["calls"]) and \
        not (open_only and k["closed_at"])


def back(sha: str, cal: int | None = None, anchor: str | None = None) -> Response:
    """To the call's page (of calibration session `cal`), at element `anchor` (where the
    reviewer was: the finding judged, the missed findings, the notes)."""
    return redirect(url_for("calls.call", sha=sha, calibration=cal,  # type: ignore[return-value]
                            _anchor=anchor))


@contextmanager
def flashed(*also: type[Exception]) -> Iterator[None]:
    """A user's mistake (AuditError, or `also`) shown on the page the view returns to,
    not as an error page."""
    try:
        yield
    except (AuditError, *also) as e:
        flash(str(e), "error")


def requested_filters() -> Any:
    """The Find-calls filters of this request (review/web/find.read -> find.Found) as this
    user may use them (an agent: their own calls only); those that cannot be read are
    said in a flash and left out."""
    from callaudit.review.web import find

    W = site().W
    f = find.read(request.args, can("see_all_calls"), me().agent_id,
                  {r.id for r in site().pack.rules})
    if f.bad:
        flash(f"{W['bad_filter']}：{'、'.join(W[find.FIELDS[k]] for k in f.bad)}", "error")
    return f
