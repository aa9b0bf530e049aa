"""`audit batch`, `summary`, `export`, `rescore`, `redact`, `report`: the nightly batch and
its results database."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from callaudit.cli.common import (
    EXIT_FAIL,
    EXIT_INCOMPLETE,
    EXIT_PASS,
    existing_db,
    masking,
    some,
)
from callaudit.errors import AuditError, StorageError
from callaudit.rules.pack import RulePack
from callaudit.settings import Settings


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (systemd, cron wrappers, Kubernetes, `timeout`): handled as Ctrl-C
    is (the workers stopped, every stored call whole), and said."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number
        self.signal = signal.Signals(number).name


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Stopped in the main thread while the block runs (only the
    process that installs it: the workers are stopped by the batch, as on Ctrl-C)."""
    def stop(number: int, frame: object) -> None:
        raise Stopped(number)

    old = {n: signal.signal(n, stop) for n in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for n, handler in old.items():
            signal.signal(n, handler)


def batch_command(args: argparse.Namespace, err: Console) -> int:
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
                        model_dir=args.model, rules=args.rules, scorecards=args.scorecards,
                        pattern=args.pattern,
                        force=args.force, retry_failed=args.retry_failed,
                        max_duration_s=args.max_hours * 3600, beam_size=args.beam_size,
                        cluster=args.cluster, separate=not args.no_separation,
                        lang=args.lang, max_missing_s=args.max_missing, raw=args.raw,
                        redact=args.redact, time_limit_s=args.time_limit)
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
            with stop_signals():
                stats = run(args.source, opts, progress)
        except Stopped as e:
            s = seen[0] if seen else None
            done = f"{s.done + s.errors} calls of this run were stored, " if s else ""
            left = f"{s.total - s.done - s.errors} were not; " if s else ""
            bar.stop()
            err.print(f"stopped by {e.signal}: {done}{left}the same command again goes on "
                      "where it stopped", highlight=False, soft_wrap=True)
            return 128 + e.number
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
    if stats.left_to_other:
        print(f"{stats.left_to_other} calls were being audited by another run on {args.db}: left "
              "to it (each call is audited once)")
    if stats.timed_out:
        print(f"{stats.timed_out} calls took longer than their time limit (--time-limit) and were "
              "stopped, their workers replaced; stored as failed (\"timed out\")")
    if stats.worker_deaths:
        print(f"{stats.worker_deaths} worker processes died (killed, out of memory?) and were "
              "replaced; a call that killed two is stored as failed (\"worker died\")")
    if stats.unmatched:
        print(f"{len(stats.unmatched)} file names do not fit --pattern '{args.pattern}' (stored "
              f"without its fields): " + some(stats.unmatched))
    if stats.unreadable:
        print(f"could not be read: {len(stats.unreadable)} paths, their calls were not audited "
              f"(the batch is incomplete): " + some(stats.unreadable))
        return EXIT_INCOMPLETE
    return EXIT_FAIL if stats.errors else EXIT_PASS


def db_check_command(args: argparse.Namespace) -> int:
    """`audit db check --db X`: SQLite's check of the file, then every stored result read
    back as a record; one line per problem, exit 1 when there is any."""
    from callaudit.results.database import check_file
    from callaudit.results.store import connect, unreadable_results

    db = existing_db(args.db)
    found = check_file(db, full=args.full)
    rows = []
    if not found:
        conn = connect(db, readonly=True)
        try:
            rows = unreadable_results(conn)
        finally:
            conn.close()
    for line in found:
        print(f"{db}: {line}")
    for call_id, why in rows:
        print(f"{db}: call {call_id}: its stored result cannot be read ({why})")
    if found or rows:
        print(f"{db}: damaged; keep a copy, then restore a backup or recover what can be read: "
              f"sqlite3 {db} '.recover' | sqlite3 recovered.sqlite")
        return EXIT_FAIL
    print(f"{db}: ok ({'integrity_check' if args.full else 'quick_check'}, every stored result "
          "read back)")
    return EXIT_PASS


def db_command(args: argparse.Namespace, err: Console) -> int:
    from callaudit.privacy.mask import redact
    from callaudit.results.export import export
    from callaudit.results.store import connect
    from callaudit.results.summary import summary, to_csv

    db = existing_db(args.db)
    if args.cmd == "rescore":
        from callaudit.results.rescore import rescore

        if args.scorecards:
            from callaudit.batch.scorecards import load as load_scorecards

            cards = load_scorecards(args.scorecards)

            def pack_of(line: str | None) -> RulePack | None:
                key = cards.pack_of(line)
                return None if key is None else cards.packs[key]

            n = rescore(db, None, args.lang, pack_of=pack_of)
            print(f"re-scored {n} calls in {db}, each with its business line's pack "
                  f"({args.scorecards}); calls of no listed line and no default left as stored")
        else:
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
                   (lambda d: redact(d, pack)) if masking(args, conn) else None)
        print(f"{n} calls written to {args.out}")
        return EXIT_PASS
    rows = summary(conn, args.by, args.day, settings)
    if args.format == "csv":
        sys.stdout.write(to_csv(rows))
    elif args.format == "json":
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    else:
        summary_table(conn, args, Path(db).name)
    return EXIT_PASS


def summary_table(conn: sqlite3.Connection, args: argparse.Namespace, title: str) -> None:
    """`audit summary --format table`: headers, rule names and values in --lang; on a
    terminal a rich table (the columns that fit 80, --wide: all), piped: tab-separated
    lines, one row a line (render/summary_table.py)."""
    from callaudit.render.summary_table import Names, lines, table
    from callaudit.results.store import stored_norms
    from callaudit.results.summary import summary
    from callaudit.rules.pack import load

    pack = load(args.rules)
    rows = summary(conn, args.by, args.day, pack.settings, joined=False)
    names = Names(args.lang, stored_norms(conn), pack)
    out = Console(emoji=False, highlight=False)
    if out.is_terminal:
        out.print(table(rows, args.by, names, title, wide=args.wide))
    else:
        sys.stdout.write("".join(line + "\n" for line in lines(rows, args.by, names, args.wide)))


def report_command(args: argparse.Namespace) -> int:
    from callaudit.outputs import check_writable
    from callaudit.privacy.audio import call_page_audio
    from callaudit.privacy.mask import redact_result
    from callaudit.records import CallResult, result_problem
    from callaudit.render.html import render_call
    from callaudit.results.store import connect, recording_file, stored_call
    from callaudit.rules.pack import load

    check_writable(args.out)
    pack = load(args.rules)
    if args.db:
        db = existing_db(args.db)
        conn = connect(db, readonly=True)
        masked = masking(args, conn)
        if args.call:
            result, meta = stored_call(conn, args.call)
            file = recording_file(meta["file"], db)  # as stored, from whatever folder
            audio = args.audio or (str(file) if file.exists() else None)
            if masked:
                result = redact_result(result, pack)
            src = call_page_audio(result, audio, args.out, args.link_audio,
                                  pack.settings if masked else None)
            render_call(result, args.out, src, lang=args.lang, meta=meta)
        else:
            write_dashboard(db, args.out, args.lang, settings=pack.settings,
                            redact=pack if masked else None)
    elif args.result:
        try:
            d = json.loads(Path(args.result).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise AuditError(f"{args.result}: not a readable result JSON ({e})") from None
        problem = result_problem(d)
        if problem:
            raise AuditError(f"{args.result}: {problem}")
        result = CallResult.from_json(d, check=False)
        masked = args.redact or (result.privacy is not None and result.privacy.redacted)
        if masked:
            result = redact_result(result, pack)
        src = call_page_audio(result, args.audio, args.out, args.link_audio,
                              pack.settings if masked else None)
        render_call(result, args.out, src, lang=args.lang)
    else:
        raise AuditError("report: give a result JSON, or --db (with --call for one call)")
    print(f"HTML: {args.out}")
    return EXIT_PASS


def write_dashboard(db: str, out: str, lang: str = "zh", link_audio: bool = True,
                    settings: Settings | None = None, redact: RulePack | None = None) -> str:
    """Write the dashboard of database `db` at `out` and the pages of its worst calls (every
    fatal one and the lowest scored) in the folder beside it named after it (`nightly.html`:
    `nightly_calls/`), their recordings linked when `link_audio` and there. `settings`: the
    review thresholds that flag rules (the default pack's when None). `redact`: mask personal
    data with this pack's `entities:` in the pages, their audio embedded masked."""
    from callaudit.privacy.audio import call_page_audio
    from callaudit.privacy.mask import redact_result
    from callaudit.render.html import page_name, render_call, render_dashboard
    from callaudit.results.dashboard import call_pages, dashboard
    from callaudit.results.store import connect

    conn = connect(db, readonly=True)
    try:
        data = dashboard(conn, settings, masked=redact is not None)
        pages = Path(out).with_suffix("").name + "_calls"
        # call pages for the calls the dashboard links to (the worst and every fatal one)
        target = Path(out).resolve().parent / pages
        target.mkdir(exist_ok=True)
        for c, result, meta, file in call_pages(conn, db, data.worst):
            page = str(target / page_name(c))
            audio = str(file) if link_audio and file.exists() else None
            if redact is not None:
                result = redact_result(result, redact)
            src = call_page_audio(result, audio, page, link=True,
                                  masked=None if redact is None else redact.settings)
            render_call(result, page, src, lang=lang, meta=meta)
        return render_dashboard(data, out, lang, pages)
    finally:
        conn.close()
