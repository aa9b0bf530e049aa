"""The rule reference of docs/RULES.md, generated from the registry (rules/kinds/,
rules/measures/, rules/conditions.py) so it cannot drift from the code:
`python tools/rules_reference.py` rewrites it, tests/rules/test_reference.py fails when stale.
"""

from __future__ import annotations

from callaudit.rules.conditions import IN_KEYS, MATCHERS, METRIC_VALUES, OPERATORS
from callaudit.rules.kinds import KINDS
from callaudit.rules.measures import MEASURES
from callaudit.rules.units import Param
from callaudit.settings import Settings

BEGIN = "<!-- rule reference: generated from the registry by tools/rules_reference.py; do not edit -->"
END = "<!-- end of the rule reference -->"


def _param(p: Param, settings: Settings | None) -> str:
    unit = f" {p.unit}" if p.unit and not p.unit.startswith("share") else ""
    if p.setting:
        now = f" = {getattr(settings, p.setting):g}{unit}" if settings else ""
        default = f"`settings.{p.setting}`{now}"
    else:
        default = f"{p.default:g}{unit}" if p.default is not None else "none"
    rng = ""
    if p.low is not None or p.high is not None:
        lo = "" if p.low is None else f"{p.low:g}"
        hi = "" if p.high is None else f"{p.high:g}"
        rng = f", {lo}..{hi}"
    return f"`{p.name}` ({p.unit or 'count'}{rng}; default {default}): {p.doc}"


def markdown(settings: Settings | None = None) -> str:
    """The reference as Markdown, between BEGIN and END; `settings` (the default pack's) give
    the current value of each parameter's default."""
    out = [BEGIN, "", "### Check kinds", "",
           "| check | reads | passes when | not applicable when | params |", "|---|---|---|---|---|"]
    for k in KINDS.values():
        reads = ", ".join(f"`{f}`" for f in k.fields) or "-"
        params = "<br>".join(_param(p, settings) for p in k.params) or "-"
        out.append(f"| `{k.name}` | {reads} | {k.passes} | {k.not_applicable} | {params} |")
    out += ["", "### Metrics (`check: metric`)", "",
            "`params:` gives a rule its own value of a setting (`params: {max_cpm: 240}`); "
            "a metric marked *windowed* may be judged over part of the call "
            "(`where: {first_s: 30}` or `{last_s: N}`).", "",
            "| metric | measures | fails when | not applicable when | params |",
            "|---|---|---|---|---|"]
    for m in MEASURES.values():
        params = "<br>".join(_param(p, settings) for p in m.params) or "-"
        windowed = " (*windowed*)" if m.windowed else ""
        out.append(f"| `{m.name}`{windowed} | {m.doc} | {m.fails} | {m.not_applicable} | {params} |")
    out += ["", "### Conditions (`check: condition`)", "",
            f"Operators: {', '.join(f'`{o}`' for o in OPERATORS)}. "
            f"Matchers of `said`: {', '.join(f'`{m}`' for m in MATCHERS)}; with `who`, "
            "`threshold`, `similarity`, `exclude`, `unless`. "
            f"Scopes: `in` ({', '.join(f'`{k}`' for k in IN_KEYS)}), `after` / `before` / "
            "`around` a condition `within` {`utterances` | `seconds`}, `nth`, `repeat` "
            "{`times`, `within`}. "
            f"Values a `metric` condition compares: {', '.join(f'`{v}`' for v in METRIC_VALUES)}.",
            "", END]
    return "\n".join(out)


def replace_in(doc: str, settings: Settings | None = None) -> str:
    """`doc` with its generated part (BEGIN..END) written afresh (appended when absent)."""
    fresh = markdown(settings)
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        return head + fresh + rest.split(END, 1)[1]
    return doc.rstrip("\n") + "\n\n" + fresh + "\n"
