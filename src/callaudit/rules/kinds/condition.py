"""`check: condition`: a rule written as conditions (rules/conditions.py), without Python.

    require: C            fails when C does not hold            (or `forbid: C`: fails when it does)
    each: M               ... around every moment M finds (none: not applicable)
    window: {after: N}    up to the Nth utterance of another party after each moment (before /
                          around; after_s ... in seconds); without `window`, the rest of the call
    applies: A            not applicable unless A holds

Evidence: what a `forbid` found; for a `require` that failed, each moment it failed after, or
the first words of the party it wanted. On mono, what only a voice nobody could place said
earns no credit and no blame: the failure is for a person (review_unknown_speaker).
"""

from __future__ import annotations

from typing import Any

from callaudit.records import Evidence, Utterance
from callaudit.rules.conditions import bounds, evaluate, parts, window_problems
from callaudit.rules.conditions import problems as condition_problems
from callaudit.rules.context import Context, Outcome, evidence_of, not_applicable
from callaudit.rules.rule import Rule
from callaudit.rules.units import Kind
from callaudit.strings import Detail

WINDOW_KEYS = ("after", "before", "around", "after_s", "before_s", "around_s")


def window(rule: Rule, ctx: Context, moment: int) -> set[int]:
    """The utterances a rule with `each` looks in around one moment (index in the call):
    within `after: N` the utterances up to the Nth by a party other than the moment's (the
    caller saying 退款 three times in a row is one moment's patience, not three misses), or
    within `after_s: S` seconds; without `window`, everything after it."""
    utts = ctx.utterances
    key, size = next(iter((rule.window or {"after": len(utts)}).items()))
    a = utts[moment]
    out: set[int] = set()
    if key.endswith("_s"):
        for i, u in enumerate(utts):
            if i > moment and u.start - a.end <= size and key in ("after_s", "around_s"):
                out.add(i)
            if i < moment and a.start - u.end <= size and key in ("before_s", "around_s"):
                out.add(i)
        return out
    for step in ((1,) if key == "after" else (-1,) if key == "before" else (1, -1)):
        counted, i = 0, moment + step
        while 0 <= i < len(utts) and counted < size:
            out.add(i)
            counted += utts[i].role != a.role
            i += step
    return out


def _evidence(hits: list[tuple[int, str]], spans: list[Evidence], ctx: Context) -> list[Evidence]:
    """What a condition found as evidence: its words, or the stretches it measured (a silence)
    without the utterance that merely follows them; each once."""
    worded = [evidence_of(ctx.utterances[i], w) for i, w in hits if w]
    return _once(worded + spans or [evidence_of(ctx.utterances[i], w) for i, w in hits])


def _once(evidence: list[Evidence]) -> list[Evidence]:
    """Each moment of evidence once (overlapping windows find the same words again)."""
    seen: set[tuple[float, float, str]] = set()
    return [e for e in evidence if (k := (e.start, e.end, e.match)) not in seen and not seen.add(k)]


def check(rule: Rule, ctx: Context) -> Outcome:
    if rule.applies and not evaluate(rule.applies, ctx).holds:
        return not_applicable("condition_not_met")
    if rule.each:
        return _each(rule, ctx)
    must = rule.require or rule.forbid
    found = evaluate(must, ctx)
    if rule.require:
        if found.holds and ctx.mono and not evaluate(must, ctx, strict=True).holds:
            return _unknown_speaker(found, ctx)
        if found.holds:
            return Outcome(True, True, _evidence(found.hits, found.spans, ctx),
                           Detail("condition_holds"))
        # what was said that must not have been (a `not` in the requirement), else where
        # the missing words were due
        _, present = parts(rule.require, True)
        said = [h for n in present for h in [evaluate({"said": n}, ctx)] if h.holds]
        ev = _evidence([x for h in said for x in h.hits], [], ctx) if said else []
        return Outcome(True, False, ev or _first_words(rule, ctx), Detail("condition_absent"),
                       due=due(rule, ctx, None))
    if not found.holds:
        return Outcome(True, True, [], Detail("condition_absent"))
    ev = _evidence(found.hits, found.spans, ctx)
    said = "、".join(dict.fromkeys(e.match for e in ev if e.match and e.role == "agent")) or \
        "、".join(dict.fromkeys(e.match for e in ev if e.match))
    return Outcome(True, False, ev, Detail("said", {"phrases": said}) if said
                   else Detail("condition_holds"), due=due(rule, ctx, None))


def _each(rule: Rule, ctx: Context) -> Outcome:
    found_moments = evaluate(rule.each, ctx)
    moments = sorted({i for i, _ in found_moments.hits})
    if not moments:
        return not_applicable("no_moment")
    must = rule.require or rule.forbid
    missed: list[Evidence] = []
    near: set[int] = set()
    failed = 0
    unsure = False
    for m in moments:
        win = window(rule, ctx, m)
        found = evaluate(must, ctx, win)
        if rule.require and found.holds and ctx.mono and not evaluate(must, ctx, win, strict=True).holds:
            unsure = True
        if found.holds != bool(rule.require):
            failed += 1
            near |= win | {m}
            u = ctx.utterances[m]  # the moment, and the silence it was when it was one
            missed += [evidence_of(u)] + [e for e in found_moments.spans if 0 <= e.start - u.end < 0.1] \
                if rule.require else _evidence(found.hits, found.spans, ctx)
    if failed:
        key = "moments_missed" if rule.require else "said_after_moment"
        return Outcome(True, False, _once(missed), Detail(key, {"n": failed, "total": len(moments)}),
                       due=due(rule, ctx, near))
    if unsure:  # held only by words nobody could place
        return Outcome(True, False, [], Detail("found_unknown_speaker", {"phrase": ""}))
    return Outcome(True, True, [], Detail("moments_all", {"total": len(moments)}))


def _unknown_speaker(found: Any, ctx: Context) -> Outcome:
    ev = _evidence(found.hits, found.spans, ctx)
    return Outcome(True, False, ev, Detail("found_unknown_speaker", {
        "phrase": next((e.match for e in ev if e.match), "")}))


def _first_words(rule: Rule, ctx: Context) -> list[Evidence]:
    """The first words of the party a failed `require` wanted, in its scope: where the words
    were due."""
    missing, _ = parts(rule.require, True)
    said = missing[0] if missing else {}
    who = said.get("who", "agent")
    lo, hi = bounds(said.get("in"), ctx)
    mine = [u for u in ctx.by(who) if lo <= u.start < hi] or ctx.by(who)
    return [evidence_of(u) for u in mine[:3]]


def due(rule: Rule, ctx: Context, near: set[int] | None) -> list[Utterance]:
    """What was said (and the speech in which no word was heard) where the words a failure
    rests on the absence of were due: for each `said` the failure needs missing
    (conditions.parts), its party's utterances and unheard regions within its `in` scope and
    the failed moments' windows (`near`). rules/doubt.py reviews a failure when words may have
    been lost there."""
    missing, _ = parts(rule.require or rule.forbid, bool(rule.require))
    utts = ctx.utterances
    out: dict[int, Utterance] = {}
    for said in missing:
        who = said.get("who", "agent")
        lo, hi = bounds(said.get("in"), ctx)
        if near is not None:
            span = [utts[i] for i in near]
            lo = max(lo, min((u.start for u in span), default=lo))
            hi = min(hi, max((u.end for u in span), default=hi))
        for u in ctx.by(who) + ctx.unheard_by(who):
            if u.start < hi and u.end > lo:
                out[id(u)] = u
    return sorted(out.values(), key=lambda u: u.start)


def problems(r: dict[str, Any]) -> list[str]:
    out = []
    given = [k for k in ("require", "forbid") if k in r]
    if len(given) != 1:
        out.append("a `condition` rule needs one of `require` (what must hold) or `forbid` "
                   "(what must not)")
    for k in ("require", "forbid", "each", "applies"):
        if k in r:
            out += condition_problems(r[k], k)
    each = r.get("each")
    if isinstance(each, dict) and not any(k in each for k in ("said", "silence", "all", "any")):
        out.append("`each` must find moments: a `said` or `silence` condition (or all / any of them)")
    if "window" in r:
        if "each" not in r:
            out.append("`window` goes with `each` (the moments it is around)")
        out += window_problems(r["window"], "window", WINDOW_KEYS)
    return out


KIND = Kind(
    name="condition", run=check, problems=problems,  # doubt: per failure (out.due, evidence)
    fields=("require", "forbid", "each", "window", "applies"),
    doc="conditions written in the pack (docs/RULES.md, Conditions)",
    passes="`require` holds (around every moment of `each`), or `forbid` does not",
    not_applicable="`applies` does not hold, or `each` found no moment",
)
