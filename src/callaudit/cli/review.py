"""`audit serve`, `users`, `sample`: the review workbench, its accounts and the day's
sample to review (抽检)."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from callaudit.cli.common import (
    EXIT_PASS,
    existing_db,
)
from callaudit.errors import AuditError


def require_serve() -> None:
    try:
        import argon2  # noqa: F401
        import flask  # noqa: F401
        import flask_limiter  # noqa: F401
        import flask_login  # noqa: F401
        import flask_wtf  # noqa: F401
        import waitress  # noqa: F401
    except ImportError as e:
        raise AuditError(f"the review workbench needs the [serve] extra ({e.name} is missing): "
                         "pip install 'callaudit[serve]'") from None


def review_command(args: argparse.Namespace) -> int:
    from callaudit.results.store import connect

    if args.cmd == "sample":
        return sample_command(args)
    require_serve()
    existing_db(args.db)  # a mistyped --db is an error, not a new empty database
    if args.cmd == "serve":
        from callaudit.review.server import serve

        conn = connect(args.db)  # upgrades it: one line now if it cannot
        from callaudit.results.reviews import users

        if not users(conn):
            print(f"no accounts yet: add one with `audit users add NAME --role admin --db {args.db}`")
        conn.close()
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"callaudit review workbench on http://{host}:{args.port}/ (Ctrl-C stops it)",
              flush=True)
        serve(args.db, args.host, args.port, args.rules, args.lang, args.secure_cookies,
              args.threads, args.trusted_proxy, args.redact)
        return EXIT_PASS
    from callaudit.review import accounts

    if args.users_cmd == "add":
        password = read_password(args.password_stdin)
        conn = connect(args.db)
        accounts.add(conn, args.name, args.role, password, args.agent_id, reset=args.reset)
        print(f"{args.name}: {args.role}" + (f" (calls of agent {args.agent_id or args.name})"
                                              if args.role == "agent" else ""))
        return EXIT_PASS
    conn = connect(args.db)
    if args.users_cmd == "disable":
        from callaudit.results.reviews import disable_user

        if not disable_user(conn, args.name, "(command line)"):
            raise AuditError(f"no account {args.name!r} in {args.db}")
        print(f"{args.name}: disabled")
        return EXIT_PASS
    from callaudit.results.reviews import users

    for u in users(conn):
        print(f"{u['name']}\t{u['role']}\t{u['agent_id'] or ''}"
              + ("\tdisabled" if u["disabled"] else ""))
    return EXIT_PASS


def read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AuditError("the two passwords differ")
    return first


def sample_command(args: argparse.Namespace) -> int:
    import datetime

    from callaudit.results.store import connect
    from callaudit.review.queue import queue_of_day
    from callaudit.rules.pack import load

    try:
        datetime.date.fromisoformat(args.date)
    except ValueError:
        raise AuditError(f"--date {args.date!r}: give a day as YYYY-MM-DD") from None
    pack = load(args.rules)
    conn = connect(existing_db(args.db))
    plan, new = queue_of_day(conn, args.date, pack, "(command line)", args.seed)
    rows = [{"n": i + 1, "call_id": it["call_id"], "agent_id": it["agent_id"],
             "reason": it["reason"], "score": it["score"], "reviewed_score": it["reviewed_score"],
             "sha256": it["sha256"]} for i, it in enumerate(plan["items"])]
    if args.format == "json":
        sys.stdout.write(json.dumps({k: plan[k] for k in ("day", "seed", "rules", "drawn_at",
                                                          "drawn_by")} | {"calls": rows},
                                    ensure_ascii=False, indent=1) + "\n")
        return EXIT_PASS
    if args.format == "csv":
        from callaudit.results.summary import to_csv

        sys.stdout.write(to_csv(rows))
        return EXIT_PASS
    from rich.table import Table

    t = Table(title=f"review queue {plan['day']} ({'drawn now' if new else 'drawn ' + plan['drawn_at']}"
                    f", seed {plan['seed']})")
    for col in ("n", "call_id", "agent_id", "reason", "score", "reviewed_score"):
        t.add_column(col)
    for r in rows:
        t.add_row(*("" if r[c] is None else str(r[c]) for c in
                    ("n", "call_id", "agent_id", "reason", "score", "reviewed_score")))
    Console(highlight=False).print(t)
    return EXIT_PASS
