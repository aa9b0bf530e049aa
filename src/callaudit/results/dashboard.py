"""What the nightly dashboard shows of a results database, read once: plain rows and
records, in no language (render/html.py words them and writes the page).

`dashboard(conn)` is the night in rows; `worst(calls)` the calls that get a page of their
own; `call_pages(conn, db, calls)` reads those calls' results one at a time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callaudit.parts import Reason
from callaudit.records import CallResult
from callaudit.results import store
from callaudit.results.hotwords import NightTerms, night_terms
from callaudit.results.summary import business_lines, summary
from callaudit.settings import Settings

WORST_SHOWN = 20  # the lowest-scored calls that did not fail fatally, beside every fatal one


@dataclass
class Dashboard:
    """A results database for the dashboard.

    `calls`: the audited calls, lowest score first (id, sha256, call_id, agent_id, day,
    file, duration_s, score, passed, fatal, and `fatal_rules`: the fatal rules each failed);
    `failures`: the files that could not be audited; `no_speech` / `not_connected`: the
    recordings with no call to judge (file, day, agent_id, `why` a Reason or None);
    `agents`, `rules`, `lines`: results/summary.py's rows by agent, by rule, by business
    line (none when there is one line or none); `hist`: how many calls scored 0-9, 10-19 ...
    90-100; `hot`: the newest night's hot words (results/hotwords.py)."""

    calls: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    no_speech: list[dict[str, Any]]
    not_connected: list[dict[str, Any]]
    agents: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    hist: list[int] = field(default_factory=lambda: [0] * 10)
    hot: NightTerms | None = None

    @property
    def totals(self) -> dict[str, Any]:
        """calls, hours of audio, pass_rate (0-1), fatal calls, failed_files, no_speech,
        not_connected."""
        ok = self.calls
        return {"calls": len(ok), "hours": sum(c["duration_s"] or 0 for c in ok) / 3600,
                "pass_rate": (sum(c["passed"] for c in ok) / len(ok)) if ok else 0.0,
                "fatal": sum(c["fatal"] for c in ok), "failed_files": len(self.failures),
                "no_speech": len(self.no_speech), "not_connected": len(self.not_connected)}

    @property
    def worst(self) -> list[dict[str, Any]]:
        """The calls that get a page: every fatal one, then the lowest-scored others."""
        return worst(self.calls)


def dashboard(conn: sqlite3.Connection, settings: Settings | None = None,
              masked: bool = False) -> Dashboard:
    """The dashboard's rows of the database at `conn`; `settings`: the review thresholds
    that flag rules (results/summary.py; the default pack's when None); `masked`: the page
    shows personal data masked (no hot words cut from unmasked text)."""
    ok = store.ok_calls(conn)
    fatal_rules = store.fatal_rules_by_call(conn)
    hist = [0] * 10
    for c in ok:
        hist[min(9, int((c["score"] or 0) // 10))] += 1
        c["fatal_rules"] = fatal_rules.get(c["id"], [])
    return Dashboard(
        calls=ok, failures=store.failed_files(conn),
        no_speech=_why(store.no_speech_calls(conn)),
        not_connected=_why(store.no_speech_calls(conn, "not_connected")),
        agents=summary(conn, "agent"), rules=summary(conn, "rule", settings=settings),
        lines=business_lines(conn), hist=hist, hot=night_terms(conn, masked=masked))


def _why(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with their `why` (stored {key, args, text}) as a Reason."""
    for r in rows:
        if not isinstance(r["why"], Reason):
            r["why"] = Reason.from_json(r["why"])
    return rows


def worst(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of `calls` (lowest score first): every fatal one, then the WORST_SHOWN lowest others."""
    return [c for c in calls if c["fatal"]] + [c for c in calls if not c["fatal"]][:WORST_SHOWN]


def call_pages(conn: sqlite3.Connection, db: str, calls: list[dict[str, Any]],
               ) -> Iterator[tuple[dict[str, Any], CallResult, dict[str, Any], Path]]:
    """Each of `calls` (rows of `Dashboard.calls`) with its stored result, its meta
    ({call_id, agent_id, day, file}) and where its recording is (`recording_file`: as
    stored, from whatever folder; it may be gone), read one at a time."""
    for c in calls:
        result, meta = store.stored_call(conn, c["sha256"])  # this call, not another with its id
        yield c, result, meta, store.recording_file(c["file"], db)
