"""Log in and out, and the home page (a reviewer's queue, everyone else's calls)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_limiter import Limiter
from flask_login import UserMixin, login_required, login_user, logout_user

from callaudit.results import reviews
from callaudit.results.reviews import User
from callaudit.review import accounts
from callaudit.review.web.site import can, conn, me, site


class LoginUser(UserMixin):
    """A signed-in account as Flask-Login holds it."""

    def __init__(self, user: User) -> None:
        self.user = user
        # the session names the account's session generation: log-out, a new password or
        # role, or disabling it bumps it, and every cookie of before stops working
        self.id = f"{user.id}:{user.session_gen}"


def blueprint(limiter: Limiter) -> Blueprint:
    bp = Blueprint("accounts", __name__)

    # failed log-ins only, per address and per name: a shift logging in at 9:00 is not limited
    @bp.route("/login", methods=["GET", "POST"])
    @limiter.limit("10 per minute", methods=["POST"], deduct_when=lambda r: r.status_code == 401)
    @limiter.limit("5 per minute", methods=["POST"], deduct_when=lambda r: r.status_code == 401,
                   key_func=lambda: "name:" + (request.form.get("name") or ""))
    def login() -> Any:
        if request.method == "GET":
            return render_template("login.html.j2", error=None)
        u = accounts.authenticate(conn(), request.form.get("name", ""),
                                  request.form.get("password", ""))
        if u is None:
            return render_template("login.html.j2", error=site().W["bad_login"]), 401
        session.permanent = True  # its lifetime: server.SESSION_HOURS
        login_user(LoginUser(u))
        return redirect(local_path(request.args.get("next", "")) or url_for("accounts.home"))

    @bp.post("/logout")
    @login_required
    def logout() -> Any:
        reviews.end_sessions(conn(), me().id)
        logout_user()
        return redirect(url_for("accounts.login"))

    @bp.get("/")
    @login_required
    def home() -> Any:
        return redirect(url_for("queue.queue" if can("review") else "calls.calls"))

    return bp


def local_path(nxt: str) -> str:
    """`nxt` if it is a path on this site, else "": never an open redirect to another host
    (browsers drop tabs and newlines and read a backslash as a slash: /\t/evil is //evil)."""
    from urllib.parse import urlsplit

    if not nxt.startswith("/") or any(c < " " or c in "\\\x7f" for c in nxt):
        return ""
    parts = urlsplit(nxt)
    return "" if parts.scheme or parts.netloc or nxt.startswith("//") else nxt
