"""The `audit` command line's arguments, every command and option with its help."""

from __future__ import annotations

import argparse

from callaudit.cli.common import (
    seconds,
)
from callaudit.cli.search import day as search_day
from callaudit.version import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="audit", description="Audit Chinese call-center recordings.")
    p.add_argument("--version", action="version", version=f"callaudit {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("check", help="audit one recording and print the verdict")
    c.add_argument("file", help="recording: wav, mp3, m4a, flac, ogg, amr ...")
    c.add_argument("--json", metavar="OUT", help="also write the result as JSON (- for stdout)")
    c.add_argument("--model", metavar="DIR", help="CTranslate2 Whisper model directory "
                   "(default: $CALLAUDIT_MODEL or models/whisper-base)")
    c.add_argument("--rules", metavar="FILE", help="rule pack merged over the default")
    c.add_argument("--agent-channel", choices=("auto", "left", "right"), default="auto")
    c.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the report")
    c.add_argument("--no-transcript", action="store_true", help="verdict and metrics only")
    c.add_argument("--html", metavar="OUT", help="also write the reviewer page (one HTML file)")
    c.add_argument("--redact", action="store_true", help="mask personal data (phone, ID and card "
                   "numbers, codes, e-mail, names) in the verdict, the JSON and the page's text and "
                   "audio")
    c.add_argument("--beam-size", type=int, default=5)
    c.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    c.add_argument("--no-separation", action="store_true", help="mono calls: roles from words "
                   "only, no speaker separation")
    c.add_argument("--max-missing", type=seconds, metavar="SECONDS", help="refuse a truncated "
                   "recording missing more than this of its declared length (default: a warning)")
    c.add_argument("--raw", metavar="FORMAT:RATE", help="a headerless file's format (.raw .ul .al "
                   ".pcm .vox .sln): FORMAT:RATE[:CHANNELS], e.g. ulaw:8000 (ulaw, alaw, s16le, u8, vox)")

    b = sub.add_parser("batch", help="audit a folder or a CSV manifest into a database")
    b.add_argument("source", help="folder (searched recursively) or manifest.csv "
                   "(columns: path, call_id, agent_id, agent_channel, started_at)")
    b.add_argument("--db", required=True, help="SQLite results database (created if missing)")
    b.add_argument("--workers", type=int, default=0,
                   help="worker processes (default: one per core, as memory allows)")
    b.add_argument("--threads", type=int, default=0, help="CPU threads per worker "
                   "(default: cores/workers)")
    b.add_argument("--pattern", help="file name pattern, e.g. '{date}_{agent_id}_{call_id}'")
    b.add_argument("--model", metavar="DIR")
    packs = b.add_mutually_exclusive_group()
    packs.add_argument("--rules", metavar="FILE")
    packs.add_argument("--scorecards", metavar="FILE", help="a rule pack per business line "
                       "(YAML: by, lines, default; docs/BATCH.md): each call judged by its line's")
    b.add_argument("--force", action="store_true", help="re-audit calls already stored")
    b.add_argument("--redact", action=argparse.BooleanOptionalAction, default=None,
                   help="store transcripts with personal data masked (default: what the database "
                   "was made with; a new database masks; --no-redact makes one that does not)")
    b.add_argument("--retry-failed", action="store_true", help="retry files that failed before")
    b.add_argument("--max-hours", type=float, default=4.0, help="longer files are failures")
    b.add_argument("--time-limit", type=seconds, default=300.0, metavar="SECONDS",
                   help="a call still auditing after this long, or after half its length once "
                   "decoded if that is more, is stopped and stored as failed (default 300)")
    b.add_argument("--max-missing", type=seconds, metavar="SECONDS", help="a truncated recording "
                   "missing more than this of its declared length is stored as failed "
                   "(default: audited with a warning)")
    b.add_argument("--beam-size", type=int, default=5)
    b.add_argument("--lang", choices=("zh", "en"), default="zh",
                   help="language of the stored messages and details")
    b.add_argument("--no-separation", action="store_true", help="mono calls: roles from words "
                   "only, no speaker separation")
    b.add_argument("--raw", metavar="FORMAT:RATE", help="headerless files' format, e.g. ulaw:8000 "
                   "(see check --raw; a manifest's raw column gives it per file)")
    b.add_argument("--cluster", metavar="ADDR", help="run on Dask: local:N (N worker processes "
                   "here) or a scheduler address, e.g. tcp://head:8786 (needs callaudit[cluster])")

    sm = sub.add_parser("summary", help="per agent, rule or day, from a results database")
    sm.add_argument("--db", required=True)
    sm.add_argument("--by", choices=("agent", "rule", "day", "line"), default="agent",
                    help="line: the business line of `batch --scorecards`")
    sm.add_argument("--day", help="only this day (YYYY-MM-DD)")
    sm.add_argument("--format", choices=("table", "csv", "json"), default="table",
                    help="table: for people (--lang); csv, json: for machines (snake_case keys, "
                    "rule ids, raw numbers)")
    sm.add_argument("--rules", metavar="FILE", help="rule pack whose review_min_precision and "
                    "review_min_reviewed flag rules (by rule), and that names rules the stored "
                    "results do not")
    sm.add_argument("--lang", choices=("zh", "en"), default="zh",
                    help="language of the table's headers, rule names and values")
    sm.add_argument("--wide", action="store_true", help="every column (the default table has "
                    "the ones that fit 80 columns)")

    ex = sub.add_parser("export", help="write every call of a database to csv, jsonl or xlsx")
    ex.add_argument("--db", required=True)
    ex.add_argument("--format", choices=("csv", "jsonl", "xlsx"), required=True)
    ex.add_argument("--out", required=True)
    ex.add_argument("--lang", choices=("zh", "en"), default="zh",
                    help="language of the failed findings' messages and details (xlsx)")
    ex.add_argument("--rules", metavar="FILE", help="rule pack whose review settings flag rules")
    ex.add_argument("--redact", action="store_true", help="mask personal data in what is written "
                    "(a database of masked transcripts is masked anyway)")

    rs = sub.add_parser("rescore", help="re-run rules over stored calls (no audio, no model)")
    rs.add_argument("--db", required=True)
    rs_packs = rs.add_mutually_exclusive_group()
    rs_packs.add_argument("--rules", metavar="FILE", help="the new rule pack (default: the default)")
    rs_packs.add_argument("--scorecards", metavar="FILE", help="a rule pack per business line "
                          "(docs/BATCH.md): each stored call judged by its line's")
    rs.add_argument("--lang", choices=("zh", "en"), default="zh")

    rp = sub.add_parser("report", help="reviewer page of a call, or the nightly dashboard")
    rp.add_argument("result", nargs="?", help="a result JSON written by `audit check --json`")
    rp.add_argument("--audio", help="the recording, embedded in the page (or linked)")
    rp.add_argument("--db", help="results database (with --call: one call; without: dashboard)")
    rp.add_argument("--call", help="call id (or file, or sha256) in the database")
    rp.add_argument("-o", "--out", required=True, help="the HTML file to write")
    rp.add_argument("--link-audio", action="store_true",
                    help="link the recording by relative path instead of embedding it")
    rp.add_argument("--lang", choices=("zh", "en"), default="zh")
    rp.add_argument("--redact", action="store_true", help="mask personal data in the pages' text, "
                    "and embed the audio with it masked (never a link to the recording)")
    rp.add_argument("--rules", metavar="FILE", help="dashboard: rule pack whose review settings "
                    "flag rules")

    sv = sub.add_parser("serve", help="the review workbench in a browser (needs callaudit[serve])")
    sv.add_argument("--db", required=True, help="results database (review tables are added)")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: the LAN)")
    sv.add_argument("--port", type=int, default=8080)
    sv.add_argument("--rules", metavar="FILE", help="rule pack for reviewed scores and the queue")
    sv.add_argument("--lang", choices=("zh", "en"), default="zh")
    sv.add_argument("--secure-cookies", action="store_true",
                    help="session cookie over HTTPS only (behind a TLS proxy)")
    sv.add_argument("--threads", type=int, default=4, help="request threads")
    sv.add_argument("--redact", action="store_true", help="mask personal data in the pages and "
                    "their audio (a database of masked transcripts is masked anyway)")
    sv.add_argument("--trusted-proxy", metavar="ADDR", help="a reverse proxy's address whose "
                    "X-Forwarded-For names the client (log-in limits count clients)")

    us = sub.add_parser("users", help="accounts of the review workbench")
    usub = us.add_subparsers(dest="users_cmd", required=True)
    ua = usub.add_parser("add", help="add an account, or set its role and password")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=("admin", "supervisor", "reviewer", "agent"))
    ua.add_argument("--agent-id", help="an agent's id in the calls (default: the name)")
    ua.add_argument("--db", required=True)
    ua.add_argument("--password-stdin", action="store_true",
                    help="read the password from the first line of stdin (scripts)")
    ua.add_argument("--reset", action="store_true", help="an existing account: set its password "
                    "and role (its sessions end)")
    ul = usub.add_parser("list", help="list the accounts")
    ul.add_argument("--db", required=True)
    ud = usub.add_parser("disable", help="disable an account (its reviews stay)")
    ud.add_argument("name")
    ud.add_argument("--db", required=True)

    sp = sub.add_parser("sample", help="the day's review queue (抽检): drawn once, then shown")
    sp.add_argument("--db", required=True)
    sp.add_argument("--date", required=True, help="the day (YYYY-MM-DD) of the calls")
    sp.add_argument("--rules", metavar="FILE", help="rule pack whose settings say what to draw")
    sp.add_argument("--seed", help="seed of a new draw (default: callaudit-DATE)")
    sp.add_argument("--format", choices=("table", "csv", "json"), default="table")

    rd = sub.add_parser("redact", help="mask the personal data a database holds, in place, and "
                        "store only masked transcripts from now on")
    rd.add_argument("--db", required=True)
    rd.add_argument("--rules", metavar="FILE", help="rule pack whose `entities:` say what to mask")

    dbp = sub.add_parser("db", help="the results database itself: check it for damage")
    dbsub = dbp.add_subparsers(dest="db_cmd", required=True)
    dc = dbsub.add_parser("check", help="SQLite's check of the file, and every stored result "
                          "read back; exit 1 when anything is damaged")
    dc.add_argument("--db", required=True)
    dc.add_argument("--full", action="store_true",
                    help="integrity_check (indexes too; slower) instead of quick_check")
    di = dbsub.add_parser("reindex", help="make the transcript index (audit search) again "
                          "from the stored utterances")
    di.add_argument("--db", required=True)

    se = sub.add_parser("search", help="moments of the transcripts: words, \"a phrase\", ~sound "
                        "(pinyin), AND / OR / NOT (docs/SEARCH.md)")
    se.add_argument("query", help='e.g. 退款, "不知道" AND VIP, ~工号, 投诉 NOT 表扬')
    se.add_argument("--db", required=True, help="results database (opened read-only)")
    se.add_argument("--agent", metavar="A", help="only this agent's calls")
    se.add_argument("--day-from", type=search_day, metavar="D", help="from this day (YYYY-MM-DD)")
    se.add_argument("--day-to", type=search_day, metavar="D", help="to this day (YYYY-MM-DD)")
    se.add_argument("--who", choices=("agent", "customer"), help="said by the agent, or the customer")
    se.add_argument("--rule", metavar="R", help="only calls that failed rule R")
    se.add_argument("--limit", type=int, default=50, metavar="N", help="moments shown (default 50)")
    se.add_argument("--json", action="store_true", help="the moments as JSON on stdout")

    r = sub.add_parser("rules", help="list or validate rule packs")
    rsub = r.add_subparsers(dest="rules_cmd", required=True)
    rl = rsub.add_parser("list", help="print the rules in force")
    rl.add_argument("--rules", metavar="FILE", help="rule pack merged over the default")
    rl.add_argument("--lang", choices=("zh", "en"), default="zh")
    rc = rsub.add_parser("check", help="validate a rule pack; every error with its line")
    rc.add_argument("file")
    rt = rsub.add_parser("test", help="run every rule's examples; each wrong verdict with its line")
    rt.add_argument("file", nargs="?", help="rule pack merged over the default (default: none)")
    rsub.add_parser("default", help="print the default rule pack (a starting point to copy)")
    ry = rsub.add_parser("try", help="what a draft pack would change on stored calls: re-judged, "
                         "nothing written (no audio, no model)")
    ry.add_argument("file", metavar="PACK", help="the draft rule pack (merged over the default)")
    ry.add_argument("--db", required=True, help="results database (opened read-only)")
    ry.add_argument("--limit", type=int, metavar="N", help="only the first N stored calls")
    ry.add_argument("--line", metavar="NAME", help="only the calls of this business line "
                    "(`batch --scorecards`): a draft of that line's pack")
    ry.add_argument("--workers", type=int, default=0, metavar="N",
                    help="processes that judge (default: one per core)")
    ry.add_argument("--examples", type=int, default=3, metavar="N",
                    help="calls named per rule and kind of change (default 3)")
    ry.add_argument("--format", choices=("table", "json"), default="table")
    ry.add_argument("--lang", choices=("zh", "en"), default="zh")
    return p
