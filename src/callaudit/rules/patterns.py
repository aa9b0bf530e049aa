"""A rule pack's regular expressions: compiled with RE2 (linear time), and why one is refused.

A pack is written by people and may be shared: under `re`, ([\u4e00-\u9fff]+)+x$ backtracks
for minutes on one call. Used by validation, the checks and the personal-data finder alike.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

import re2
import yaml


def default_text() -> str:
    """The default rule pack's YAML, as shipped in the package (rules/default.yaml)."""
    return resources.files("callaudit").joinpath("rules/default.yaml").read_text(encoding="utf-8")


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported by validation, not on stderr
_PY_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|\\)")
_UNSUPPORTED = re.compile(r"invalid perl operator: \(\?(?:<?[=!]|P$)|invalid escape sequence: \\[1-9]")


def _re2_syntax(p: str) -> str:
    """Python's \\uXXXX escapes (kept as written in single-quoted YAML) as RE2's \\x{XXXX}."""
    return _PY_ESCAPE.sub(lambda m: f"\\x{{{m[1] or m[2]}}}" if m[1] or m[2] else m[0], p)


@lru_cache(maxsize=1)
def _shipped_patterns() -> frozenset[str]:
    return frozenset(p for r in yaml.safe_load(default_text())["rules"] for p in r.get("patterns") or [])


@lru_cache(maxsize=4096)
def compile_pattern(p: str) -> Any:
    """A pack pattern compiled with RE2. The default pack's own lookaround patterns (ask_secret),
    which RE2 cannot take, keep `re`: they are ours, bounded and tested by their examples; the same
    syntax from any other file is refused by validation, so is never compiled here."""
    try:
        return re2.compile(_re2_syntax(p), _RE2_OPTIONS)
    except re2.error:
        if p in _shipped_patterns():
            return re.compile(p)
        raise


def pattern_problem(p: str) -> str | None:
    """Why pattern `p` is refused (one line: invalid, or RE2 cannot run it), or None."""
    try:
        compile_pattern(p)
        return None
    except re2.error as e:
        why = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) else str(e)
    try:
        re.compile(p)
    except re.error as e:
        return f"pattern {p!r} is not a valid regular expression ({e})"
    if _UNSUPPORTED.search(why):
        why = "backreferences and lookaround are not supported"
    return f"pattern {p!r} is refused: {why} (patterns run in linear time, RE2 syntax)"


