"""`audit` command line: check one call, audit a folder, report, list or validate rule packs.

Exit status: 0 the call passes (a batch: every file audited), 1 it fails the audit (a batch:
some files could not be audited, each stored as failed with its reason), 2 usage or input
error, 3 a batch was incomplete (paths it could not read), 4 the results database could not
be written (disk full, read-only; what was stored before is intact), 5 (check) nobody speaks
in the recording: there is no call to judge. docs/LIMITS.md: "Failure modes".
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from callaudit.errors import AuditError, RulePackError, StorageError
from callaudit.version import __version__

EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INCOMPLETE, EXIT_STORAGE, EXIT_NO_SPEECH = 0, 1, 2, 3, 4, 5
EXIT_NOT_CONNECTED = 6  # check: the call never reached a person (no score, never a pass)


def _seconds(value: str) -> float:
    try:
        s = float(value)
    except ValueError:
        s = -1.0
    if not s >= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds >= 0")
    return s


def _parser() -> argparse.ArgumentParser:
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
    c.add_argument("--max-missing", type=_seconds, metavar="SECONDS", help="refuse a truncated "
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
    b.add_argument("--rules", metavar="FILE")
    b.add_argument("--force", action="store_true", help="re-audit calls already stored")
    b.add_argument("--redact", action=argparse.BooleanOptionalAction, default=None,
                   help="store transcripts with personal data masked (default: what the database "
                   "was made with; a new database masks; --no-redact makes one that does not)")
    b.add_argument("--retry-failed", action="store_true", help="retry files that failed before")
    b.add_argument("--max-hours", type=float, default=4.0, help="longer files are failures")
    b.add_argument("--max-missing", type=_seconds, metavar="SECONDS", help="a truncated recording "
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
    sm.add_argument("--by", choices=("agent", "rule", "day"), default="agent")
    sm.add_argument("--day", help="only this day (YYYY-MM-DD)")
    sm.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sm.add_argument("--rules", metavar="FILE", help="rule pack whose review_min_precision and "
                    "review_min_reviewed flag rules (by rule)")

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
    rs.add_argument("--rules", metavar="FILE", help="the new rule pack (default: the default)")
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
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    err = Console(stderr=True, emoji=False)  # a path or value like ':x:' stays as written
    try:
        if args.cmd == "check":
            return _check(args, err)
        if args.cmd == "batch":
            return _batch(args, err)
        if args.cmd in ("summary", "export", "rescore", "redact"):
            return _db_command(args, err)
        if args.cmd == "report":
            return _report(args)
        if args.cmd in ("serve", "users", "sample"):
            return _review(args)
        return _rules(args)
    except StorageError as e:
        _error(err, e)
        return EXIT_STORAGE
    except AuditError as e:
        _error(err, e)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except BrokenPipeError:  # `audit ... | head`: the reader left (files are written first)
        _quiet_stdout()
        return EXIT_ERROR


def _error(err: Console, e: Exception) -> None:
    err.print(f"[red]error:[/red] {escape(str(e))}", markup=True, highlight=False, soft_wrap=True)


def _check(args: argparse.Namespace, err: Console) -> int:
    import time

    from callaudit.audio.decode import decode
    from callaudit.outputs import atomic_write, check_writable
    from callaudit.pipeline import AuditOptions, Auditor
    from callaudit.render.terminal import render
    from callaudit.rules.pack import load
    from callaudit.speech.asr import AsrOptions

    for path in (args.json, args.html):
        check_writable(path)  # a bad output path is refused before the work, not after
    opts = AuditOptions(model_dir=args.model, rules=args.rules, agent_channel=args.agent_channel,
                        lang=args.lang, asr=AsrOptions(beam_size=args.beam_size,
                                                       cpu_threads=args.threads),
                        separate=not args.no_separation, max_missing_s=args.max_missing,
                        raw=args.raw, redact=args.redact)
    pack = load(opts.rules)  # a bad rule pack is one line before any audio is read
    t0 = time.perf_counter()
    # once: bad input is reported before the model loads
    audio = decode(args.file, opts.max_duration_s, opts.raw)
    decode_s = time.perf_counter() - t0
    with err.status("loading model ..."):
        auditor = Auditor(opts, pack)
    with err.status("transcribing ...") as status:
        def progress(stage: str, done: int, total: int) -> None:
            status.update(f"transcribing: window {done}/{total} ...")
        result = auditor.result_json(auditor.audit_audio(audio, progress, decode_s))
    # files first: a closed stdout (`| head`) must never cost the JSON or the page
    if args.json and args.json != "-":
        atomic_write(args.json, json.dumps(result, ensure_ascii=False, indent=2))
    if args.html:
        from callaudit.render.html import render_call

        render_call(result, args.html, audio=audio, lang=args.lang,
                    masked=pack.settings if args.redact else None)
    out = _Out(highlight=False, soft_wrap=True)
    try:
        if args.json == "-":
            sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        else:
            render(result, out, args.lang, transcript=not args.no_transcript)
            if args.json:
                out.print(f"\nJSON: {args.json}", style="dim")
            if args.html:
                out.print(f"HTML: {args.html}", style="dim")
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` left: the verdict stands, the files are written
        _quiet_stdout()
    if result.get("outcome") == "no_speech":
        return EXIT_NO_SPEECH
    if result.get("outcome") == "not_connected":
        return EXIT_NOT_CONNECTED
    return EXIT_PASS if result["passed"] else EXIT_FAIL


class _Out(Console):
    def on_broken_pipe(self) -> None:
        """The reader left (`| head`): print nothing more, keep the verdict's exit status
        (rich's own exits with 1, which reads as a failed call)."""
        self.quiet = True
        _quiet_stdout()


def _quiet_stdout() -> None:
    """Point stdout at nothing, so that Python's exit flush does not raise again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _existing_db(path: str) -> str:
    if not Path(path).is_file():
        raise AuditError(f"{path}: no such database (run `audit batch ... --db {path}` first)")
    return path


def _batch(args: argparse.Namespace, err: Console) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from callaudit.batch.jobs import BatchOptions, BatchStats
    from callaudit.batch.pool import run
    from callaudit.results.store import connect
    from callaudit.rules.pack import load
    from callaudit.speech.model import resolve

    load(args.rules)  # a bad rule pack or model is one line now, not one error per worker
    resolve(args.model)
    connect(args.db).close()  # a database that cannot be written: one line before any work
    if args.cluster:
        from callaudit.batch.cluster import require_dask

        require_dask()
    opts = BatchOptions(db=args.db, workers=args.workers, threads=args.threads,
                        model_dir=args.model, rules=args.rules, pattern=args.pattern,
                        force=args.force, retry_failed=args.retry_failed,
                        max_duration_s=args.max_hours * 3600, beam_size=args.beam_size,
                        cluster=args.cluster, separate=not args.no_separation,
                        lang=args.lang, max_missing_s=args.max_missing, raw=args.raw,
                        redact=args.redact)
    columns = (TextColumn("[bold]audit[/bold]"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[audio]}"), TextColumn("{task.fields[speed]}"),
               TimeRemainingColumn())
    seen: list[BatchStats] = []  # the running totals, for a batch stopped by its database
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("audit", total=None, audio="", speed="")

        def progress(stats: BatchStats, out: dict | None) -> None:
            if not seen:
                seen.append(stats)
                if stats.dashboard:
                    bar.console.print(f"Dask dashboard: {stats.dashboard}", highlight=False)
            bar.update(task, total=stats.total, completed=stats.done + stats.errors,
                       audio=f"{stats.audio_s / 3600:.2f} h audio",
                       speed=f"{stats.speed:.1f}x real time")
            if out and "error" in out:
                bar.console.print(f"[yellow]failed:[/yellow] {escape(out['error'])}",
                                  highlight=False, soft_wrap=True)

        try:
            stats = run(args.source, opts, progress)
        except StorageError as e:
            if seen:
                s = seen[0]
                raise StorageError(f"{e}; stopped: {s.done + s.errors} calls of this run were "
                                   f"stored and are intact, {s.total - s.done - s.errors} were "
                                   "not (run the same command again when it can write)") from None
            raise
    mins = stats.elapsed / 60
    print(f"{stats.done + stats.errors} audited in {mins:.1f} min "
          f"({stats.audio_s / 3600:.2f} h of audio, {stats.speed:.1f}x real time): "
          f"{stats.passed} passed, {stats.failed_audit} failed the audit, "
          + (f"{stats.no_speech} had no speech, " if stats.no_speech else "")
          + (f"{stats.not_connected} never connected, " if stats.not_connected else "") +
          f"{stats.errors} could not be audited; {stats.skipped} already in {args.db}"
          + (f"; {stats.duplicates} duplicates of files in this batch" if stats.duplicates else ""))
    if stats.worker_deaths:
        print(f"{stats.worker_deaths} worker processes died (killed, out of memory?) and were "
              "replaced; a call that killed two is stored as failed (\"worker died\")")
    if stats.unmatched:
        print(f"{len(stats.unmatched)} file names do not fit --pattern '{args.pattern}' (stored "
              f"without its fields): " + _some(stats.unmatched))
    if stats.unreadable:
        print(f"could not be read: {len(stats.unreadable)} paths, their calls were not audited "
              f"(the batch is incomplete): " + _some(stats.unreadable))
        return EXIT_INCOMPLETE
    return EXIT_FAIL if stats.errors else EXIT_PASS


def _some(items: list[str], n: int = 5) -> str:
    return "; ".join(items[:n]) + (f"; ... and {len(items) - n} more" if len(items) > n else "")


def _masking(args: argparse.Namespace, conn: sqlite3.Connection) -> bool:
    """Personal data is masked on the way out: asked with --redact, or the database stores
    masked transcripts (then whatever is asked)."""
    from callaudit.results.store import stored_redaction

    return bool(args.redact or stored_redaction(conn))


def _db_command(args: argparse.Namespace, err: Console) -> int:
    from callaudit.privacy.mask import redact
    from callaudit.results.export import export
    from callaudit.results.store import connect
    from callaudit.results.summary import summary, to_csv

    db = _existing_db(args.db)
    if args.cmd == "rescore":
        from callaudit.results.rescore import rescore

        n = rescore(db, args.rules, args.lang)
        print(f"re-scored {n} calls in {db}")
        return EXIT_PASS
    if args.cmd == "redact":
        from callaudit.results.redact import redact_stored

        n, found = redact_stored(db, args.rules)
        held = ", ".join(f"{k} {v}" for k, v in sorted(found.items())) or "none"
        print(f"masked {n} calls in {db} (personal data found: {held}); it stores only masked "
              "transcripts from now on")
        return EXIT_PASS
    from callaudit.rules.pack import load

    settings = load(args.rules).settings  # a bad pack: one line before anything is read
    conn = connect(db, readonly=True)  # readers need no write access
    if args.cmd == "export":
        pack = load(args.rules)
        n = export(conn, args.format, args.out, args.lang, settings,
                   (lambda d: redact(d, pack)) if _masking(args, conn) else None)
        print(f"{n} calls written to {args.out}")
        return EXIT_PASS
    rows = summary(conn, args.by, args.day, settings)
    if args.format == "csv":
        sys.stdout.write(to_csv(rows))
    elif args.format == "json":
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    else:
        from rich.table import Table

        t = Table(title=f"{db}: by {args.by}")
        for col in rows[0] if rows else ["(no calls)"]:
            t.add_column(col, overflow="fold")
        for r in rows:
            t.add_row(*("" if v is None else str(v) for v in r.values()))
        Console().print(t)
    return EXIT_PASS


def _report(args: argparse.Namespace) -> int:
    from callaudit.outputs import check_writable
    from callaudit.privacy.mask import redact
    from callaudit.records import result_problem
    from callaudit.render.html import render_call, render_dashboard
    from callaudit.results.store import connect, stored_call
    from callaudit.rules.pack import load

    check_writable(args.out)
    pack = load(args.rules)
    if args.db:
        db = _existing_db(args.db)
        conn = connect(db, readonly=True)
        masked = _masking(args, conn)
        if args.call:
            result, meta = stored_call(conn, args.call)
            audio = args.audio or (meta["file"] if Path(meta["file"]).exists() else None)
            render_call(redact(result, pack) if masked else result, args.out, audio=audio,
                        link_audio=args.link_audio, lang=args.lang, meta=meta,
                        masked=pack.settings if masked else None)
        else:
            render_dashboard(db, args.out, args.lang, settings=pack.settings,
                             redact=pack if masked else None)
    elif args.result:
        try:
            result = json.loads(Path(args.result).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise AuditError(f"{args.result}: not a readable result JSON ({e})") from None
        problem = result_problem(result)
        if problem:
            raise AuditError(f"{args.result}: {problem}")
        masked = args.redact or bool((result.get("privacy") or {}).get("redacted"))
        render_call(redact(result, pack) if masked else result, args.out, audio=args.audio,
                    link_audio=args.link_audio, lang=args.lang,
                    masked=pack.settings if masked else None)
    else:
        raise AuditError("report: give a result JSON, or --db (with --call for one call)")
    print(f"HTML: {args.out}")
    return EXIT_PASS


def _require_serve() -> None:
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


def _review(args: argparse.Namespace) -> int:
    from callaudit.results.store import connect

    if args.cmd == "sample":
        return _sample(args)
    _require_serve()
    _existing_db(args.db)  # a mistyped --db is an error, not a new empty database
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
        password = _password(args.password_stdin)
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


def _password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AuditError("the two passwords differ")
    return first


def _sample(args: argparse.Namespace) -> int:
    import datetime

    from callaudit.results.store import connect
    from callaudit.review.queue import queue_of_day
    from callaudit.rules.pack import load

    try:
        datetime.date.fromisoformat(args.date)
    except ValueError:
        raise AuditError(f"--date {args.date!r}: give a day as YYYY-MM-DD") from None
    pack = load(args.rules)
    conn = connect(_existing_db(args.db))
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


def _rules(args: argparse.Namespace) -> int:
    from callaudit.render.terminal import rules_table
    from callaudit.rules.pack import default_text, load

    out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    if args.rules_cmd == "default":
        sys.stdout.write(default_text())
        return EXIT_PASS
    if args.rules_cmd == "list":
        rules_table(load(args.rules), out, args.lang)
        return EXIT_PASS
    try:
        pack = load(args.file)
    except RulePackError as e:
        print(f"{e.path}: {len(e.errors)} error(s)")
        for line in e.errors:
            print(f"  {e.path}: {line}")
        return EXIT_ERROR
    if args.rules_cmd == "test":
        from callaudit.rules.examples import examples_of
        from callaudit.rules.selftest import check_examples

        failures = check_examples(pack)
        origin = {r.id: r.origin for r in pack.rules}
        for f in failures:
            print(f"{origin[f.rule]}: {f}")
        from callaudit.privacy.labelled import example_failures

        n = sum(len(examples_of(r.examples)) for r in pack.rules)
        k, wrong = example_failures(pack)
        for w in wrong:
            print(w)
        print(f"{len(pack.rules)} rules, {n} examples: "
              + (f"{len(failures)} fail" if failures else "all pass"))
        print(f"{len(pack.entities)} kinds of personal data, {k} examples: "
              + (f"{len(wrong)} fail" if wrong else "all pass"))
        return EXIT_FAIL if failures or wrong else EXIT_PASS
    print(f"{args.file}: OK ({len(pack.rules)} rules after merging over the default, "
          f"version {pack.fingerprint()})")
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
