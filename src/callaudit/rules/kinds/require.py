"""`check: require`: one of the rule's phrases or patterns is said by `who` within `where`."""

from __future__ import annotations

from typing import Any

from callaudit.records import Utterance
from callaudit.rules.context import (
    Context,
    Outcome,
    evidence_of,
    hit_evidence,
    last_request,
    not_applicable,
    pattern_hit,
    scope,
    threshold_of,
)
from callaudit.rules.rule import Rule
from callaudit.rules.units import Kind
from callaudit.speech.match import Stream, find_script
from callaudit.speech.phrase_index import find_any
from callaudit.strings import Detail


def check(rule: Rule, ctx: Context) -> Outcome:
    utts = scope(rule, ctx.by(rule.who), ctx)
    if not utts:
        last = last_request(ctx) if rule.where.get("after_last_request") else None
        if last is not None and ctx.by(rule.who):  # spoke, but not after the caller's request
            return Outcome(True, False, [evidence_of(last)],
                           Detail("none_after_request", {"who": rule.who}))
        return not_applicable("no_speech_in_scope", who=rule.who)
    found = required(rule, ctx, [u for u in utts if u.role != "unknown"])
    if found:
        return found
    unsure = required(rule, ctx, utts) if ctx.mono and rule.who != "any" else None
    if unsure:  # said, but by a voice nobody could place: maybe the caller's 你好
        return Outcome(True, False, unsure.evidence, Detail("found_unknown_speaker", {
            "phrase": unsure.detail.args.get("phrase") or unsure.detail.args.get("match", "")}))
    return Outcome(True, False, [evidence_of(u) for u in utts[:3]], _none_said(rule))


def required(rule: Rule, ctx: Context, utts: list[Utterance]) -> Outcome | None:
    """A passing outcome when one of the rule's phrases or patterns is in `utts`."""
    if not utts:
        return None
    stream = Stream.of(utts)
    hit = find_any(stream, rule.phrases, threshold_of(rule, ctx))
    if hit:
        return Outcome(True, True, hit_evidence(stream, hit),
                       Detail("found_phrase", {"phrase": hit.phrase, "score": hit.score}))
    ph = pattern_hit(rule.patterns, utts)
    if ph:
        return Outcome(True, True, [evidence_of(ph[0], ph[1])], Detail("found_pattern", {"match": ph[1]}))
    for script in ctx.settings.scripts(rule.script):  # the whole opening, one word misheard
        hit = find_script(stream, script, threshold_of(rule, ctx))
        if hit:
            return Outcome(True, True, hit_evidence(stream, hit),
                           Detail("found_script", {"script": script, "score": hit.score}))
    return None


def _none_said(rule: Rule) -> Detail:
    for key in ("first_s", "last_s"):
        if key in rule.where:
            return Detail(f"none_said_{key[:-2]}", {"seconds": rule.where[key], "who": rule.who})
    return Detail("none_said_call")


def problems(r: dict[str, Any]) -> list[str]:
    out = []
    if not r.get("phrases") and not r.get("patterns"):
        out.append("a `require` rule needs `phrases` or `patterns`")
    if r.get("script") not in (None, "opening", "closing"):
        out.append("`script` must be opening or closing (settings.opening_scripts, closing_scripts)")
    return out


KIND = Kind(
    name="require", run=check, problems=problems, judges_words="absence",
    fields=("who", "phrases", "patterns", "script", "where", "threshold"),
    doc="a phrase that must be said",
    passes="one of `phrases` / `patterns` is said by `who` within `where` (or a whole "
           "`script` of settings, one part misheard)",
    not_applicable="`when` fails, or `who` never spoke",
)
