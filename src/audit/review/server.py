"""The review workbench (`audit serve`): a Flask application over the results database.

Every page needs a login (Flask-Login; sessions in signed, HttpOnly, SameSite=Lax cookies
whose key is kept in the database), every form a CSRF token (Flask-WTF), logins are rate
limited per address and per name (Flask-Limiter), passwords are Argon2id (review/accounts.py).
Pages are Jinja2 with autoescaping on every template, so nothing a user typed reaches a page
unescaped; the Content-Security-Policy allows no script or style from anywhere else.
An agent sees only their own calls. Served by waitress (`serve`), a production WSGI server.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
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
    url_for,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import ChoiceLoader, PackageLoader

from audit.errors import AuditError
from audit.render.html import call_view, opus_bytes, template_filters
from audit.results import reviews, store
from audit.results.reviews import User
from audit.review import accounts
from audit.review.agreement import agreement_by_rule
from audit.review.queue import queue_of_day
from audit.review.words import WORDS
from audit.rules.pack import load
from audit.rules.reviewed import reviewed_score
from audit.strings import LABELS

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
        self.id = str(user.id)


def create_app(db: str, rules: str | None = None, lang: str = "zh",
               secure_cookies: bool = False) -> Flask:
    """The workbench over results database `db` (created or upgraded here), judging reviewed
    scores with rule pack `rules` (None: the default). `secure_cookies`: send the session
    cookie over HTTPS only (behind a TLS proxy)."""
    pack = load(rules)
    conn = store.connect(db)
    try:
        secret = reviews.set_meta_once(conn, "session_secret", secrets.token_hex(32))
    finally:
        conn.close()
    app = _Flask(__name__, template_folder=None)
    app.jinja_loader = ChoiceLoader([PackageLoader("audit.review", "templates"),
                                     PackageLoader("audit.render", "templates")])
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters.update(template_filters())
    app.config.update(SECRET_KEY=secret, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure_cookies,
                      REMEMBER_COOKIE_SECURE=secure_cookies, REMEMBER_COOKIE_HTTPONLY=True,
                      WTF_CSRF_TIME_LIMIT=None, MAX_CONTENT_LENGTH=64 * 1024)
    app.config["DB"] = db
    CSRFProtect(app)
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://")
    logins = LoginManager(app)
    logins.login_view = "login"
    logins.session_protection = "strong"
    W, L = WORDS[lang], LABELS[lang]

    @contextmanager
    def db_conn() -> Iterator[sqlite3.Connection]:
        c = store.connect(db)
        try:
            yield c
        finally:
            c.close()

    def conn() -> sqlite3.Connection:
        if "conn" not in g:
            g.conn = store.connect(db)
        return g.conn

    @app.teardown_appcontext
    def _close(_: BaseException | None) -> None:
        c = g.pop("conn", None)
        if c is not None:
            c.close()

    @logins.user_loader
    def _load(uid: str) -> _LoginUser | None:
        with db_conn() as c:
            u = reviews.user_by_id(c, int(uid)) if uid.isdigit() else None
        return _LoginUser(u) if u and not u.disabled else None

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
        return {"W": W, "L": L, "lang": lang, "me": u, "can": (lambda a: bool(u and accounts.can(u, a)))}

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError) -> tuple[str, int]:
        return render_template("message.html.j2", title="CSRF", text=e.description), 400

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
        return call

    def text(field: str, required: bool = True) -> str:
        v = (request.form.get(field) or "").strip()[:MAX_TEXT]
        if required and not v:
            raise AuditError(f"{field}: {W['reason_needed'] if field == 'reason' else 'required'}")
        return v

    def rescore(sha: str) -> None:
        call = reviews.call_by_sha(conn(), sha)
        if call is None:
            return
        states = {r: v["state"] for r, v in reviews.reviews_of_call(conn(), sha).items()}
        missed = [m["rule"] for m in reviews.missed_of_call(conn(), sha)]
        s = reviewed_score(call["result"], states, missed, pack)
        reviews.set_reviewed_score(conn(), sha, s.score, s.passed, s.fatal, s.sections)

    def back(sha: str, cal: int | None = None) -> Response:
        return redirect(url_for("call", sha=sha, calibration=cal))  # type: ignore[return-value]

    # --- log in and out --------------------------------------------------------------------
    @app.route("/login", methods=["GET", "POST"])
    @limiter.limit("10 per minute", methods=["POST"])
    @limiter.limit("5 per minute", methods=["POST"],
                   key_func=lambda: "name:" + (request.form.get("name") or ""))
    def login() -> Any:
        if request.method == "GET":
            return render_template("login.html.j2", error=None)
        u = accounts.authenticate(conn(), request.form.get("name", ""), request.form.get("password", ""))
        if u is None:
            return render_template("login.html.j2", error=W["bad_login"]), 401
        login_user(_LoginUser(u))
        return redirect(_local_path(request.args.get("next", "")) or url_for("home"))

    @app.post("/logout")
    @login_required
    def logout() -> Any:
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
        try:
            queue_of_day(conn(), day, pack, me().name)
        except (AuditError, ValueError) as e:
            flash(str(e), "error")
        return redirect(url_for("queue", day=day))

    @app.get("/calls")
    @login_required
    def calls() -> Any:
        u = me()
        agent = request.args.get("agent") or None
        if not accounts.can(u, "see_all_calls"):
            agent = u.agent_id or "\0"  # an agent without an id sees nothing
        day = request.args.get("day") or None
        return render_template("calls.html.j2", calls=reviews.call_list(conn(), agent, day),
                               day=day, agent=agent, days=reviews.days(conn()))

    @app.get("/calls/<sha>")
    @login_required
    def call(sha: str) -> Any:
        c = the_call(sha)
        u = me()
        cal = request.args.get("calibration", type=int)
        if cal is not None and (not accounts.can(u, "review") or not _in_calibration(cal, sha)):
            abort(404)
        result = c["result"]
        view = call_view(result, lang, {k: c[k] for k in ("call_id", "agent_id", "day", "file")})
        if cal is not None:  # blind: only this reviewer's own verdicts of this session
            standing = reviews.my_calibration_reviews(conn(), sha, cal, u.name)
        else:
            standing = reviews.reviews_of_call(conn(), sha)
        appeal_list = [] if cal is not None else reviews.appeals(conn(), sha256=sha)
        open_appeals = {a["rule"] for a in appeal_list if a["state"] == "open"}
        missed = [] if cal is not None else reviews.missed_of_call(conn(), sha)
        failed = {f["rule"] for f in view["failed"]} | {m["rule"] for m in missed}
        appealable = sorted(failed - {r for r, v in standing.items() if v["state"] != "confirmed"})
        return render_template(
            "review_call.html.j2", **view, sha=sha, calibration=cal,
            audio_src=url_for("audio", sha=sha) if Path(c["file"]).is_file() else None,
            standing=standing, current_rules=c["rules_version"],
            reviewed=None if cal is not None else reviews.reviewed_score(conn(), sha),
            notes=[] if cal is not None else reviews.notes_of_call(conn(), sha),
            missed=missed, appeals=appeal_list, open_appeals=open_appeals,
            appealable=[r for r in appealable if r not in open_appeals],
            trail=reviews.trail_of_call(conn(), sha)
            if cal is None and accounts.can(u, "review") else [],
            rule_ids=[r.id for r in pack.enabled_rules])

    def _in_calibration(cal: int, sha: str) -> bool:
        k = reviews.calibration(conn(), cal)
        return bool(k) and any(c["sha256"] == sha for c in k["calls"])

    @app.get("/calls/<sha>/audio")
    @login_required
    def audio(sha: str) -> Any:
        c = the_call(sha)
        try:
            data = opus_bytes(c["file"])
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
        try:
            failed = {f["rule"] for f in c["result"]["findings"] if f["applicable"] and not f["passed"]}
            if rule not in failed:
                raise AuditError(f"{rule!r} is not a failed finding of this call")
            if cal is not None and not _in_calibration(cal, sha):
                abort(404)
            reason = text("reason", required=state == "overturned")
            reviews.add_review(conn(), sha, rule, state, reason, me().name, c["rules_version"], cal)
            if cal is None:
                rescore(sha)
        except AuditError as e:
            flash(str(e), "error")
        return back(sha, cal)

    @app.post("/calls/<sha>/missed")
    @need("review")
    def add_missed(sha: str) -> Any:
        c = the_call(sha)
        try:
            rule = request.form.get("rule", "")
            if rule not in {r.id for r in pack.enabled_rules}:
                raise AuditError(f"{rule!r} is not a rule of the pack in force")
            reviews.add_missed(conn(), sha, rule, _time(request.form.get("start", "")),
                               text("comment"), me().name, c["rules_version"])
            rescore(sha)
        except AuditError as e:
            flash(str(e), "error")
        return back(sha)

    @app.post("/calls/<sha>/note")
    @need("review")
    def add_note(sha: str) -> Any:
        the_call(sha)
        try:
            reviews.add_note(conn(), sha, me().name, text("note"))
        except AuditError as e:
            flash(str(e), "error")
        return back(sha)

    # --- appeals (申诉) -----------------------------------------------------------------------
    @app.post("/calls/<sha>/appeal")
    @need("appeal")
    def appeal(sha: str) -> Any:
        c = the_call(sha)
        rule = request.form.get("rule", "")
        try:
            failed = {f["rule"] for f in c["result"]["findings"] if f["applicable"] and not f["passed"]}
            failed |= {m["rule"] for m in reviews.missed_of_call(conn(), sha)}
            if rule not in failed:
                raise AuditError(f"{rule!r} is not a finding against this call")
            reviews.add_appeal(conn(), sha, rule, me().name, text("comment"))
        except AuditError as e:
            flash(str(e), "error")
        return back(sha)

    @app.get("/appeals")
    @login_required
    def appeal_list() -> Any:
        u = me()
        agent = None if accounts.can(u, "see_all_calls") else (u.agent_id or "\0")
        return render_template("appeals.html.j2", appeals=reviews.appeals(conn(), agent_id=agent))

    @app.post("/appeals/<int:aid>")
    @need("decide_appeal")
    def decide(aid: int) -> Any:
        a = reviews.appeal_by_id(conn(), aid)
        if a is None:
            abort(404)
        try:
            reviews.decide_appeal(conn(), aid, request.form.get("decision", ""), text("reason"),
                                  me().name)
            rescore(a["sha256"])
        except AuditError as e:
            flash(str(e), "error")
        return redirect(request.form.get("back") == "call" and url_for("call", sha=a["sha256"])
                        or url_for("appeal_list"))

    # --- calibration and what reviews teach ----------------------------------------------------
    @app.get("/calibration")
    @need("review")
    def calibration_list() -> Any:
        day = request.args.get("day") or None
        return render_template("calibrations.html.j2", sessions=reviews.calibrations(conn()),
                               days=reviews.days(conn()), day=day,
                               calls=reviews.call_list(conn(), day=day, limit=200) if day else [])

    @app.post("/calibration")
    @need("calibrate")
    def calibration_add() -> Any:
        chosen = [s for s in request.form.getlist("call") if reviews.call_by_sha(conn(), s)]
        try:
            if len(chosen) < 1:
                raise AuditError("choose at least one call")
            cal = reviews.add_calibration(conn(), text("name"), chosen, me().name)
        except AuditError as e:
            flash(str(e), "error")
            return redirect(url_for("calibration_list"))
        return redirect(url_for("calibration_page", cal=cal))

    @app.get("/calibration/<int:cal>")
    @need("review")
    def calibration_page(cal: int) -> Any:
        k = reviews.calibration(conn(), cal)
        if k is None:
            abort(404)
        agreement = agreement_by_rule(reviews.calibration_ratings(conn(), cal)) \
            if accounts.can(me(), "calibrate") else None
        return render_template("calibration.html.j2", k=k, agreement=agreement)

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


def _local_path(nxt: str) -> str:
    """`nxt` if it is a path on this site, else "": never an open redirect to another host
    (browsers drop tabs and newlines and read a backslash as a slash: /\t/evil is //evil)."""
    from urllib.parse import urlsplit

    if not nxt.startswith("/") or any(c < " " or c in "\\\x7f" for c in nxt):
        return ""
    parts = urlsplit(nxt)
    return "" if parts.scheme or parts.netloc or nxt.startswith("//") else nxt


def _time(value: str) -> float | None:
    """'1:05' or '65' or '' -> seconds (None when empty); AuditError otherwise."""
    value = value.strip()
    if not value:
        return None
    try:
        parts = [float(p) for p in value.split(":")]
    except ValueError:
        raise AuditError(f"time {value!r}: give m:ss or seconds") from None
    if len(parts) > 3 or any(p < 0 for p in parts):
        raise AuditError(f"time {value!r}: give m:ss or seconds")
    t = 0.0
    for p in parts:
        t = 60 * t + p
    return t


def serve(db: str, host: str = "127.0.0.1", port: int = 8080, rules: str | None = None,
          lang: str = "zh", secure_cookies: bool = False, threads: int = 4) -> None:
    """Run the workbench with waitress until interrupted."""
    from waitress import serve as waitress_serve

    app = create_app(db, rules, lang, secure_cookies)
    waitress_serve(app, host=host, port=port, threads=threads, ident="callaudit")


__all__ = ["create_app", "serve"]
