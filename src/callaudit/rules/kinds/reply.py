"""`check: reply`: after every trigger (the caller's phrase, their raised voice, the end of a
hold), `who` says one of the rule's phrases within `where.within_s`."""

from __future__ import annotations

from typing import Any

from callaudit.records import Evidence, Utterance
from callaudit.rules.context import Context, Outcome, evidence_of, outcome, threshold_of
from callaudit.rules.rule import Rule
from callaudit.rules.units import Kind, Param
from callaudit.speech.match import Stream, find_opening_part
from callaudit.speech.phrase_index import find_any
from callaudit.strings import Detail, label

WITHIN = Param("within_s", "how long after the trigger the reply may start (`where.within_s`)",
               unit="s", default=15, low=0)
EVENTS = ("hold_end", "long_hold_end")


def within_s(rule: Rule) -> float:
    return float(rule.param(WITHIN.name, WITHIN.default or 0))


def _reply_found(rule: Rule, ctx: Context, after: float, start: float) -> Utterance | None:
    window = [u for u in ctx.by(rule.who) if start <= u.start <= after + within_s(rule)]
    if not window:
        return None
    stream = Stream.of(window)
    hit = find_any(stream, rule.phrases, threshold_of(rule, ctx))
    if hit:
        return stream.span(hit)[0][0]
    # right where it was due, the reply's first words: a phrase with its first or last
    # syllable lost at the turn's edge (不客气 heard as 客气) is the phrase
    first = Stream.of(window[:1])
    return window[0] if find_opening_part(first, rule.phrases, threshold_of(rule, ctx)) else None


def check(rule: Rule, ctx: Context) -> Outcome:
    trig = rule.trigger
    triggers: list[tuple[float, float, Evidence]] = []  # (start, end, evidence)
    if "event" in trig:
        holds = ctx.metrics.holds
        if trig["event"] == "long_hold_end":
            holds = [h for h in holds if h.duration > ctx.settings.hold_apology_s]
        triggers = [(h.end, h.end, Evidence(h.start, h.end, "agent", h.text, "", "hold"))
                    for h in holds]
        what = Detail("no_hold" if trig["event"] == "hold_end" else "no_long_hold")
    else:
        for u in ctx.by(trig.get("who", "customer")):
            hit = find_any(Stream.of([u]), trig["phrases"], threshold_of(rule, ctx))
            if hit:
                match = Stream.of([u]).span(hit)[0][1]
                triggers.append((u.start, u.end, evidence_of(u, match)))
        what = Detail("never_said", {"who": trig.get("who", "customer"),
                                     "phrase": trig["phrases"][0]})
        if trig.get("voice") == "raised":
            said = {s for s, _, _ in triggers}
            triggers += [t for t in _raised_voice(ctx) if t[0] not in said]
            triggers.sort(key=lambda t: t[0])
    if not triggers:
        return Outcome(False, True, [], what)
    missed = [ev for s, e, ev in triggers if _reply_found(rule, ctx, e, s) is None]
    if missed:
        return outcome(False, missed, "reply_missed", missed=len(missed), total=len(triggers))
    return outcome(True, [], "reply_all", total=len(triggers))


def _raised_voice(ctx: Context) -> list[tuple[float, float, Evidence]]:
    """Triggers from the caller's raised voice (metrics/voice.py): the first utterance of each
    run of raised ones (each within settings.raised_voice_sustained_s of the last) that holds
    two or more."""
    raised = sorted(ctx.metrics.raised_voice, key=lambda r: r.utterance.start)
    runs: list[list[Any]] = []
    for r in raised:
        if runs and r.utterance.start - runs[-1][-1].utterance.end <= ctx.settings.raised_voice_sustained_s:
            runs[-1].append(r)
        else:
            runs.append([r])
    out = []
    for run in runs:
        if len(run) < 2:
            continue
        r = run[0]
        u = r.utterance
        how = f"{r.db:+.0f} dB" + ("" if r.semitones is None else f", {r.semitones:+.0f} st")
        why = f"{label('raised_voice', ctx.lang)} {how}"  # shown where a category is
        out.append((u.start, u.end, Evidence(u.start, u.end, u.role, u.text, "", why)))
    return out


def problems(r: dict[str, Any]) -> list[str]:
    out = []
    trig = r.get("trigger") or {}
    if isinstance(trig, dict) and not (trig.get("phrases") or trig.get("event") in EVENTS):
        out.append(f"a `reply` rule needs trigger.phrases or trigger.event in {list(EVENTS)}")
    if not r.get("phrases"):
        out.append("a `reply` rule needs `phrases` (what the reply must contain)")
    return out


KIND = Kind(
    name="reply", run=check, problems=problems, judges_words="absence", params=(WITHIN,),
    fields=("who", "phrases", "trigger", "where", "threshold"),
    doc="a phrase that must answer a moment of the call",
    passes="after every trigger, `who` says one of `phrases` within `within_s`; a phrase of "
           "three or more syllables heard without its first or last as the reply's first "
           "clause (客气，再见 for 不客气) counts",
    not_applicable="the trigger never happened",
)
