"""`check: count`: how often `who` says the rule's phrases; fails above `max_count` requests."""

from __future__ import annotations

from callaudit.records import Utterance
from callaudit.rules.context import Context, Outcome, evidence_of, not_applicable, outcome
from callaudit.rules.rule import Rule
from callaudit.rules.units import Kind


def check(rule: Rule, ctx: Context) -> Outcome:
    utts = ctx.by(rule.who)
    if not utts:
        return not_applicable("no_speech", who=rule.who)
    hits = [(u, p) for u in utts for p in rule.phrases for _ in range(u.text.count(p))]
    minutes = sum(u.end - u.start for u in utts) / 60
    per_min = len(hits) / minutes if minutes else 0.0
    if rule.max_count is None:
        return outcome(True, [], "count", n=len(hits), per_min=per_min)
    # A limit counts requests, not words: 不好意思，听不清，请您再说一遍 is one request
    # with two phrases, and so is one turn that the VAD split into two utterances.
    turns = _turns(ctx.utterances, {id(u) for u, _ in hits}, ctx.settings.phrase_join_gap_s)
    return outcome(len(turns) <= rule.max_count, [evidence_of(u, p) for u, p in hits], "count_turns",
                   n=len(hits), per_min=per_min, turns=len(turns), limit=rule.max_count)


def _turns(utts: list[Utterance], marked: set[int], gap_s: float) -> list[list[Utterance]]:
    """Runs of marked utterances, consecutive in the call and under `gap_s` apart."""
    out: list[list[Utterance]] = []
    prev: Utterance | None = None
    for u in utts:
        if id(u) in marked:
            if out and prev is not None and id(prev) in marked and \
                    u.start - prev.end < gap_s:
                out[-1].append(u)
            else:
                out.append([u])
        prev = u
    return out


def problems(r: dict) -> list[str]:  # type: ignore[type-arg]
    return [] if r.get("phrases") or r.get("patterns") else \
        ["a `count` rule needs `phrases` or `patterns`"]


KIND = Kind(
    name="count", run=check, problems=problems, judges_words="presence",
    fields=("who", "phrases", "patterns", "max_count"),
    doc="how often phrases are said",
    passes="(informational) occurrences per minute; fails above `max_count` requests",
    not_applicable="`who` never spoke",
)
