"""Accounts of the review workbench: passwords hashed with Argon2id (argon2-cffi, RFC 9106
parameters of its PasswordHasher), roles and what each may do.

admin       everything, and accounts (on the command line: `audit users add`)
supervisor  what a reviewer does, decides appeals (申诉), runs calibration, sees precision
reviewer    the queue (抽检), every call, reviews (复核), notes, missed findings
agent       only the calls whose agent id is theirs; appeals findings on them
"""

from __future__ import annotations

import sqlite3

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from callaudit.errors import AuditError
from callaudit.results import reviews
from callaudit.results.reviews import ROLES, User

_HASHER = PasswordHasher()
MIN_PASSWORD = 8
# A hash to verify against when the name is unknown: the answer takes as long as for a real
# account, so the login form does not tell which names exist.
_DUMMY = _HASHER.hash("not a password of anyone")

CAN = {
    "review": {"admin", "supervisor", "reviewer"},
    "see_all_calls": {"admin", "supervisor", "reviewer"},
    "decide_appeal": {"admin", "supervisor"},
    "calibrate": {"admin", "supervisor"},
    "appeal": {"agent"},
}


def can(user: User, action: str) -> bool:
    return user.role in CAN[action]


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AuditError(f"a password needs at least {MIN_PASSWORD} characters")
    return _HASHER.hash(password)


def add(conn: sqlite3.Connection, name: str, role: str, password: str,
        agent_id: str | None = None, actor: str = "(command line)", reset: bool = False) -> None:
    """Create an account (with `reset`: set an existing one's password and role, ending its
    sessions). An agent's calls are those stored with agent id `agent_id` (default: the
    name)."""
    name = name.strip()
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise AuditError(f"user name {name!r}: 1-64 characters, no spaces")
    if role not in ROLES:
        raise AuditError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "agent":
        agent_id = agent_id or name
    reviews.add_user(conn, name, role, hash_password(password), agent_id, actor, reset)


def authenticate(conn: sqlite3.Connection, name: str, password: str) -> User | None:
    """The account if `password` is its password (and it is enabled), else None."""
    user = reviews.user_by_name(conn, name)
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        reviews.set_password_hash(conn, name, _HASHER.hash(password))
    return user
