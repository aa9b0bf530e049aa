"""`audit` command line: check one call, list or validate rule packs.

Exit status: 0 the call passes, 1 it fails the audit, 2 usage or input error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console

from . import __version__
from .errors import AuditError, RulePackError

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


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
    c.add_argument("--beam-size", type=int, default=5)
    c.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")

    r = sub.add_parser("rules", help="list or validate rule packs")
    rsub = r.add_subparsers(dest="rules_cmd", required=True)
    rl = rsub.add_parser("list", help="print the rules in force")
    rl.add_argument("--rules", metavar="FILE", help="rule pack merged over the default")
    rl.add_argument("--lang", choices=("zh", "en"), default="zh")
    rc = rsub.add_parser("check", help="validate a rule pack; every error with its line")
    rc.add_argument("file")
    rsub.add_parser("default", help="print the default rule pack (a starting point to copy)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    err = Console(stderr=True)
    try:
        if args.cmd == "check":
            return _check(args, err)
        return _rules(args)
    except AuditError as e:
        err.print(f"[red]error:[/red] {e}", markup=True, highlight=False, soft_wrap=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130


def _check(args: argparse.Namespace, err: Console) -> int:
    from .asr import AsrOptions
    from .audio import decode
    from .pipeline import AuditOptions, Auditor
    from .terminal import render

    if args.json and args.json != "-":
        out_dir = Path(args.json).resolve().parent
        if not out_dir.is_dir():
            raise AuditError(f"{args.json}: directory {out_dir} does not exist")
    decode(args.file)  # bad input is reported before the model loads (seconds saved)
    opts = AuditOptions(model_dir=args.model, rules=args.rules, agent_channel=args.agent_channel,
                        lang=args.lang, asr=AsrOptions(beam_size=args.beam_size,
                                                       cpu_threads=args.threads))
    with err.status("loading model ..."):
        auditor = Auditor(opts)
    with err.status("transcribing ...") as status:
        def progress(stage: str, done: int, total: int) -> None:
            status.update(f"transcribing: window {done}/{total} ...")
        result = auditor.audit(args.file, progress).to_json()
    out = Console(highlight=False, soft_wrap=True)
    if args.json == "-":
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    else:
        render(result, auditor.pack, out, args.lang, transcript=not args.no_transcript)
        if args.json:
            tmp = args.json + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(result, f, ensure_ascii=False, indent=2)
            os.replace(tmp, args.json)  # never a half-written result
            out.print(f"\nJSON: {args.json}", style="dim")
    return EXIT_PASS if result["passed"] else EXIT_FAIL


def _rules(args: argparse.Namespace) -> int:
    from .rulepack import default_text, load
    from .terminal import rules_table

    out = Console(highlight=False)
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
    print(f"{args.file}: OK ({len(pack.rules)} rules after merging over the default, "
          f"version {pack.fingerprint()})")
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
