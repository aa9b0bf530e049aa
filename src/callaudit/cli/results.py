"""`audit batch`, `summary`, `export`, `rescore`, `redact`, `report`: the nightly batch and
its results database."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
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
              f"without its fields): " + some(stats.unmatched))
    if stats.unreadable:
        print(f"could not be read: {len(stats.unreadable)} paths, their calls were not audited "
              f"(the batch is incomplete): " + some(stats.unreadable))
        return EXIT_INCOMPLETE
    return EXIT_FAIL if stats.errors else EXIT_PASS


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
    from callaudit.privacy.mask import redact
    from callaudit.records import result_problem
    from callaudit.render.html import render_call, render_dashboard
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
