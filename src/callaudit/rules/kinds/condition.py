"""`check: condition`: a rule written as conditions (rules/conditions.py), without Python.

    require: C            fails when C does not hold            (or `forbid: C`: fails when it does)
    each: M               ... around every moment M finds (none: not applicable)
    window: {after: N}    the N utterances after each moment (before / around; after_s ... in s)
    applies: A            not applicable unless A holds

Evidence: what a `forbid` found; for a `require` that failed, each moment it failed after, or
the first words of the party it wanted.
"""

from __future__ import annotations

from typing import Any

from callaudit.records import Evidence, Utterance
from callaudit.rules.conditions import evaluate, window_problems
from callaudit.rules.conditions import problems as condition_problems
from callaudit.rules.context import Context, Outcome, evidence_of, not_applicable
from callaudit.rules.rule import Rule
from callaudit.rules.units import Kind
from callaudit.strings import Detail

WINDOW_KEYS = ("after", "before", "around", "after_s", "before_s", "around_s")


def _window(rule: Rule, ctx: Context, moment: int) -> set[int]:
    """The utterances a rule with `each` looks in around one moment (index in the call);
    without `window`: everything after it."""
    utts = ctx.utterances
    w = rule.window or {"after": len(utts)}
    key, size = next(iter(w.items()))
    out = set()
    for i, u in enumerate(utts):
        d = i - moment
        if key in ("after", "before", "around"):
            near = 0 < d <= size if key == "after" else -size <= d < 0 if key == "before" \
                else 0 < abs(d) <= size
        else:
            a = utts[moment]
            after = d > 0 and u.start - a.end <= size
            before = d < 0 and a.start - u.end <= size
            near = after if key == "after_s" else before if key == "before_s" else after or before
        if near:
            out.add(i)
    return out


def _who(node: dict[str, Any]) -> str:
    """The party a required condition is about (its first `said`), for the evidence of a
    failure and for what was due (rules/doubt.py)."""
    if "said" in node:
        return str(node["said"].get("who", "agent"))
    for op in ("all", "any"):
        for c in node.get(op) or []:
            return _who(c)
    return "any"


def _evidence(found_hits: list[tuple[int, str]], spans: list[Evidence], ctx: Context) -> list[Evidence]:
    return [evidence_of(ctx.utterances[i], words) for i, words in found_hits] + spans


def check(rule: Rule, ctx: Context) -> Outcome:
    if rule.applies and not evaluate(rule.applies, ctx).holds:
        return not_applicable("condition_not_met")
    must = rule.require or rule.forbid
    wanted = bool(rule.require)
    if rule.each:
        moments = sorted({i for i, _ in evaluate(rule.each, ctx).hits})
        if not moments:
            return not_applicable("no_moment")
        missed: list[Evidence] = []
        due: list[Utterance] = []
        failed = 0
        for m in moments:
            window = _window(rule, ctx, m)
            found = evaluate(must, ctx, window)
            if found.holds != wanted:
                failed += 1
                missed += [evidence_of(ctx.utterances[m])] if wanted else \
                    _evidence(found.hits, found.spans, ctx)
                due += _due(rule, ctx, window)
        if missed:
            key = "moments_missed" if wanted else "said_after_moment"
            return Outcome(True, False, missed, Detail(key, {"n": failed, "total": len(moments)}),
                           due=due if wanted else None)
        return Outcome(True, True, [], Detail("moments_all", {"total": len(moments)}))
    found = evaluate(must, ctx)
    if found.holds == wanted:
        return Outcome(True, True, _evidence(found.hits, found.spans, ctx) if wanted else [],
                       Detail("condition_holds" if wanted else "condition_absent"))
    if wanted:
        mine = ctx.by(_who(must))
        return Outcome(True, False, [evidence_of(u) for u in mine[:3]], Detail("condition_absent"),
                       due=_due(rule, ctx, None))
    said = "、".join(dict.fromkeys(w for _, w in found.hits))
    return Outcome(True, False, _evidence(found.hits, found.spans, ctx),
                   Detail("said", {"phrases": said}) if said else Detail("condition_holds"))


def _due(rule: Rule, ctx: Context, window: set[int] | None) -> list[Utterance]:
    """What the required party said where the condition was due, with the regions of their
    speech in which no word was heard (rules/doubt.py)."""
    who = _who(rule.require)
    said = [u for i, u in enumerate(ctx.utterances)
            if (window is None or i in window) and u in ctx.by(who)]
    if window is None:
        return said + ctx.unheard_by(who)
    if not window:
        return said
    lo = min(ctx.utterances[i].start for i in window)
    hi = max(ctx.utterances[i].end for i in window)
    return said + [u for u in ctx.unheard_by(who) if lo <= u.start <= hi]


def problems(r: dict[str, Any]) -> list[str]:
    out = []
    given = [k for k in ("require", "forbid") if k in r]
    if len(given) != 1:
        out.append("a `condition` rule needs one of `require` (what must hold) or `forbid` "
                   "(what must not)")
    for k in ("require", "forbid", "each", "applies"):
        if k in r:
            out += condition_problems(r[k], k)
    if "window" in r:
        if "each" not in r:
            out.append("`window` goes with `each` (the moments it is around)")
        out += window_problems(r["window"], "window", WINDOW_KEYS)
    return out


KIND = Kind(
    name="condition", run=check, problems=problems, judges_words="presence",
    fields=("require", "forbid", "each", "window", "applies"),
    doc="conditions written in the pack (docs/RULES.md, Conditions)",
    passes="`require` holds (around every moment of `each`), or `forbid` does not",
    not_applicable="`applies` does not hold, or `each` found no moment",
)
