"""`audit rules`: list, test, print the rule packs."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from callaudit.cli.common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_PASS,
)
from callaudit.errors import RulePackError


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
