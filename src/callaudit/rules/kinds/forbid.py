"""`check: forbid`: no phrase of the rule's categories (nor a pattern) is said by `who`."""

from __future__ import annotations

from callaudit.records import Evidence
from callaudit.rules.context import (
    Context,
    Outcome,
    evidence_of,
    hit_evidence,
    neutralised,
    not_applicable,
    threshold_of,
)
from callaudit.rules.patterns import compile_pattern
from callaudit.rules.rule import Rule
from callaudit.rules.units import Kind
from callaudit.speech.match import Hit, Stream, find
from callaudit.speech.phrase_index import shortlist
from callaudit.strings import Detail


def courteous(stream: Stream, hit: Hit, allow: list[str], threshold: float) -> bool:
    """The hit lies inside one of the `allow` phrases: a courteous phrase that holds a
    forbidden one (我不知道 in 不知道我是否解释清楚了) is not a violation."""
    for a in allow:
        around = find(stream, a, threshold)
        if around and around.first <= hit.first and hit.last <= around.last:
            return True
    return False


def check(rule: Rule, ctx: Context) -> Outcome:
    utts = ctx.by(rule.who)
    lists = {k: v for k, v in rule.categories.items() if v}
    if not lists and not rule.patterns:
        return not_applicable("no_phrases")
    if not utts:
        return not_applicable("no_speech", who=rule.who)
    threshold = threshold_of(rule, ctx, ctx.settings.forbid_threshold)
    evidence: list[Evidence] = []
    said: list[str] = []
    for i, u in enumerate(utts):  # per utterance, so every occurrence is reported ...
        # ... joined with the next one when close, since a pause can split a phrase
        # (这是规定， / 我有什么办法); a hit is reported where it starts
        pair = [u] + [n for n in utts[i + 1:i + 2] if n.start - u.end < ctx.settings.phrase_join_gap_s]
        stream = Stream.of(pair)
        for cat, phrases in lists.items():
            for p in shortlist(stream, phrases, threshold):  # a long list: what may be found
                hit = find(stream, p, threshold)
                if hit and stream.where[hit.first][0] == 0 and \
                        not courteous(stream, hit, rule.allow, threshold):
                    ev = hit_evidence(stream, hit, cat)
                    if not any(neutralised(e_u, e.match, rule.unless)
                               for e, e_u in zip(ev, pair, strict=False)):
                        evidence += ev
                        said.append(hit.phrase)
                        break
        for p in rule.patterns:
            m = compile_pattern(p).search(u.text)  # RE2: linear time on a pack's pattern
            if m and not neutralised(u, m.group(0), rule.unless) and \
                    not any(e.start == u.start for e in evidence):
                evidence.append(evidence_of(u, m.group(0), next(iter(lists), "pattern")))
                said.append(m.group(0))
    if evidence:
        return Outcome(True, False, evidence, Detail("said", {"phrases": "、".join(dict.fromkeys(said))}))
    return Outcome(True, True, [], Detail("none_said"))


KIND = Kind(
    name="forbid", run=check, judges_words="presence",
    fields=("who", "categories", "patterns", "allow", "unless", "threshold"),
    doc="phrases that must not be said",
    passes="no phrase of any category (nor pattern) is said by `who`; each occurrence is evidence",
    not_applicable="no phrases configured, or `who` never spoke",
)
