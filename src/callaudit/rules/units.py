"""What a check kind and a metric declare about themselves, so that validation, the terminal
and page rows and the rule reference (docs/RULES.md) are generated from one place.

A check kind (rules/kinds/<name>.py) is one `Kind`; a metric a rule can judge
(rules/measures/<name>.py) is one `Measure`; rules/kinds/__init__.py and
rules/measures/__init__.py list them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callaudit.parts import CallMetrics
    from callaudit.rules.context import Context, Outcome
    from callaudit.rules.rule import Rule
    from callaudit.settings import Settings

Check = Callable[["Rule", "Context"], "Outcome"]


@dataclass(frozen=True)
class Param:
    """One number a rule of a kind or metric may set under `params:`.

    `setting` is the pack setting it defaults to (settings.py documents it; a center changes
    it for every rule there), else `default`. `unit` as written in docs ("s",
    "characters/min", "dBFS", "share 0-1", "" for a count); `low`/`high` bound it
    (inclusive)."""

    name: str
    doc: str
    unit: str = ""
    setting: str = ""
    default: float | int | None = None
    low: float | None = None
    high: float | None = None
    whole: bool = False  # a count: a whole number

    def problem(self, v: Any) -> str:
        """Why `v` is not a valid value, or ""."""
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (self.whole and not isinstance(v, int)):
            return f"params.{self.name} must be a {'whole number' if self.whole else 'number'}" + \
                (f" ({self.unit})" if self.unit else "")
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            lo = "" if self.low is None else f"{self.low:g}"
            hi = "" if self.high is None else f"{self.high:g}"
            return f"params.{self.name} = {v:g} is outside {lo}..{hi}" + \
                (f" {self.unit}" if self.unit else "")
        return ""


@dataclass(frozen=True)
class Row:
    """How a measured value is shown beside its norm (the terminal's and the call page's
    metric rows): `value(metrics, lang)` and `norm(settings, metrics, lang)` as text, from a
    result's `metrics` (parts.CallMetrics) and the settings it was judged with."""

    key: str  # strings.METRICS label key
    value: Callable[[CallMetrics, str], str]
    norm: Callable[[Settings, CallMetrics, str], str]


@dataclass(frozen=True)
class Kind:
    """A `check:` kind: what it judges (`doc`, one line for the reference), the rule fields it
    reads (`fields`, beside the ones every rule has), its `params`, extra validation of a rule
    (`problems(rule_mapping) -> [problem]`), and `run(rule, context) -> Outcome`.

    `judges_words`: "absence" (fails when words are missing), "presence" (fails on words
    found) or "" (timing, sound): how rules/doubt.py decides a failure may rest on what the
    recognizer misheard."""

    name: str
    doc: str
    run: Check
    fields: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    problems: Callable[[dict[str, Any]], list[str]] = lambda r: []
    judges_words: str = ""
    passes: str = ""  # when it passes, for the reference table
    not_applicable: str = ""  # when it does not apply


@dataclass(frozen=True)
class Measure:
    """A metric a `check: metric` rule judges: its `params` (each defaulting to a pack
    setting, so a rule can have its own band), `run(rule, context) -> Outcome` (the rule's
    params already applied to `context.settings`), the row it is shown in, and for the
    reference what fails it and when it does not apply. `windowed`: a rule may judge it over
    part of the call (`where: {first_s, last_s}`)."""

    name: str
    doc: str
    run: Check
    params: tuple[Param, ...] = ()
    fails: str = ""
    not_applicable: str = ""
    row: Row | None = None
    windowed: bool = False


def closest(name: Any, known: Any) -> str:
    """" (did you mean `x`?)" for the valid key nearest to a misspelt one, or ""."""
    import difflib

    if not isinstance(name, str):
        return ""
    near = difflib.get_close_matches(name, [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean `{near[0]}`?)" if near else ""


def param_problems(params: Any, declared: tuple[Param, ...], owner: str) -> list[str]:
    """Every problem of a rule's `params` against the parameters `owner` (a kind or metric,
    as the message names it) declares: not a mapping, an unknown name (with the nearest),
    a value out of its type or range."""
    if params is None:
        return []
    known = {p.name: p for p in declared}
    if not isinstance(params, dict):
        return [f"`params` must be a mapping ({', '.join(known) or 'none for ' + owner})"]
    out: list[str] = []
    for k, v in params.items():
        if k == "__line__":
            continue
        if k not in known:
            out.append(f"params.{k} is not a parameter of {owner} "
                       f"({', '.join(known) or 'it has none'}){closest(k, known)}")
        else:
            out += [p for p in [known[k].problem(v)] if p]
    return out
