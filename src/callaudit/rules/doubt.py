"""When a failure rests on what the recognizer may have misheard, a person decides.

No agent may lose points for Whisper's mistakes. A failure of a rule that judges words
becomes "needs review" (no points, never fatal; rules/judge.py) when:
- a required phrase was said only by a voice that could not be placed (mono, roles from
  words): it may be the caller's 你好, so it earns no credit, and no blame either;
- a reply is missing, but each time the party's first clause after the trigger sounds near
  a phrase of its length (默克请 for 不客气, settings.near_miss_similarity);
- a phrase is missing (require, reply) and, where it was due, the party spoke in a region
  in which the recognizer heard no word even decoded alone (`unheard`), or everything the
  party said there was recognized with low confidence;
- a phrase was found (forbid, count, readback) only in utterances recognized with low
  confidence;
- the rule is fatal and no utterance of its evidence reaches `confidence_fatal_min`, unless
  two independent utterances reach `confidence_min` (a fatal verdict needs confident
  evidence or two independent hits);
- it rests on text denser than its speech can hold (Utterance.dense: more syllables a
  second than anybody says), which may be the recognizer's, not the agent's (review_dense).
Confidence is an utterance's geometric-mean word probability (records.Utterance); results
stored before it was kept have none, and are judged as before.
"""

from __future__ import annotations

from callaudit.records import Evidence, Utterance
from callaudit.rules.conditions import uses_rate
from callaudit.rules.context import Context, Outcome, scope
from callaudit.rules.kinds import words_judged
from callaudit.rules.kinds.reply import within_s
from callaudit.rules.rule import Rule
from callaudit.speech.match import near_clause
from callaudit.speech.text import spoken_units


def doubt(rule: Rule, out: Outcome, ctx: Context) -> str:
    """Why this failed outcome needs a person (a key of strings.DETAILS), or ""."""
    low = ctx.settings.confidence_min
    if out.detail.key == "found_unknown_speaker":
        return "review_unknown_speaker"  # neither credited nor blamed: a person listens
    if out.detail.key == "rate_disagree":
        return "review_rate_disagree"  # the transcript and the sound disagree
    if rests_on_dense(rule, out, ctx, [u for u in ctx.utterances if u.dense]):
        return "review_dense"
    if rule.check == "condition":
        return _condition(rule, out, ctx)
    words = words_judged(rule)
    if words == "absence":
        due = _due(rule, out, ctx)
        if _unheard(due):
            return "review_unheard"
        if rule.check == "reply" and _near_replies(rule, out, ctx):
            return "review_near_miss"
        return "review_low_confidence" if _all_unsure(due, low) else ""
    if words == "presence":
        # a phrase found across a pause quotes both utterances; one character of glue (the
        # 吗 of a confident 对吗？ before a misheard 密码告诉我) does not vouch for the hit
        return _misheard(_evidence_utterances([e for e in out.evidence if len(e.match) >= 2]
                                              or out.evidence, ctx), rule, ctx)
    return ""


def _unheard(due: list[Utterance]) -> bool:
    """Where words were due, the party spoke and no word was heard."""
    return any(u.text == "" for u in due)


def _all_unsure(due: list[Utterance], low: float) -> bool:
    """Everything the party was heard saying where words were due is below `low`."""
    heard = [u for u in due if u.text and u.confidence is not None]
    return bool(heard) and len(heard) == len([u for u in due if u.text]) and \
        all(u.confidence < low for u in heard)  # type: ignore[operator]


def _misheard(said: list[Utterance], rule: Rule, ctx: Context) -> str:
    """Why the words a failure found may be the recognizer's (review_low_confidence,
    review_fatal_unsure), or ""."""
    low = ctx.settings.confidence_min
    known = [u.confidence for u in said if u.confidence is not None]
    if not said or len(known) < len(said):
        return ""  # a result stored before confidence was kept: judged as before
    if all(c < low for c in known):
        return "review_low_confidence"
    if rule.severity == "fatal" and all(c < ctx.settings.confidence_fatal_min for c in known) \
            and sum(c >= low for c in known) < 2:
        return "review_fatal_unsure"
    return ""


def _near_replies(rule: Rule, out: Outcome, ctx: Context) -> bool:
    """Whether each missed trigger was answered, first thing, by a clause that sounds near
    one of the rule's phrases (默克请 for 不客气; settings.near_miss_similarity): misheard,
    perhaps; a person decides."""
    within = within_s(rule)
    mine = sorted(ctx.by(rule.who), key=lambda u: u.start)
    for e in out.evidence:
        first = next((u for u in mine if e.start <= u.start <= e.end + within), None)
        if first is None or near_clause(first.text, rule.phrases, ctx.settings.near_miss_similarity) is None:
            return False
    return bool(out.evidence)


def _condition(rule: Rule, out: Outcome, ctx: Context) -> str:
    """A failed condition rule (kinds/condition.py) rests on words missing where they were
    due (`out.due`: review when speech there had no words heard, or only words heard with
    low confidence), on a speech rate (review when the transcript's and the sound's rates
    disagree), and on words found: only the agent's are weighed, since the agent is the one
    who loses points (the caller's confident 投诉 does not vouch for a misheard 不知道)."""
    st = ctx.settings
    if out.due and _unheard(out.due):
        return "review_unheard"
    if out.due and _all_unsure(out.due, st.confidence_min):
        return "review_low_confidence"
    if uses_rate(rule.require or rule.forbid) or uses_rate(rule.each) or uses_rate(rule.applies):
        m = ctx.metrics
        rate, heard_rate = m.agent_speech_rate_cpm, m.agent_speech_rate_acoustic_cpm
        if rate and heard_rate and abs(heard_rate - rate) > st.speech_rate_disagree_share * heard_rate:
            return "review_rate_disagree"
    said = [u for u in _evidence_utterances(out.evidence, ctx) if u.role in ("agent", "unknown")]
    return _misheard(said, rule, ctx)


def rests_on_dense(rule: Rule, out: Outcome, ctx: Context, dense: list[Utterance]) -> bool:
    """Whether a failure rests on `dense` utterances (text denser than their speech can hold,
    asr.Transcript.dense): its evidence quotes one, or it judges the agent's speech rate and
    the rate by the words of the other agent utterances lies inside the band. True: a person
    decides (review_dense), nobody is deducted."""
    if not dense:
        return False
    marked = {_key(u) for u in dense}
    if any(_key(u) in marked for u in _evidence_utterances(out.evidence, ctx)):
        return True
    rate_rule = rule.metric == "speech_rate" or (rule.check == "condition" and (
        uses_rate(rule.require or rule.forbid) or uses_rate(rule.each) or uses_rate(rule.applies)))
    agent = [u for u in ctx.by("agent") if u.role == "agent"]
    if not rate_rule or not any(_key(u) in marked for u in agent):
        return False
    rest = [u for u in agent if _key(u) not in marked]
    secs = sum(u.end - u.start for u in rest)
    if secs < ctx.settings.speech_rate_min_speech_s:
        return True  # without them too little is left to judge a rate on
    rate = spoken_units("".join(u.text for u in rest)) * 60 / secs
    return ctx.settings.speech_rate_min_cpm <= rate <= ctx.settings.speech_rate_max_cpm


def _key(u: Utterance) -> tuple[int, float, float]:
    return u.channel, round(u.start, 2), round(u.end, 2)


def confidence_of(evidence: list[Evidence], ctx: Context) -> float | None:
    """The lowest confidence among the utterances a finding's evidence quotes (None: none
    known)."""
    known = [u.confidence for u in _evidence_utterances(evidence, ctx) if u.confidence is not None]
    return round(min(known), 3) if known else None


def _evidence_utterances(evidence: list[Evidence], ctx: Context) -> list[Utterance]:
    at = {(round(u.start, 2), round(u.end, 2)): u for u in ctx.utterances}
    seen: dict[int, Utterance] = {}
    for e in evidence:
        u = at.get((round(e.start, 2), round(e.end, 2)))
        if u is not None:
            seen[id(u)] = u
    return list(seen.values())


def _due(rule: Rule, out: Outcome, ctx: Context) -> list[Utterance]:
    """What the party said (and the regions with no words, text "") where the missing
    phrase was due: the rule's scope (require), or each missed trigger's reply window."""
    mine = ctx.by(rule.who) + [u for u in ctx.unheard
                              if u.role == rule.who or (ctx.mono and u.role == "unknown")
                              or rule.who == "any"]
    mine.sort(key=lambda u: u.start)
    if rule.check == "require":
        return scope(rule, mine, ctx)
    within = within_s(rule)
    low = ctx.settings.confidence_min
    due: list[Utterance] = []
    for e in out.evidence:  # each missed trigger: its reply was due within `within` after it
        window = [u for u in mine if e.start <= u.start <= e.end + within]
        if not window or all(u.text and u.confidence is not None and u.confidence >= low
                             for u in window):
            return []  # one trigger clearly missed: the failure stands
        due += window
    return due
