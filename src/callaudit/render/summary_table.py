"""`audit summary`'s table for people (`--format table`): headers, rule names and values in
the chosen language, a default set of columns that fits an 80-column terminal (`--wide`:
every column), and, when stdout is not a terminal, tab-separated lines, one row a line.

The csv and json of `audit summary` are not this module's: they keep the snake_case keys of
results/summary.py for machines.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from callaudit.parts import JudgedWith
from callaudit.strings import summary_word

# The columns of the default view, per --by: what fits 80 columns (the rest: --wide).
DEFAULT: dict[str, tuple[str, ...]] = {
    "agent": ("agent", "calls", "avg_score", "pass_rate", "fatal_calls", "top_failures"),
    "day": ("day", "calls", "avg_score", "pass_rate", "fatal_calls", "unreadable_files",
            "top_failures"),
    "line": ("line", "calls", "avg_score", "pass_rate", "fatal_calls", "unreadable_files",
             "top_failures"),
    "rule": ("rule", "applicable", "failed", "fail_rate", "needs_review", "precision"),
}
PERCENT = ("pass_rate", "fail_rate", "precision")
ONE_DECIMAL = ("avg_score", "points_deducted")
TEXT = ("agent", "day", "line", "rule", "rule_id", "section", "severity", "top_failures")


class Names:
    """Rules and sections by their readable names in `lang`: the messages the stored
    results were judged with (their `judged_with`, newest pack first: results/queries.py
    stored_norms), else the rule pack's
    (Rule.text), else the id."""

    def __init__(self, lang: str, norms: list[JudgedWith], pack: Any = None) -> None:
        self.lang = lang
        self.rules: dict[str, str] = {}
        self.sections: dict[str, str] = {}
        for jw in norms:
            for rule, msgs in jw.messages.items():
                if rule not in self.rules and (msgs or {}).get(lang):
                    self.rules[rule] = msgs[lang]
            for sec, words in jw.sections.items():
                if sec not in self.sections and isinstance(words, dict) and words.get(lang):
                    self.sections[sec] = words[lang]
        if pack is not None:
            for r in pack.rules:
                self.rules.setdefault(r.id, r.text(lang, pack.settings))
            for sec, words in pack.sections.items():
                if isinstance(words, dict) and words.get(lang):
                    self.sections.setdefault(sec, words[lang])

    def rule(self, rule_id: str) -> str:
        return self.rules.get(rule_id) or rule_id

    def section(self, section: str) -> str:
        return self.sections.get(section) or section


def columns(rows: list[dict[str, Any]], by: str, wide: bool) -> list[str]:
    """The columns shown: every one the rows have (`wide`, the rule id next to its name),
    else the default set of `by` that the rows have."""
    have = list(rows[0]) if rows else []
    if by == "rule" and have:
        have.insert(have.index("rule") + 1, "rule_id")
    if wide:
        return have
    return [c for c in DEFAULT.get(by, have) if c in have]


def cell(col: str, row: dict[str, Any], names: Names) -> str:
    """One value as a person reads it: rates as %, scores with one decimal, rules by name."""
    lang = names.lang
    if col == "rule_id":
        return str(row["rule"])
    v = row.get(col)
    if col == "top_failures":
        return summary_word("sep", lang).join(f"{names.rule(rule)} ×{n}" for rule, n in v or [])
    if v is None:
        return "-"
    if col == "rule":
        return names.rule(v)
    if col == "section":
        return names.section(v)
    if col == "severity":
        return summary_word(v, lang)
    if v == "(unknown)":
        return summary_word("unknown", lang)
    if col in PERCENT:
        return f"{v * 100:.1f}%"
    if col in ONE_DECIMAL:
        return f"{v:.1f}"
    if col == "audio_hours":
        return f"{v:.2f}"
    if col == "avg_speech_rate_cpm":
        return f"{v:.0f}"
    if col == "low_precision":
        return summary_word("yes", lang) if v else ""
    return str(v)


def table(rows: list[dict[str, Any]], by: str, names: Names, title: str = "",
          wide: bool = False) -> Table:
    """A rich table. Default view: the numbers and headers never wrap (a column is at least
    as wide as its header), the key column (agent, day, line, rule name) wraps, and the top
    failures (most frequent first, `name ×times`) stay on one line, cut with … (`--wide`,
    a pipe or csv/json for all of them). `wide`: every column, all of them wrappable (meant
    for a wide terminal; on a narrow one the headers wrap too)."""
    lang = names.lang
    by_word = summary_word(by, lang).lower()
    full_title = f"{title} · {summary_word('by', lang).format(by=by_word)}" if title else ""
    t = Table(title=full_title or None, box=box.SIMPLE_HEAD, pad_edge=False,
              header_style="bold")
    cols = columns(rows, by, wide)
    if not cols:
        t.add_column(summary_word("no_calls", lang))
        return t
    for c in cols:
        head = summary_word(c, lang)
        if c in TEXT or wide:  # wrappable: rich narrows the widest of these first
            t.add_column(head, min_width=cell_len(head), overflow="fold",
                         justify="left" if c in TEXT else "right")
        else:
            t.add_column(head, justify="right", no_wrap=True, min_width=cell_len(head))
    one_line = not wide and "top_failures" in cols
    for r in rows:
        values: list[str | Text] = [cell(c, r, names) for c in cols]
        if one_line:  # the column narrows to what is left; the text stays one line, cut with …
            i = cols.index("top_failures")
            values[i] = Text(str(values[i]), no_wrap=True, overflow="ellipsis")
        t.add_row(*values)
    return t


def lines(rows: list[dict[str, Any]], by: str, names: Names, wide: bool = False) -> list[str]:
    """The same columns and values as tab-separated lines, the header first: what a pipe
    gets, one row a line, never wrapped nor cut (tabs and line breaks in a value: spaces)."""
    cols = columns(rows, by, wide)
    out = ["\t".join(summary_word(c, names.lang) for c in cols)] if cols else []
    out += ["\t".join(" ".join(cell(c, r, names).split()) for c in cols) for r in rows]
    return out
