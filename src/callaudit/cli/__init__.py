"""`audit` command line: check one call, audit a folder, report, list or validate rule packs.

Exit status: 0 the call passes (a batch: every file audited), 1 it fails the audit (a batch:
some files could not be audited, each stored as failed with its reason), 2 usage or input
error, 3 a batch was incomplete (paths it could not read), 4 the results database could not
be written (disk full, read-only; what was stored before is intact), 5 (check) nobody speaks
in the recording: there is no call to judge. docs/LIMITS.md: "Failure modes".
"""

from __future__ import annotations

import sqlite3

from rich.console import Console

from callaudit.cli.check import check_command
from callaudit.cli.common import (  # noqa: F401 - the exit statuses, for callers and tests
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_INCOMPLETE,
    EXIT_NO_SPEECH,
    EXIT_NOT_CONNECTED,
    EXIT_PASS,
    EXIT_STORAGE,
    print_error,
    quiet_stdout,
)
from callaudit.cli.parser import build_parser
from callaudit.cli.results import batch_command, db_check_command, db_command, report_command
from callaudit.cli.review import review_command
from callaudit.cli.rules import rules_command
from callaudit.cli.search import reindex_command, search_command
from callaudit.errors import AuditError, StorageError, first_line


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    err = Console(stderr=True, emoji=False)  # a path or value like ':x:' stays as written
    try:
        if args.cmd == "check":
            return check_command(args, err)
        if args.cmd == "batch":
            return batch_command(args, err)
        if args.cmd in ("summary", "export", "rescore", "redact"):
            return db_command(args, err)
        if args.cmd == "db":
            return reindex_command(args) if args.db_cmd == "reindex" else db_check_command(args)
        if args.cmd == "search":
            return search_command(args)
        if args.cmd == "report":
            return report_command(args)
        if args.cmd in ("serve", "users", "sample"):
            return review_command(args)
        return rules_command(args)
    except StorageError as e:
        print_error(err, e)
        return EXIT_STORAGE
    except AuditError as e:
        print_error(err, e)
        return EXIT_ERROR
    except sqlite3.DatabaseError as e:  # damage met while reading (a writer checks first)
        db = getattr(args, "db", None) or "the results database"
        print_error(err, AuditError(f"{db}: cannot be read ({first_line(e)}); "
                                    f"`audit db check --db {db}` says what is damaged"))
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except BrokenPipeError:  # `audit ... | head`: the reader left (files are written first)
        quiet_stdout()
        return EXIT_ERROR
