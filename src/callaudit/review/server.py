"""The review workbench (`audit serve`): a Flask application over the results database.

Every page needs a login (Flask-Login; sessions in signed, HttpOnly, SameSite=Lax cookies,
ended by log-out and account changes, signed with a key kept beside the database, not in
it: session_key), every form a CSRF token (Flask-WTF), failed log-ins are rate limited per
address and per name (Flask-Limiter), passwords are Argon2id (review/accounts.py).
Pages are Jinja2 with autoescaping on every template, so nothing a user typed reaches a page
unescaped; the Content-Security-Policy allows no script or style from anywhere else.
An agent sees only their own calls. Served by waitress (`serve`), a production WSGI server.
"""

from __future__ import annotations

import json
import math
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from functools import lru_cache, wraps
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import ChoiceLoader, PackageLoader

from callaudit.audio.decode import decode
from callaudit.audio.opus import opus_bytes
from callaudit.errors import AuditError
from callaudit.privacy.audio import mask_audio, spans_of
from callaudit.privacy.mask import redact as mask
from callaudit.records import CallResult, Finding
from callaudit.render.html import call_view, mmss, template_filters
from callaudit.results import reviews, store
from callaudit.results.reviews import User
from callaudit.results.summary import business_lines
from callaudit.review import accounts
from callaudit.review.agreement import agreement_by_rule
from callaudit.review.queue import queue_of_day
from callaudit.review.words import WORDS
from callaudit.rules.pack import load
from callaudit.rules.reviewed import standing_failures
from callaudit.strings import LABELS

MAX_TEXT = 2000  # characters of a note, reason or comment
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "img-src data: 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")


class _Flask(Flask):
    def select_jinja_autoescape(self, filename: str) -> bool:
        return True  # every template, whatever its suffix (.j2 is not in Flask's list)


class _LoginUser(UserMixin):
    def __init__(self, user: User) -> None:
        self.user = user
        # the session names the account's session generation: log-out, a new password or
        # role, or disabling it bumps it, and every cookie of before stops working
        self.id = f"{user.id}:{user.session_gen}"


SESSION_HOURS = 12  # a session cookie older than this is refused, whatever its holder does


def session_key(db: str) -> str:
    """The key that signs session cookies: $CALLAUDIT_SESSION_KEY, else a file beside the
    database (`DB.session-key`, made once, readable by its owner only). Not in the database:
    whoever may read results must not be able to sign in as anyone."""
    import os

    env = os.environ.get("CALLAUDIT_SESSION_KEY")
    if env:
        return env
    path = Path(f"{db}.session-key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    except OSError as e:
        raise AuditError(f"{path}: cannot create the session key ({e.strerror}); "
                         "or set CALLAUDIT_SESSION_KEY") from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32))
    return path.read_text(encoding="ascii").strip()


def create_app(db: str, rules: str | None = None, lang: str = "zh",
               secure_cookies: bool = False, redact: bool = False) -> Flask:
    """The workbench over results database `db` (created or upgraded here), judging reviewed
    scores with rule pack `rules` (None: the default). `secure_cookies`: send the session
    cookie over HTTPS only (behind a TLS proxy). `redact`: pages and their audio show
    personal data masked (always so for a database of masked transcripts)."""
    pack = load(rules)
    c0 = store.connect(db)  # created or upgraded now, not by the first request
    masked = redact or bool(store.stored_redaction(c0))
    c0.close()
    secret = session_key(db)
    app = _Flask(__name__, template_folder=None)
    app.jinja_loader = ChoiceLoader([PackageLoader("callaudit.review", "templates"),
                                     PackageLoader("callaudit.render", "templates")])
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters.update(template_filters())
    app.config.update(SECRET_KEY=secret, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure_cookies,
                      REMEMBER_COOKIE_SECURE=secure_cookies, REMEMBER_COOKIE_HTTPONLY=True,
                      WTF_CSRF_TIME_LIMIT=None, MAX_CONTENT_LENGTH=64 * 1024,
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS))
    app.config["DB"] = db
    db_path = Path(db).resolve()  # relative recording paths of older rows are beside it
    CSRFProtect(app)
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://")
    logins = LoginManager(app)
    logins.login_view = "login"
    logins.session_protection = "strong"
    W, L = WORDS[lang], LABELS[lang]
    logins.login_message = W["please_login"]
    # what the pages show of stored values: times without ISO's T and seconds, who acted
    # (the command line by name), what the trail kept as labelled fields, not JSON
    app.jinja_env.filters.update(when=_when, actor=lambda v: _actor(v, W),
                                 fields=lambda v: _fields(v, W))

    # rules by their names (the id only as a secondary label): the pack's words, a stored
    # result's own (judged_with) where a page shows one call
    names = {r.id: r.text(lang, pack.settings) for r in pack.rules}

    def rule_names(result: CallResult | None = None) -> dict[str, str]:
        stored = result.judged_with.messages if result is not None else {}
        return {**names, **{r: m[lang] for r, m in stored.items() if isinstance(m, dict) and m.get(lang)}}

    def rule_groups(ids: list[str], result: CallResult | None = None
                    ) -> list[tuple[str, list[tuple[str, str]]]]:
        """Rule ids as a dropdown offers them: [(section name, [(id, name)])], the sections in
        their order (the result's, else the pack's), the rules in the pack's order."""
        sections = (result.judged_with.sections if result is not None else {}) or pack.sections
        said = rule_names(result)
        of = {r.id: r.section for r in pack.rules}
        order = {r.id: i for i, r in enumerate(pack.rules)}
        keys = list(sections) + sorted({of.get(r, "") for r in ids} - set(sections))
        groups = []
        for key in keys:
            rids = sorted((r for r in ids if of.get(r, "") == key), key=lambda r: order.get(r, len(order)))
            if rids:
                label = (sections.get(key) or {}).get(lang) or key or W["other_rules"]
                groups.append((label, [(r, said.get(r, r)) for r in rids]))
        return groups

    def conn() -> sqlite3.Connection:
        if "conn" not in g:
            g.conn = store.connect(db, check=False)  # checked once, when the server started
        return g.conn

    @app.teardown_appcontext
    def _close(_: BaseException | None) -> None:
        c = g.pop("conn", None)
        if c is not None:
            c.close()

    @logins.user_loader
    def _load(uid: str) -> _LoginUser | None:
        ident, _, gen = uid.partition(":")
        u = reviews.user_by_id(conn(), int(ident)) if ident.isdigit() else None
        if u is None or u.disabled or str(u.session_gen) != gen:
            return None
        return _LoginUser(u)

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["X-Frame-Options"] = "DENY"
        if request.endpoint != "audio":
            resp.headers["Cache-Control"] = "no-store"  # pages hold what callers said
        return resp

    @app.context_processor
    def _words() -> dict[str, Any]:
        u = current_user.user if current_user.is_authenticated else None
        return {"W": W, "L": L, "lang": lang, "me": u, "RN": names,
                "can": (lambda a: bool(u and accounts.can(u, a)))}

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError) -> tuple[str, int]:
        return render_template("message.html.j2", title=W["try_again"], text=W["csrf"]), 400

    @app.errorhandler(403)
    def _forbidden(_: Exception) -> tuple[str, int]:
        return render_template("message.html.j2", title=W["forbidden"], text=W["forbidden"]), 403

    @app.errorhandler(404)
    def _missing(_: Exception) -> tuple[str, int]:
        return render_template("message.html.j2", title=W["not_found"], text=W["not_found"]), 404

    @app.errorhandler(429)
    def _limited(_: Exception) -> tuple[str, int]:
        return render_template("login.html.j2", error=W["too_many"]), 429

    def me() -> User:
        return current_user.user  # type: ignore[no-any-return]

    def need(action: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(view)
            @login_required
            def inner(*a: Any, **k: Any) -> Any:
                if not accounts.can(me(), action):
                    abort(403)
                return view(*a, **k)
            return inner
        return wrap

    def the_call(sha: str) -> dict[str, Any]:
        """The call, if this user may see it (agents: their own only; 404 either way, so an
        agent cannot learn which other calls exist)."""
        call = reviews.call_by_sha(conn(), sha) if len(sha) == 64 else None
        if call is None:
            abort(404)
        u = me()
        if not accounts.can(u, "see_all_calls") and (u.agent_id is None or call["agent_id"] != u.agent_id):
            abort(404)
        if masked:  # personal data masked on the JSON (privacy/mask.py), read back as a record
            call["result"] = CallResult.from_json(mask(call["result"].to_json(), pack), check=False)
        return call

    def text(field: str, required: bool = True) -> str:
        v = (request.form.get(field) or "").strip()[:MAX_TEXT]
        if required and not v:
            if field == "reason":
                raise AuditError(W["reason_needed"])
            raise AuditError(f"{W[FIELD_WORDS.get(field, field)]}：{W['required']}")
        return v

    def recording(file: str) -> Path:
        return store.recording_file(file, db_path)  # the same from whatever folder serve runs

    def rescore(sha: str) -> None:
        reviews.refresh_reviewed(conn(), sha, pack)

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
        k = reviews.calibration(conn(), cal)
        return f"{W['in_calibration']} · {W['session_named'].format(k['name'] if k else cal)}"

    def back(sha: str, cal: int | None = None) -> Response:
        return redirect(url_for("call", sha=sha, calibration=cal))  # type: ignore[return-value]

    # --- log in and out --------------------------------------------------------------------
    # failed log-ins only, per address and per name: a shift logging in at 9:00 is not limited
    @app.route("/login", methods=["GET", "POST"])
    @limiter.limit("10 per minute", methods=["POST"], deduct_when=lambda r: r.status_code == 401)
    @limiter.limit("5 per minute", methods=["POST"], deduct_when=lambda r: r.status_code == 401,
                   key_func=lambda: "name:" + (request.form.get("name") or ""))
    def login() -> Any:
        if request.method == "GET":
            return render_template("login.html.j2", error=None)
        u = accounts.authenticate(conn(), request.form.get("name", ""), request.form.get("password", ""))
        if u is None:
            return render_template("login.html.j2", error=W["bad_login"]), 401
        session.permanent = True  # its lifetime: SESSION_HOURS
        login_user(_LoginUser(u))
        return redirect(_local_path(request.args.get("next", "")) or url_for("home"))

    @app.post("/logout")
    @login_required
    def logout() -> Any:
        reviews.end_sessions(conn(), me().id)
        logout_user()
        return redirect(url_for("login"))

    @app.get("/")
    @login_required
    def home() -> Any:
        return redirect(url_for("queue" if accounts.can(me(), "review") else "calls"))

    # --- the queue (抽检) and the calls -----------------------------------------------------
    @app.get("/queue")
    @need("review")
    def queue() -> Any:
        days = reviews.days(conn())
        day = request.args.get("day") or (days[0] if days else "")
        plan = reviews.plan_of_day(conn(), day) if day else None
        return render_template("queue.html.j2", days=days, day=day, plan=plan)

    @app.post("/queue")
    @need("review")
    def draw_queue() -> Any:
        day = request.form.get("day", "")
        with _flashed(ValueError):  # a bad day
            if day not in reviews.days(conn()):
                raise AuditError(f"{day[:32]}：{W['no_calls_on_day']}")
            queue_of_day(conn(), day, pack, me().name)
        return redirect(url_for("queue", day=day))

    @app.get("/calls")
    @login_required
    def calls() -> Any:
        u = me()
        agent = request.args.get("agent") or None
        if not accounts.can(u, "see_all_calls"):
            agent = u.agent_id or "\0"  # an agent without an id sees nothing
        day = request.args.get("day") or None
        # per business line (scorecards) for those who see every call, when there are several
        lines = business_lines(conn(), day) if accounts.can(u, "see_all_calls") else []
        # the recordings of the night that could not be audited: for reviewers, not agents
        failed = store.failed_files(conn(), day, limit=500) if accounts.can(u, "see_all_calls") else []
        return render_template("calls.html.j2", calls=reviews.call_list(conn(), agent, day),
                               day=day, agent=agent, days=reviews.days(conn()), lines=lines,
                               failed=failed)

    @app.get("/calls/<sha>")
    @login_required
    def call(sha: str) -> Any:
        c = the_call(sha)
        u = me()
        cal = request.args.get("calibration", type=int)
        if cal is not None and (not accounts.can(u, "review") or not _in_calibration(cal, sha)):
            abort(404)
        result, meta = c["result"], {k: c[k] for k in ("call_id", "agent_id", "day", "file")}
        staff = accounts.can(u, "see_all_calls")
        if not staff:  # where the recordings are kept is not an agent's business
            result = replace(result, file=Path(result.file).name)
            meta["file"] = Path(c["file"]).name
        view = call_view(result, lang, meta)
        in_calibration = reviews.open_calibration_of(conn(), sha)
        holder = reviews.calibration(conn(), in_calibration) if in_calibration is not None else None
        if cal is not None:  # blind: only this reviewer's own verdicts of this session
            standing = reviews.my_calibration_reviews(conn(), sha, cal, u.name)
        else:
            standing = reviews.reviews_of_call(conn(), sha)
        blind = cal is not None or (in_calibration is not None and staff)
        if blind and cal is None:  # in an open calibration session: no one's verdicts shown
            standing = {}
        appeal_list = [] if blind else reviews.appeals(conn(), sha256=sha)
        open_appeals = {a["rule"] for a in appeal_list if a["state"] == "open"}
        missed = [] if blind else reviews.missed_of_call(conn(), sha)
        reviewed = None if blind else reviews.reviewed_score(conn(), sha)
        return render_template(
            "review_call.html.j2", **view, sha=sha, calibration=cal, in_calibration=in_calibration,
            audio_src=url_for("audio", sha=sha) if recording(c["file"]).is_file() else None,
            standing=standing, current_rules=c["rules_version"],
            reviewed=reviewed, held_by=holder["name"] if holder else None,
            after=after_review(c["result"], standing, missed) if reviewed else None,
            notes=reviews.notes_of_call(conn(), sha) if staff and not blind else [],
            missed=missed, appeals=appeal_list, open_appeals=open_appeals,
            appealable=rule_groups(appealable(sha, c["result"]), c["result"])
            if accounts.can(u, "appeal") else [],
            trail=reviews.trail_of_call(conn(), sha) if staff and not blind else [],
            rule_groups=rule_groups([r.id for r in pack.enabled_rules], c["result"]),
            RN=rule_names(c["result"]))

    def _in_calibration(cal: int, sha: str, open_only: bool = False) -> bool:
        k = reviews.calibration(conn(), cal)
        return bool(k) and any(c["sha256"] == sha for c in k["calls"]) and \
            not (open_only and k["closed_at"])

    @app.get("/calls/<sha>/audio")
    @login_required
    def audio(sha: str) -> Any:
        c = the_call(sha)
        try:
            path = recording(c["file"])
            s = pack.settings
            spans = tuple(spans_of(c["result"], s.redact_audio_pad_s)) if masked else None
            data = _opus(str(path), path.stat().st_mtime_ns, spans, s.redact_tone_hz)
        except (AuditError, OSError):
            abort(404)
        resp = Response(data, mimetype="audio/ogg")
        resp.headers["Cache-Control"] = "private, max-age=3600"
        # byte ranges: without them Chromium plays the Ogg as a live stream (no length, no seek)
        return resp.make_conditional(request, accept_ranges=True, complete_length=len(data))

    @app.post("/calls/<sha>/review")
    @need("review")
    def review(sha: str) -> Any:
        c = the_call(sha)
        cal = request.form.get("calibration", type=int)
        rule, state = request.form.get("rule", ""), request.form.get("state", "")
        with _flashed():
            failed = {f.rule for f in c["result"].findings if f.applicable and not f.passed}
            if rule not in failed:
                raise AuditError(f"{rule[:64]}：{W['not_failed']}")
            if state not in reviews.STATES:
                raise AuditError(W["bad_state"])
            if cal is not None and not _in_calibration(cal, sha):
                abort(404)
            if cal is not None and not _in_calibration(cal, sha, open_only=True):
                raise AuditError(W["calibration_closed"])
            if cal is None:
                busy = reviews.open_calibration_of(conn(), sha)
                if busy is not None:
                    raise AuditError(held(busy))
                standing = reviews.reviews_of_call(conn(), sha).get(rule)
                if standing and standing["source"] == "appeal" and not accounts.can(me(), "decide_appeal"):
                    raise AuditError(W["decided_on_appeal"])
            reason = text("reason", required=state == "overturned")
            reviews.add_review(conn(), sha, rule, state, reason, me().name, c["rules_version"], cal)
            if cal is None:
                rescore(sha)
        return back(sha, cal)

    @app.post("/calls/<sha>/missed")
    @need("review")
    def add_missed(sha: str) -> Any:
        c = the_call(sha)
        with _flashed():
            rule = request.form.get("rule", "")
            if rule not in {r.id for r in pack.enabled_rules}:
                raise AuditError(f"{rule[:64]}：{W['not_a_rule']}")
            reviews.add_missed(conn(), sha, rule,
                               _time(request.form.get("start", ""), c["result"].duration_s, W),
                               text("comment"), me().name, c["rules_version"])
            rescore(sha)
        return back(sha)

    @app.post("/calls/<sha>/note")
    @need("review")
    def add_note(sha: str) -> Any:
        the_call(sha)
        with _flashed():
            reviews.add_note(conn(), sha, me().name, text("note"))
        return back(sha)

    # --- appeals (申诉) -----------------------------------------------------------------------
    @app.post("/calls/<sha>/appeal")
    @need("appeal")
    def appeal(sha: str) -> Any:
        c = the_call(sha)
        rule = request.form.get("rule", "")
        with _flashed():
            if rule not in appealable(sha, c["result"]):
                raise AuditError(f"{rule[:64]}：{W['not_appealable']}")
            reviews.add_appeal(conn(), sha, rule, me().name, text("comment"))
        return back(sha)

    @app.get("/appeals")
    @login_required
    def appeal_list() -> Any:
        u = me()
        agent = None if accounts.can(u, "see_all_calls") else (u.agent_id or "\0")
        rows = reviews.appeals(conn(), agent_id=agent)
        for a in rows:  # what the finding stands at now, for whoever decides
            now = reviews.reviews_of_call(conn(), a["sha256"]).get(a["rule"])
            a["finding_state"] = now["state"] if now else "unreviewed"
            # a call held by an open calibration session takes no decision until it closes
            a["held_by"] = reviews.open_calibration_of(conn(), a["sha256"]) if a["state"] == "open" else None
            k = reviews.calibration(conn(), a["held_by"]) if a["held_by"] is not None else None
            a["held_name"] = k["name"] if k else None
        return render_template("appeals.html.j2", appeals=rows)

    @app.post("/appeals/<int:aid>")
    @need("decide_appeal")
    def decide(aid: int) -> Any:
        a = reviews.appeal_by_id(conn(), aid)
        if a is None:
            abort(404)
        with _flashed():
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
        return redirect(request.form.get("back") == "call" and url_for("call", sha=a["sha256"])
                        or url_for("appeal_list"))

    # --- calibration and what reviews teach ----------------------------------------------------
    @app.get("/calibration")
    @need("review")
    def calibration_list() -> Any:
        day = request.args.get("day") or None
        return render_template("calibrations.html.j2", sessions=reviews.calibrations(conn()),
                               days=reviews.days(conn()), day=day,
                               calls=calibration_candidates(day) if day else [])

    def calibration_candidates(day: str) -> list[dict[str, Any]]:
        """The day's calls a new session takes: none with a verdict on its page already, none
        held by an open session (calibration_add refuses those)."""
        calls = reviews.call_list(conn(), day=day, limit=1000)
        blocked = reviews.calibration_blockers(conn(), [c["sha256"] for c in calls])
        return [c for c in calls if c["sha256"] not in blocked][:200]

    @app.post("/calibration")
    @need("calibrate")
    def calibration_add() -> Any:
        chosen = list(dict.fromkeys(s for s in request.form.getlist("call")
                                    if reviews.call_by_sha(conn(), s)))
        try:
            if len(chosen) < 1:
                raise AuditError(W["choose_calls"])
            blocked = reviews.calibration_blockers(conn(), chosen)
            if blocked:  # a verdict already on the page (not blind), or held by another session
                raise AuditError("；".join(refused(s, why) for s, why in blocked.items()))
            cal = reviews.add_calibration(conn(), text("name"), chosen, me().name)
        except AuditError as e:
            flash(str(e), "error")
            return redirect(url_for("calibration_list"))
        return redirect(url_for("calibration_page", cal=cal))

    def refused(sha: str, why: dict[str, Any]) -> str:
        """A call a new session cannot take: which (its call id) and why."""
        c = reviews.call_by_sha(conn(), sha)
        name = (c and c["call_id"]) or sha[:12]
        if why["why"] == "reviewed":
            return f"{name}: {W['already_reviewed']}"
        return f"{name}: {W['in_open_session'].format(why['name'])}"

    @app.get("/calibration/<int:cal>")
    @need("review")
    def calibration_page(cal: int) -> Any:
        k = reviews.calibration(conn(), cal)
        if k is None:
            abort(404)
        # agreement once the session is closed: a participant who saw it could change a rating
        agreement = agreement_by_rule(reviews.calibration_ratings(conn(), cal)) \
            if accounts.can(me(), "calibrate") and k["closed_at"] else None
        return render_template("calibration.html.j2", k=k, agreement=agreement)

    @app.post("/calibration/<int:cal>/close")
    @need("calibrate")
    def calibration_close(cal: int) -> Any:
        with _flashed():
            k = reviews.calibration(conn(), cal)
            if k is None:
                abort(404)
            if k["closed_at"]:
                raise AuditError(W["already_closed"])
            reviews.close_calibration(conn(), cal, me().name)
        return redirect(url_for("calibration_page", cal=cal))

    @app.get("/rules")
    @need("review")
    def precision() -> Any:
        st = pack.settings
        rows = []
        for rule, r in sorted(reviews.precision_by_rule(conn()).items()):
            flagged = r["precision"] is not None and r["reviewed"] >= st.review_min_reviewed \
                and r["precision"] < st.review_min_precision
            rows.append({"rule": rule, **r, "flagged": flagged})
        return render_template("precision.html.j2", rows=rows, min_precision=st.review_min_precision,
                               min_reviewed=st.review_min_reviewed)

    return app


@contextmanager
def _flashed(*also: type[Exception]) -> Iterator[None]:
    """A user's mistake (AuditError, or `also`) shown on the page the view returns to,
    not as an error page."""
    try:
        yield
    except (AuditError, *also) as e:
        flash(str(e), "error")


def _local_path(nxt: str) -> str:
    """`nxt` if it is a path on this site, else "": never an open redirect to another host
    (browsers drop tabs and newlines and read a backslash as a slash: /\t/evil is //evil)."""
    from urllib.parse import urlsplit

    if not nxt.startswith("/") or any(c < " " or c in "\\\x7f" for c in nxt):
        return ""
    parts = urlsplit(nxt)
    return "" if parts.scheme or parts.netloc or nxt.startswith("//") else nxt


def _time(value: str, duration_s: float, words: dict[str, str] = WORDS["en"]) -> float | None:
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


FIELD_WORDS = {"name": "calib_name"}  # a form field -> its words.py key, where they differ
ACTOR_CLI = "(command line)"  # the actor of what the command line did (audit users, sample)


def _when(value: Any) -> Any:
    """A stored ISO time ('2026-11-30T09:05:33') as people read it: '2026-11-30 09:05'."""
    if isinstance(value, str) and len(value) >= 16 and value[10] == "T":
        return value[:10] + " " + value[11:16]
    return "" if value is None else value


def _actor(value: Any, words: dict[str, str]) -> Any:
    return words["command_line"] if value == ACTOR_CLI else value


def _fields(raw: Any, words: dict[str, str]) -> list[tuple[str, str]]:
    """What the trail kept before or after a change (JSON, or a dict) as (label, value) pairs
    in `words`: states and roles by their names, times as m:ss, a list by its length."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return [("", raw)]
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [("", str(raw))]

    def value(key: str, v: Any) -> str:
        if isinstance(v, bool):
            return words["yes" if v else "no"]
        if key == "start" and isinstance(v, (int, float)):
            return str(mmss(v))
        if key == "role" and isinstance(v, str):
            return words.get("role_" + v, v)
        if key in ("state", "finding", "decision") and isinstance(v, str):
            return words.get(v, v)
        if key in ("at", "drawn_at", "closed_at"):
            return str(_when(v))
        if isinstance(v, dict):
            return "、".join(f"{words.get('plan_' + k, words.get('f_' + k, k))}: {value(k, x)}"
                            for k, x in v.items() if x is not None)
        if isinstance(v, list):
            return str(len(v))
        return str(_actor(v, words))

    return [(words.get("f_" + k, words.get("plan_" + k, k)), value(k, v)) for k, v in raw.items()
            if v is not None and v != ""]


@lru_cache(maxsize=16)
def _opus(path: str, mtime_ns: int, spans: tuple[tuple[float, float], ...] | None = None,
          tone_hz: float = 0.0) -> bytes:
    """A recording as Ogg Opus for the page, encoded once per file version (a player asks
    for byte ranges of it again and again); `spans` (seconds) masked when given."""
    if spans is None:
        return opus_bytes(path)
    return opus_bytes(mask_audio(decode(path), list(spans), tone_hz))


def serve(db: str, host: str = "127.0.0.1", port: int = 8080, rules: str | None = None,
          lang: str = "zh", secure_cookies: bool = False, threads: int = 4,
          trusted_proxy: str | None = None, redact: bool = False) -> None:
    """Run the workbench with waitress until interrupted. `trusted_proxy`: the address of a
    reverse proxy whose X-Forwarded-For names the client (the log-in limit counts clients,
    not the proxy)."""
    from waitress import serve as waitress_serve

    app = create_app(db, rules, lang, secure_cookies, redact)
    proxy: dict[str, Any] = {}
    if trusted_proxy:
        proxy = {"trusted_proxy": trusted_proxy, "trusted_proxy_count": 1,
                 "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
                 "clear_untrusted_proxy_headers": True}
    waitress_serve(app, host=host, port=port, threads=threads, ident="callaudit", **proxy)


__all__ = ["create_app", "serve"]
