"""`audit search` (moments of the transcripts that match a query) and `audit db reindex`
(the transcript index made again from scratch). docs/SEARCH.md."""

from __future__ import annotations

import argparse
import datetime as dt
import json

from rich.console import Console
from rich.markup import escape

from callaudit.cli.common import EXIT_FAIL, EXIT_PASS, Out, existing_db
from callaudit.strings import mmss


def day(value: str) -> str:
    """A YYYY-MM-DD day (argparse type)."""
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{value!r} is not a day (YYYY-MM-DD)")


def search_command(args: argparse.Namespace) -> int:
    """Print the moments (newest day first) or, --json, write them as JSON on stdout. Exit 0
    when something was found, 1 when nothing was."""
    from callaudit.results import search
    from callaudit.results.store import connect

    q = search.parse(args.query)  # a malformed query: one line before the database is opened
    f = search.Filters(agent_id=args.agent, day_from=args.day_from, day_to=args.day_to,
                       who=args.who, rule=args.rule)
    conn = connect(existing_db(args.db), readonly=True)
    try:
        found = search.search(conn, q, f, limit=args.limit)
    finally:
        conn.close()
    if args.json:
        print(json.dumps({"query": q.text, "total": found.total, "more": found.more,
                          "moments": [m.to_json() for m in found.moments]},
                         ensure_ascii=False, indent=1))
        return EXIT_PASS if found.total else EXIT_FAIL
    out = Out(highlight=False, soft_wrap=True, emoji=False)
    for m in found.moments:
        said = "".join(f"[reverse]{escape(t)}[/reverse]" if on else escape(t) for t, on in m.parts())
        out.print(f"{escape(m.day or '-')}  {escape(m.call_id or m.sha256[:12])}  "
                  f"{escape(m.agent_id or '-')}  {mmss(m.start)}  {escape(m.role)}  {said}")
    shown = len(found.moments)
    more = f" (the first {shown}; --limit for more)" if shown < found.total else ""
    total = f"{found.total}{'+' if found.more else ''}"  # counted up to search.COUNT_UPTO
    Console(stderr=True, highlight=False).print(f"{total} moments{more}")
    return EXIT_PASS if found.total else EXIT_FAIL


def reindex_command(args: argparse.Namespace) -> int:
    """`audit db reindex --db X`: the transcript index made again from the stored utterances."""
    from callaudit.results import search
    from callaudit.results.store import connect, transaction

    db = existing_db(args.db)
    conn = connect(db)  # a database from before the index gets it here (migration 10)
    try:
        with transaction(conn):
            n = search.rebuild(conn)
        search.optimize(conn)
    finally:
        conn.close()
    print(f"{db}: transcript index made again ({n} utterances)")
    return EXIT_PASS
