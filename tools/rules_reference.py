"""Rewrite the generated rule reference in docs/RULES.md from the registry
(src/callaudit/rules/reference.py). `--check`: exit 1 when it is stale, writing nothing."""

from __future__ import annotations

import sys
from pathlib import Path

from callaudit.rules.pack import load
from callaudit.rules.reference import replace_in

DOC = Path(__file__).resolve().parents[1] / "docs" / "RULES.md"


def main() -> int:
    doc = DOC.read_text(encoding="utf-8")
    fresh = replace_in(doc, load().settings)
    if "--check" in sys.argv[1:]:
        return 0 if fresh == doc else 1
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
