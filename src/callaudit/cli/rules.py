"""`audit rules`: list, test, print the rule packs, and try a draft on stored calls."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from rich.console import Console

from callaudit.cli.common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_PASS,
)
from callaudit.errors import RulePackError

if TYPE_CHECKING:
    from callaudit.results.preview import CallRef, Preview
    from callaudit.rules.pack import RulePack


def rules_command(args: argparse.Namespace) -> int:
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
    if args.rules_cmd == "try":
        return try_command(args, pack, out)
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


def try_command(args: argparse.Namespace, pack: RulePack, out: Console) -> int:
    """`audit rules try PACK --db DB`: what the draft would change, nothing written."""
    from callaudit.cli.common import existing_db
    from callaudit.results.preview import preview

    t0 = time.perf_counter()
    limit = None if args.limit is None else max(0, args.limit)
    p = preview(existing_db(args.db), pack, args.lang, limit, max(0, args.examples),
                max(0, args.workers), line=args.line)
    took = time.perf_counter() - t0
    if args.format == "json":
        d = p.to_json()
        d["seconds"] = round(took, 3)
        sys.stdout.write(json.dumps(d, ensure_ascii=False, indent=2) + "\n")
        return EXIT_PASS
    preview_table(p, out, args.lang, took)
    return EXIT_PASS


def _ref(ref: CallRef) -> str:
    return f"{ref.call_id} ({ref.file}) {ref.page}"


def preview_table(p: Preview, out: Console, lang: str, took: float) -> None:
    """The draft's changes per rule (only rules whose verdicts or points change), a total,
    a few calls of each change (with their workbench page), the reviews held against it."""
    from rich.markup import escape
    from rich.table import Table

    from callaudit.strings import TRY

    w = TRY[lang]
    out.print(f"[bold]{w['title']}[/bold]")
    out.print(escape(f"{w['stored']}: {', '.join(p.stored) or '-'}  ->  {w['draft']}: {p.draft}"))
    changed = p.changed_rules
    if changed:
        t = Table(show_footer=True)
        t.add_column(w["rule"], w["total"], no_wrap=True)
        t.add_column(w["section"], no_wrap=True)
        keys = ("judged", "failing", "newly_failing", "newly_passing", "newly_na",
                "newly_review", "points")
        for k in keys:
            t.add_column(w[k], justify="right", no_wrap=True)
        total = {k: sum(getattr(r, k) for r in changed)
                 for k in ("newly_failing", "newly_passing", "newly_na", "newly_review")}
        points = sum(r.deduction_change for r in changed)
        for r in changed:
            t.add_row(r.rule, r.section, f"{r.judged_before}→{r.judged_after}",
                      f"{r.failing_before}→{r.failing_after}", str(r.newly_failing or ""),
                      str(r.newly_passing or ""), str(r.newly_na or ""),
                      str(r.newly_review or ""), f"{r.deduction_change:+g}")
        cols = t.columns
        for i, k in enumerate(("newly_failing", "newly_passing", "newly_na", "newly_review"),
                              start=4):
            cols[i].footer = str(total[k])
        cols[8].footer = f"{points:+g}"
        out.print(t)
        for r in changed:
            for kind in ("fail", "pass", "na", "review"):
                for ref in r.examples.get(kind, []):
                    out.print(escape(f"  {r.rule} {w[kind]}: {_ref(ref)}"), soft_wrap=True)
    else:
        out.print(w["no_change"])
    mean = ("-" if p.mean_before is None else
            f"{p.mean_before:g}→{p.mean_after:g}")
    out.print(f"{w['total']}: {p.calls} {w['calls']}"
              + (f" ({w['of']} {p.stored_calls})" if p.stored_calls != p.calls else "")
              + f", {w['changed_calls']} {p.changed_calls}, {w['pass_to_fail']} {p.pass_to_fail}"
              + f", {w['fail_to_pass']} {p.fail_to_pass}, {w['mean']} {mean}")
    for kind in ("pass_to_fail", "fail_to_pass"):
        for ref in p.examples.get(kind, []):
            out.print(escape(f"  {w[kind]}: {_ref(ref)}"), soft_wrap=True)
    if p.agreement:
        out.print(f"[bold]{w['agreement']}[/bold] ({w['reviewed_calls']} {p.reviewed_calls})")
        t = Table()
        t.add_column(w["rule"], no_wrap=True)
        for k in ("kept", "lost", "still_wrong", "fixed", "missed", "caught"):
            t.add_column(w[k], justify="right")
        for a in p.agreement:
            t.add_row(a.rule, *(str(getattr(a, k)) for k in ("kept", "lost", "still_wrong",
                                                               "fixed", "missed", "caught")))
        out.print(t)
        before, after = p.precision()
        out.print(f"{w['precision']}: {_share(before)} → {_share(after)}")
        for a in p.agreement:
            for kind in ("lost", "fixed", "caught"):
                for ref in a.examples.get(kind, []):
                    label = w["caught_ex"] if kind == "caught" else w[kind]
                    out.print(escape(f"  {a.rule} {label}: {_ref(ref)}"), soft_wrap=True)
    out.print(f"{w['took']} {took:.2f} {w['seconds']}, {p.calls} {w['calls']}")


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"
