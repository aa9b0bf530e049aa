"""Mask the personal data a results database already holds (`audit redact --db X`).

For a database made before masking was the default, or with `batch --no-redact`: every
stored result is masked (privacy/mask.py) and its rows rewritten, one call per
transaction, and the database is set to store only masked transcripts from then on.
"""

from __future__ import annotations

from audit.privacy.mask import redact
from audit.results.store import connect, result_rows, rewrite_text, set_redaction
from audit.rules.pack import load


def redact_stored(db: str, rules: str | None = None) -> tuple[int, dict[str, int]]:
    """Mask every stored call of `db` with the `entities:` of pack `rules` (None: the
    default); (calls rewritten, entities found by type)."""
    pack = load(rules)
    conn = connect(db)
    set_redaction(conn, True)  # first: a batch started meanwhile stores masked calls too
    found: dict[str, int] = {}
    n = 0
    for r in list(result_rows(conn)):
        if not r["result"] or (r["result"].get("privacy") or {}).get("redacted"):
            continue
        masked = redact(r["result"], pack)
        rewrite_text(conn, r["id"], masked)
        for k, v in masked["privacy"]["counts"].items():
            found[k] = found.get(k, 0) + v
        n += 1
    conn.close()
    return n, found
