"""`audit check`: one recording, a verdict in the terminal, JSON and a page."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from callaudit.cli.common import (
    EXIT_FAIL,
    EXIT_NO_SPEECH,
    EXIT_NOT_CONNECTED,
    EXIT_PASS,
    Out,
    quiet_stdout,
)


def check_command(args: argparse.Namespace, err: Console) -> int:
    import time

    from callaudit.audio.decode import decode
    from callaudit.outputs import atomic_write, check_writable
    from callaudit.pipeline import AuditOptions, Auditor
    from callaudit.records import CallResult
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
        data = auditor.result_json(auditor.audit_audio(audio, progress, decode_s))
    # what is shown is what the JSON says (masked with --redact)
    result = CallResult.from_json(data, check=False)
    # files first: a closed stdout (`| head`) must never cost the JSON or the page
    if args.json and args.json != "-":
        atomic_write(args.json, json.dumps(data, ensure_ascii=False, indent=2))
    if args.html:
        from callaudit.privacy.audio import call_page_audio
        from callaudit.render.html import render_call

        src = call_page_audio(result, audio, args.html,
                              masked=pack.settings if args.redact else None)
        render_call(result, args.html, src, lang=args.lang)
    out = Out(highlight=False, soft_wrap=True)
    try:
        if args.json == "-":
            sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        else:
            render(result, out, args.lang, transcript=not args.no_transcript)
            if args.json:
                out.print(f"\nJSON: {args.json}", style="dim")
            if args.html:
                out.print(f"HTML: {args.html}", style="dim")
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` left: the verdict stands, the files are written
        quiet_stdout()
    if result.outcome == "no_speech":
        return EXIT_NO_SPEECH
    if result.outcome == "not_connected":
        return EXIT_NOT_CONNECTED
    return EXIT_PASS if result.passed else EXIT_FAIL
