"""Fixtures of the review workbench's tests: a template database of the four stored audits and
the USERS (accounts made once: Argon2 is slow on purpose), and a fresh copy of it per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from callaudit.results import reviews
from callaudit.results.store import connect
from callaudit.review import accounts
from tests.helpers import copy_database
from tests.helpers.review import CALLS, PASSWORD, USERS, add_call


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("review") / "template.sqlite"
    conn = connect(db)
    for name, agent in CALLS.items():
        add_call(conn, name, agent=agent)
    hashed = accounts.hash_password(PASSWORD)  # once: Argon2 is slow on purpose
    for name, role, agent in USERS:
        reviews.add_user(conn, name, role, hashed, agent, "test")
    reviews.disable_user(conn, "gone", "test")
    conn.close()
    return db


@pytest.fixture
def db(template_db: Path, tmp_path: Path) -> str:
    """A fresh copy of the template database: 4 calls of DAY, the USERS."""
    return copy_database(template_db, tmp_path / "review.sqlite")
