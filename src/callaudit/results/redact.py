"""Mask the personal data a results database already holds (`audit redact --db X`).

For a database made before masking was the default, or with `batch --no-redact`: every
stored result is masked (privacy/mask.py) and its rows rewritten, one call per
transaction, and the database is set to store only masked transcripts from then on. The
old text must not survive in the file's free pages or its write-ahead log: SQLite's
secure_delete zeroes what is deleted, then VACUUM rebuilds the file and the log is
truncated. Copies taken before (backups, exports) are not touched.
"""

from __future__ import annotations

from callaudit.privacy.mask import redact_result
from callaudit.results import search
from callaudit.results.store import (
    call_ids,
    compact,
    connect,
    rewrite_text,
    set_redaction,
    stored_result,
)
from callaudit.rules.pack import load


def redact_stored(db: str, rules: str | None = None) -> tuple[int, dict[str, int]]:
    """Mask every stored call of `db` with the `entities:` of pack `rules` (None: the
    default); (calls rewritten, entities found by type)."""
    pack = load(rules)
    conn = connect(db)
    conn.execute("PRAGMA secure_delete = ON")
    set_redaction(conn, True)  # first: a batch started meanwhile stores masked calls too
    found: dict[str, int] = {}
    n = 0
    for call in call_ids(conn):  # one at a time: a night of results need not fit in memory
        result = stored_result(conn, call)
        if not result or (result.privacy is not None and result.privacy.redacted):
            continue
        masked = redact_result(result, pack)
        rewrite_text(conn, call, masked)
        for k, v in (masked.privacy.counts if masked.privacy else {}).items():
            found[k] = found.get(k, 0) + v
        n += 1
    search.optimize(conn)  # the index's pages too hold no term of the text as it was
    compact(conn)
    conn.close()
    return n, found
