"""What every check reads and returns: the call as a check sees it (`Context`), the verdict of
one rule (`Outcome`), and the helpers the kinds share (evidence, scope, the caller's last
request). A rule whose condition does not hold (no hold happened, the caller never said
thanks) is not applicable: neither a pass it did not earn nor a failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from callaudit.metrics.timing import Metrics, Span
from callaudit.records import Evidence, Utterance
from callaudit.rules.patterns import compile_pattern
from callaudit.rules.rule import Rule
from callaudit.settings import Settings
from callaudit.speech.match import Hit, Stream
from callaudit.speech.text import spoken_units
from callaudit.strings import Detail


@dataclass
class Context:
    utterances: list[Utterance]  # sorted by start
    metrics: Metrics
    settings: Settings
    mono: bool
    lang: str = "zh"
    # who spoke is unsure: the review id a failure that depends on it takes ("" when sure):
    # review_separation (a mono call separated with low confidence), review_roles (which side
    # is the agent: speech/roles.py)
    unsure_speakers: str = ""
    # speech regions in which no word was heard (text "", with their role): rules/doubt.py
    unheard: list[Utterance] = field(default_factory=list)
    # system prompts' words as the agent's: only rules in settings.system_credits see them
    system: list[Utterance] = field(default_factory=list)

    def by(self, who: str) -> list[Utterance]:
        """Utterances of a party; on mono either party's include the unattributed ones
        (a phrase heard from an unknown speaker is credited, and a violation from one is
        never fatal: see judge.evaluate)."""
        if who == "any":
            return self.utterances
        if self.mono:
            return [u for u in self.utterances if u.role in (who, "unknown")]
        return [u for u in self.utterances if u.role == who]

    def unheard_by(self, who: str) -> list[Utterance]:
        """The party's speech in which no word was heard (see `by` for mono)."""
        return [u for u in self.unheard
                if who == "any" or u.role == who or (self.mono and u.role == "unknown")]


@dataclass
class Outcome:
    """What one check found: whether the rule applies to this call, whether it passed, the
    moments that show it, and why (a key of strings.DETAILS with its values). `due`: for a
    check that fails on words not found, what the party said (and `unheard` regions) where
    they were due, when the check computed it (rules/doubt.py)."""

    applicable: bool
    passed: bool
    evidence: list[Evidence]
    detail: Detail
    due: list[Utterance] | None = None


def not_applicable(key: str, **args: Any) -> Outcome:
    return Outcome(False, True, [], Detail(key, args))


def outcome(passed: bool, evidence: list[Evidence], key: str, **args: Any) -> Outcome:
    return Outcome(True, passed, [] if passed else evidence, Detail(key, args))


def when_fails(rule: Rule, m: Metrics) -> Outcome | None:
    """None when the rule's `when` conditions hold, else why the rule does not apply."""
    facts = {"agent_spoke": m.agent_spoke, "customer_spoke": m.customer_spoke}
    for key, want in rule.when.items():
        if facts[key] != bool(want):
            return not_applicable(key if facts[key] else f"not_{key}")
    return None


def evidence_of(u: Utterance, match: str = "", category: str = "") -> Evidence:
    return Evidence(u.start, u.end, u.role, u.text, match, category)


def hit_evidence(stream: Stream, hit: Hit, category: str = "") -> list[Evidence]:
    return [evidence_of(u, m, category) for u, m in stream.span(hit)]


def span_evidence(s: Span, role: str = "") -> Evidence:
    return Evidence(s.start, s.end, role, s.text)


def threshold_of(rule: Rule, ctx: Context, default: float | None = None) -> float:
    """The phrase similarity a rule needs: its own `threshold`, else `default`, else the
    pack's match_threshold."""
    if rule.threshold is not None:
        return float(rule.threshold)
    return default if default is not None else float(ctx.settings.match_threshold)


def scope(rule: Rule, utts: list[Utterance], ctx: Context | None = None) -> list[Utterance]:
    """The utterances a rule's `where` covers: the party's first `first_s` seconds of speech;
    its last `last_s`; with `after_last_request`, the closing part of the call, what was said
    from the caller's last request on (not their 没有了，谢谢), with `last_s` only when the
    caller made none (a short call's opening is not its closing)."""
    if not utts:
        return []
    if "first_s" in rule.where:
        utts = [u for u in utts if u.start <= utts[0].start + rule.where["first_s"]]
    last = last_request(ctx) if ctx and rule.where.get("after_last_request") else None
    if last is not None:
        return [u for u in utts if u.start >= last.start]
    if "last_s" in rule.where:
        utts = [u for u in utts if u.end >= utts[-1].end - rule.where["last_s"]]
    return utts


CLAUSE_END = re.compile(r"[，,。.！!？?；;：:]")
PUNCT_ALL = re.compile(r"[\s\W_]+")


def requests(ctx: Context) -> list[Utterance]:
    """The caller's utterances that say more than closing replies (settings.closing_replies:
    没有了, 谢谢, 好的, 再见 ...), by at least settings.request_min_syllables syllables, in
    order; none when roles are unknown."""
    replies = sorted(ctx.settings.closing_replies, key=len, reverse=True)
    out = []
    for u in ctx.utterances:
        if u.role != "customer":
            continue
        rest = PUNCT_ALL.sub("", u.text)
        for r in replies:
            rest = rest.replace(r, "")
        if spoken_units(rest) >= ctx.settings.request_min_syllables:
            out.append(u)
    return out


def last_request(ctx: Context) -> Utterance | None:
    """The caller's last request (`requests`); None when they made none."""
    made = requests(ctx)
    return made[-1] if made else None


def pattern_hit(patterns: list[str], utts: list[Utterance]) -> tuple[Utterance, str] | None:
    """The first utterance one of `patterns` (RE2, linear time on a pack's pattern) finds,
    with what it matched."""
    for u in utts:
        for p in patterns:
            m = compile_pattern(p).search(u.text)
            if m:
                return u, m.group(0)
    return None


def neutralised(u: Utterance, match: str, unless: list[str]) -> bool:
    """`unless` words before the match in the same clause (请不要告诉任何人您的密码), or inside
    the match (验证码千万别告诉别人). A negation in an earlier clause does not cancel a
    request (您不要着急，请把密码告诉我)."""
    idx = u.text.find(match)
    head = u.text[: idx if idx >= 0 else len(u.text)]
    clause = CLAUSE_END.split(head)[-1]
    return any(w in clause + match for w in unless)
