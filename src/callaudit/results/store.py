"""The results database (SQLite): one writer, WAL mode, one transaction per call.

A call is identified by the sha256 of its file's content: re-running a batch skips what is
stored, a file whose content changed is audited again (its old row replaced), and a copy
of the same recording under another name is not audited twice. Every call is written in a
single transaction, so a batch killed at any point leaves only whole calls behind.

Schema (documented for QA leads in docs/DATABASE.md):
  calls       one row per recording: identity, agent, day, status, score, verdict, versions,
              timings, and the full audit.call/1 result as JSON
  findings    one row per rule evaluated on a call (with its first evidence span and all
              evidence as text)
  utterances  what was said, by whom, when
  regions     VAD speech regions (kept so a call can be re-scored without its audio)
  metrics     scalar metrics of a call, one row per (call, name)

The SQL lives in three modules, one job each: database.py (the schema, its migrations,
opening), writes.py (a call's rows, in one transaction), queries.py (summaries, calls,
stored results); reviews.py holds the review tables' own. Summaries, exports, the dashboard
and re-scoring ask them for rows (tests/results/test_store.py keeps the SQL there). This module is
their one import for the rest of the package. The schema has a version (SCHEMA_VERSION,
stored in meta.schema_version); MIGRATIONS brings an older database up to it on connect().
"""

from __future__ import annotations

from callaudit.results.database import (  # noqa: F401 - re-exported
    MIGRATIONS,
    REVIEW_SCHEMA,
    REVIEW_TABLES,
    SCHEMA,
    SCHEMA_VERSION,
    Step,
    connect,
    fetch_rows,
    now,
    recording_file,
    run_step,
    transaction,
)
from callaudit.results.queries import (  # noqa: F401 - re-exported
    CALL_COLUMNS,
    SUMMARY_BY,
    CallsToRescore,
    call_ids,
    call_lines,
    call_rows,
    calls_to_rescore,
    failed_files,
    fatal_rules_by_call,
    known,
    no_speech_calls,
    ok_calls,
    result_rows,
    status_of,
    stored_call,
    stored_norms,
    stored_result,
    summary_rows,
    unreadable_results,
)
from callaudit.results.writes import (  # noqa: F401 - re-exported
    CallMeta,
    compact,
    insert_call,
    redaction,
    rewrite_text,
    set_redaction,
    stored_redaction,
    update_scores,
    write_failure,
    write_result,
)
