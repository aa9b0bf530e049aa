"""Exports of the results database: every call to csv (a row each), jsonl (the full result
a line) or xlsx (sheets: calls, agents, rules, failed findings). Messages and details of the
failed findings are in `lang`, from the keys each stored result carries."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from callaudit.errors import AuditError
from callaudit.outputs import commit, temp_path
from callaudit.records import CallResult
from callaudit.results import reviews, store
from callaudit.results.summary import call_rows, summary, to_csv
from callaudit.settings import Settings

FORMATS = ("csv", "jsonl", "xlsx")


# masks an audit.call/1 JSON result's personal data (privacy/mask.py redact with a pack)
Redact = Callable[[dict[str, Any]], dict[str, Any]]


def results(conn: sqlite3.Connection, redact: Redact | None = None) -> Iterator[dict[str, Any]]:
    """store.result_rows (each "result" a CallResult, None for a file that failed), each
    result masked by `redact` (on its JSON, read back as a record) when given."""
    for r in store.result_rows(conn):
        if redact is not None and r["result"] is not None:
            r["result"] = CallResult.from_json(redact(r["result"].to_json()), check=False)
        yield r


def personal_data(result: CallResult | None) -> str:
    """What personal data a call's words held, by type: 'id_card:1 mobile:2' ('' for none)."""
    counts = result.privacy.counts if result is not None and result.privacy is not None else {}
    return " ".join(f"{k}:{v}" for k, v in sorted(counts.items()))


def export(conn: sqlite3.Connection, fmt: str, out: str, lang: str = "zh",
           settings: Settings | None = None, redact: Redact | None = None) -> int:
    """Write every call to `out` in `fmt` (whole or not at all); the number of calls.
    `settings`: the review thresholds that flag rules in the xlsx rules sheet; `redact`:
    masks each result's personal data (privacy/mask.py redact) before it is written."""
    if fmt not in FORMATS:
        raise AuditError(f"--format must be csv, jsonl or xlsx, not {fmt!r}")
    rows = call_rows(conn)
    held = {r["id"]: personal_data(r["result"]) for r in results(conn, redact)}
    for row in rows:
        row["personal_data"] = held.get(row["id"], "")
    tmp = temp_path(out)
    if fmt == "csv":
        tmp.write_text(to_csv(rows), encoding="utf-8-sig")  # BOM: Excel opens Chinese right
    elif fmt == "jsonl":
        with tmp.open("w", encoding="utf-8") as f:
            for r in results(conn, redact):
                r.pop("id")
                d = r["result"].to_json() if r["result"] is not None else \
                    {"file": r["file"], "status": "failed", "error": r["error"]}
                d.update(call_id=r["call_id"], agent_id=r["agent_id"], day=r["day"],
                         status=r["status"], line=r["line"])
                if r["result"]:  # what people decided (复核, 申诉), beside the machine's verdict
                    d["review"] = reviews.review_of_call(conn, r["sha256"])
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    else:
        _xlsx(conn, rows, str(tmp), lang, settings, redact)
    commit(tmp, out)
    return len(rows)


def failed_findings(conn: sqlite3.Connection, lang: str,
                    redact: Redact | None = None) -> list[dict[str, Any]]:
    """Every failed finding with its call, largest deduction first within a call, its
    message and detail in `lang`."""
    out = []
    for r in results(conn, redact):
        result: CallResult | None = r["result"]
        if result is None:
            continue
        failed = [f for f in result.findings if f.applicable and not f.passed]
        for f in sorted(failed, key=lambda f: -f.deduction):
            ev = f.evidence
            out.append({"call_id": r["call_id"], "agent_id": r["agent_id"], "rule": f.rule,
                        "severity": f.severity, "deduction": f.deduction,
                        "review": int(f.review),
                        "start": ev[0].start if ev else None,
                        "end": ev[0].end if ev else None,
                        "message": result.message_of(f, lang),
                        "detail": f.detail_in(lang),
                        "evidence_text": " | ".join(e.text for e in ev)})
    return out


def _xlsx(conn: sqlite3.Connection, rows: list[dict[str, Any]], path: str, lang: str,
          settings: Settings | None, redact: Redact | None) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    sheets = {
        "calls": rows,
        "agents": summary(conn, "agent"),
        "rules": summary(conn, "rule", settings=settings),
        "failed findings": failed_findings(conn, lang, redact),
    }
    wb.remove(wb.active)
    for name, data in sheets.items():
        ws = wb.create_sheet(name)
        if data:
            ws.append(list(data[0]))
            for r in data:
                ws.append(list(r.values()))
    wb.save(path)
