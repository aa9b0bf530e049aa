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
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import ChoiceLoader, PackageLoader

from callaudit.errors import AuditError
from callaudit.render.html import mmss, template_filters
from callaudit.results import reviews, store
from callaudit.review import accounts
from callaudit.review.web import accounts as web_accounts
from callaudit.review.web import appeals as web_appeals
from callaudit.review.web import calibration as web_calibration
from callaudit.review.web import calls as web_calls
from callaudit.review.web import hotwords as web_hotwords
from callaudit.review.web import queue as web_queue
from callaudit.review.web import reports as web_reports
from callaudit.review.web import search as web_search
from callaudit.review.web.accounts import LoginUser
from callaudit.review.web.site import Site, conn, site
from callaudit.review.words import WORDS
from callaudit.rules.pack import load
from callaudit.strings import LABELS

# Scripts only from this site (/workbench.js), none inline and no handler attributes; styles
# may be inline (style-src), nothing from elsewhere.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; "
       "img-src data: 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")


class _Flask(Flask):
    def select_jinja_autoescape(self, filename: str) -> bool:
        return True  # every template, whatever its suffix (.j2 is not in Flask's list)


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
    personal data masked (always so for a database of masked transcripts). The pages are the
    blueprints of review/web/; here, what protects them all."""
    pack = load(rules)
    c0 = store.connect(db)  # created or upgraded (and checked) now, not by the first request
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
    W, L = WORDS[lang], LABELS[lang]
    app.extensions["callaudit"] = Site(
        db=db, db_path=Path(db).resolve(), pack=pack, lang=lang, masked=masked, W=W, L=L,
        names={r.id: r.text(lang, pack.settings) for r in pack.rules})
    CSRFProtect(app)
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://")
    logins = LoginManager(app)
    logins.login_view = "accounts.login"
    logins.session_protection = "strong"
    logins.login_message = W["please_login"]
    # what the pages show of stored values: times without ISO's T and seconds, who acted
    # (the command line by name), what the trail kept as labelled fields, not JSON
    app.jinja_env.filters.update(when=_when, actor=lambda v: _actor(v, W),
                                 fields=lambda v: _fields(v, W))
    app.register_blueprint(web_accounts.blueprint(limiter))
    for area in (web_calls, web_queue, web_appeals, web_calibration, web_reports, web_search,
                 web_hotwords):
        app.register_blueprint(area.blueprint())

    @app.teardown_appcontext
    def _close(_: BaseException | None) -> None:
        c = g.pop("conn", None)
        if c is not None:
            c.close()

    @logins.user_loader
    def _load(uid: str) -> LoginUser | None:
        ident, _, gen = uid.partition(":")
        u = reviews.user_by_id(conn(), int(ident)) if ident.isdigit() else None
        if u is None or u.disabled or str(u.session_gen) != gen:
            return None
        return LoginUser(u)

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["X-Frame-Options"] = "DENY"
        if request.endpoint != "calls.audio":
            resp.headers["Cache-Control"] = "no-store"  # pages hold what callers said
        return resp

    @app.context_processor
    def _words() -> dict[str, Any]:
        u = current_user.user if current_user.is_authenticated else None
        return {"W": W, "L": L, "lang": lang, "me": u, "RN": site().names,
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

    return app


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
