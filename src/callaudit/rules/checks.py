"""One function per `check` kind of the rule-pack schema (docs/RULES.md): a rule and the call
in, an Outcome out. A rule whose condition does not hold (no hold happened, the caller never
said thanks) is not applicable: neither a pass it did not earn nor a failure. rules/judge.py
turns outcomes into findings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from callaudit.metrics.timing import Metrics, Span
from callaudit.records import Evidence, Utterance
from callaudit.rules.pack import Rule
from callaudit.rules.patterns import compile_pattern
from callaudit.settings import Settings
from callaudit.speech.match import Hit, Stream, find, find_any, find_opening_part, find_script
from callaudit.speech.numbers import DIGITS, digit_runs, party_texts, without_quantity
from callaudit.speech.text import spoken_units
from callaudit.strings import Detail, label


@dataclass
class Context:
    utterances: list[Utterance]  # sorted by start
    metrics: Metrics
    settings: Settings
    mono: bool
    lang: str = "zh"
    unsure_speakers: bool = False  # a mono call separated with low confidence
    # speech regions in which no word was heard (text "", with their role): rules/doubt.py
    unheard: list[Utterance] = field(default_factory=list)
    # system prompts' words as the agent's: only rules in settings.system_credits see them
    system: list[Utterance] = field(default_factory=list)

    def by(self, who: str) -> list[Utterance]:
        """Utterances of a party; on mono either party's include the unattributed ones
        (a phrase heard from an unknown speaker is credited, and a violation from one is
        never fatal: see evaluate)."""
        if who == "any":
            return self.utterances
        if self.mono:
            return [u for u in self.utterances if u.role in (who, "unknown")]
        return [u for u in self.utterances if u.role == who]


@dataclass
class Outcome:
    """What one check found: whether the rule applies to this call, whether it passed, the
    moments that show it, and why (a key of strings.DETAILS with its values)."""

    applicable: bool
    passed: bool
    evidence: list[Evidence]
    detail: Detail


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


def _ev(u: Utterance, match: str = "", category: str = "") -> Evidence:
    return Evidence(u.start, u.end, u.role, u.text, match, category)


def _ev_hit(stream: Stream, hit: Hit, category: str = "") -> list[Evidence]:
    return [_ev(u, m, category) for u, m in stream.span(hit)]


def _threshold(rule: Rule, ctx: Context, default: float | None = None) -> float:
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


MIN_REQUEST_SYLLABLES = 4  # fewer left beside the closing replies is no request: 没有能
# (没有了 misheard) leaves 能, 美俄们 (没有了 again, bench_02) is 3, 算了算了 nothing; 我要退订 is 4


def last_request(ctx: Context) -> Utterance | None:
    """The caller's last utterance that says more than closing replies (settings.
    closing_replies: 没有了, 谢谢, 好的, 再见 ...), by at least MIN_REQUEST_SYLLABLES
    syllables; None when they made no request (or roles are unknown)."""
    replies = sorted(ctx.settings.closing_replies, key=len, reverse=True)
    for u in reversed([u for u in ctx.utterances if u.role == "customer"]):
        rest = _PUNCT_ALL.sub("", u.text)
        for r in replies:
            rest = rest.replace(r, "")
        if spoken_units(rest) >= MIN_REQUEST_SYLLABLES:
            return u
    return None


def _pattern_hit(rule: Rule, utts: list[Utterance]) -> tuple[Utterance, str] | None:
    for u in utts:
        for p in rule.patterns:
            m = compile_pattern(p).search(u.text)  # RE2: linear time on a pack's pattern
            if m:
                return u, m.group(0)
    return None


def check_require(rule: Rule, ctx: Context) -> Outcome:
    utts = scope(rule, ctx.by(rule.who), ctx)
    if not utts:
        last = last_request(ctx) if rule.where.get("after_last_request") else None
        if last is not None and ctx.by(rule.who):  # spoke, but not after the caller's request
            return Outcome(True, False, [_ev(last)], Detail("none_after_request", {"who": rule.who}))
        return not_applicable("no_speech_in_scope", who=rule.who)
    found = _required(rule, ctx, [u for u in utts if u.role != "unknown"])
    if found:
        return found
    unsure = _required(rule, ctx, utts) if ctx.mono and rule.who != "any" else None
    if unsure:  # said, but by a voice nobody could place: maybe the caller's 你好
        return Outcome(True, False, unsure.evidence, Detail("found_unknown_speaker", {
            "phrase": unsure.detail.args.get("phrase") or unsure.detail.args.get("match", "")}))
    return Outcome(True, False, [_ev(u) for u in utts[:3]], _none_said(rule))


def _required(rule: Rule, ctx: Context, utts: list[Utterance]) -> Outcome | None:
    """A passing outcome when one of the rule's phrases or patterns is in `utts`."""
    if not utts:
        return None
    stream = Stream.of(utts)
    hit = find_any(stream, rule.phrases, _threshold(rule, ctx))
    if hit:
        return Outcome(True, True, _ev_hit(stream, hit),
                       Detail("found_phrase", {"phrase": hit.phrase, "score": hit.score}))
    ph = _pattern_hit(rule, utts)
    if ph:
        return Outcome(True, True, [_ev(ph[0], ph[1])], Detail("found_pattern", {"match": ph[1]}))
    for script in ctx.settings.scripts(rule.script):  # the whole opening, one word misheard
        hit = find_script(stream, script, _threshold(rule, ctx))
        if hit:
            return Outcome(True, True, _ev_hit(stream, hit),
                           Detail("found_script", {"script": script, "score": hit.score}))
    return None


def _none_said(rule: Rule) -> Detail:
    for key in ("first_s", "last_s"):
        if key in rule.where:
            return Detail(f"none_said_{key[:-2]}", {"seconds": rule.where[key], "who": rule.who})
    return Detail("none_said_call")


_CLAUSE_END = re.compile(r"[，,。.！!？?；;：:]")
_PUNCT_ALL = re.compile(r"[\s\W_]+")


def _neutralised(u: Utterance, match: str, unless: list[str]) -> bool:
    """`unless` words before the match in the same clause (请不要告诉任何人您的密码), or inside
    the match (验证码千万别告诉别人). A negation in an earlier clause does not cancel a
    request (您不要着急，请把密码告诉我)."""
    idx = u.text.find(match)
    head = u.text[: idx if idx >= 0 else len(u.text)]
    clause = _CLAUSE_END.split(head)[-1]
    return any(w in clause + match for w in unless)


def _courteous(stream: Stream, hit: Hit, rule: Rule, threshold: float) -> bool:
    """The hit lies inside one of the rule's `allow` phrases: a courteous phrase that holds a
    forbidden one (我不知道 in 不知道我是否解释清楚了) is not a violation."""
    for a in rule.allow:
        around = find(stream, a, threshold)
        if around and around.first <= hit.first and hit.last <= around.last:
            return True
    return False


def check_forbid(rule: Rule, ctx: Context) -> Outcome:
    utts = ctx.by(rule.who)
    lists = {k: v for k, v in rule.categories.items() if v}
    if not lists and not rule.patterns:
        return not_applicable("no_phrases")
    if not utts:
        return not_applicable("no_speech", who=rule.who)
    threshold = _threshold(rule, ctx, ctx.settings.forbid_threshold)
    evidence: list[Evidence] = []
    said: list[str] = []
    for i, u in enumerate(utts):  # per utterance, so every occurrence is reported ...
        # ... joined with the next one when close, since a pause can split a phrase
        # (这是规定， / 我有什么办法); a hit is reported where it starts
        pair = [u] + [n for n in utts[i + 1:i + 2] if n.start - u.end < ctx.settings.phrase_join_gap_s]
        stream = Stream.of(pair)
        for cat, phrases in lists.items():
            for p in phrases:
                hit = find(stream, p, threshold)
                if hit and stream.where[hit.first][0] == 0 and not _courteous(stream, hit, rule, threshold):
                    ev = _ev_hit(stream, hit, cat)
                    if not any(_neutralised(e_u, e.match, rule.unless)
                               for e, e_u in zip(ev, pair, strict=False)):
                        evidence += ev
                        said.append(hit.phrase)
                        break
        for p in rule.patterns:
            m = compile_pattern(p).search(u.text)  # RE2: linear time on a pack's pattern
            if m and not _neutralised(u, m.group(0), rule.unless) and \
                    not any(e.start == u.start for e in evidence):
                evidence.append(_ev(u, m.group(0), next(iter(lists), "pattern")))
                said.append(m.group(0))
    if evidence:
        return Outcome(True, False, evidence, Detail("said", {"phrases": "、".join(dict.fromkeys(said))}))
    return Outcome(True, True, [], Detail("none_said"))


def _reply_found(rule: Rule, ctx: Context, after: float, start: float) -> Utterance | None:
    window = [u for u in ctx.by(rule.who)
              if start <= u.start <= after + rule.where.get("within_s", 15)]
    if not window:
        return None
    stream = Stream.of(window)
    hit = find_any(stream, rule.phrases, _threshold(rule, ctx))
    if hit:
        return stream.span(hit)[0][0]
    # right where it was due, the reply's first words: a phrase with its first or last
    # syllable lost at the turn's edge (不客气 heard as 客气) is the phrase
    first = Stream.of(window[:1])
    return window[0] if find_opening_part(first, rule.phrases, _threshold(rule, ctx)) else None


def check_reply(rule: Rule, ctx: Context) -> Outcome:
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
            hit = find_any(Stream.of([u]), trig["phrases"], _threshold(rule, ctx))
            if hit:
                match = Stream.of([u]).span(hit)[0][1]
                triggers.append((u.start, u.end, _ev(u, match)))
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


RAISED_SUSTAINED_S = 30.0  # two raised utterances this close: the caller is upset, not emphatic


def _raised_voice(ctx: Context) -> list[tuple[float, float, Evidence]]:
    """Triggers from the caller's raised voice (metrics/voice.py): the first utterance of each
    run of raised ones (each within RAISED_SUSTAINED_S of the last) that holds two or more."""
    raised = sorted(ctx.metrics.raised_voice, key=lambda r: r.utterance.start)
    runs: list[list[Any]] = []
    for r in raised:
        if runs and r.utterance.start - runs[-1][-1].utterance.end <= RAISED_SUSTAINED_S:
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


@dataclass
class NumberSaid:
    utterance: Utterance  # the one it starts in
    digits: str
    end: float  # when the utterance of its last digit ends
    parts: list[str]  # its digits in each utterance it spans (one part: one utterance)


def numbers_said(utts: list[Utterance], min_len: int, gap_s: float) -> list[NumberSaid]:
    """Digit strings (order, phone, card numbers) of `min_len`+ digits: read across one
    party's utterances `gap_s` apart (幺三八， / 一二三四， / 五六七八 is one number,
    speech/numbers.py); not years, amounts or counts."""
    out = []
    for text in party_texts(utts, gap_s):
        for whole in digit_runs(text.text, min_len):
            run = without_quantity(text.text, whole)
            if run is None or len(run.digits) < min_len:
                continue
            parts: dict[int, str] = {}
            for i in range(run.start, run.end):
                o = text.owner[i]
                if o is not None and text.text[i] in DIGITS:
                    parts[o[0]] = parts.get(o[0], "") + DIGITS[text.text[i]]
            first, last = min(parts), max(parts)
            out.append(NumberSaid(utts[first], run.digits, utts[last].end, list(parts.values())))
    return out


def _read_back(n: NumberSaid, said: list[str], min_len: int) -> bool:
    """The number is among what the agent said: whole, or (two numbers said in a row, 订单号
    2024001。/ 13812345678。) each part of it long enough to be a number of its own."""
    def heard(digits: str) -> bool:
        return any(fuzz.ratio(digits, r) >= 80 for r in said)

    if heard(n.digits):
        return True
    long = [p for p in n.parts if len(p) >= min_len]
    return len(n.parts) > 1 and bool(long) and all(heard(p) for p in long)


def check_readback(rule: Rule, ctx: Context) -> Outcome:
    gap = ctx.settings.number_join_gap_s
    given = numbers_said(ctx.by("customer"), rule.min_digits, gap)
    if not given:
        return not_applicable("no_number", digits=rule.min_digits)
    agent = numbers_said(ctx.by("agent"), rule.min_digits, gap)
    missed = []
    for n in given:
        said = [a.digits for a in agent
                if n.utterance.start <= a.utterance.start <= n.end + rule.where.get("within_s", 30)]
        if not _read_back(n, said, rule.min_digits):
            missed.append(_ev(n.utterance, n.digits))
    if missed:
        return outcome(False, missed, "not_read_back", missed=len(missed), total=len(given))
    return outcome(True, [], "read_back", total=len(given))


def check_count(rule: Rule, ctx: Context) -> Outcome:
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
    return outcome(len(turns) <= rule.max_count, [_ev(u, p) for u, p in hits], "count_turns",
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


def check_manual(rule: Rule, ctx: Context) -> Outcome:
    return not_applicable("manual")


# --- metric checks -------------------------------------------------------------------------
def _span_ev(s: Span, role: str = "") -> Evidence:
    return Evidence(s.start, s.end, role, s.text)


def _m_answer_delay(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    if m.answer_delay_s is None:
        return not_applicable("not_agent_spoke")
    first = next(u for u in ctx.utterances if u.role == "agent")
    ok = m.answer_delay_s <= st.answer_delay_max_s and (
        m.rings is None or m.rings <= st.answer_rings_max)
    ev = [Evidence(m.connect_s, first.start, "agent", first.text)]
    if m.rings is not None:
        return outcome(ok, ev, "answer_delay_rings", delay=m.answer_delay_s, rings=m.rings,
                       limit=st.answer_delay_max_s)
    return outcome(ok, ev, "answer_delay", delay=m.answer_delay_s, limit=st.answer_delay_max_s)


def _m_speech_rate(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    lo, hi = st.speech_rate_min_cpm, st.speech_rate_max_cpm
    if m.agent_speech_rate_cpm is None or m.agent_speaking_s < st.speech_rate_min_speech_s:
        return not_applicable("too_little_speech", seconds=st.speech_rate_min_speech_s)
    rate = m.agent_speech_rate_cpm
    off = [(u, c) for u, c in m.utterance_rates if u.role == "agent" and not lo <= c <= hi]
    off.sort(key=lambda uc: -abs(uc[1] - (lo + hi) / 2))
    ev = [Evidence(u.start, u.end, u.role, u.text, f"{c:.0f}/min") for u, c in off[:5]]
    heard = m.agent_speech_rate_acoustic_cpm
    if heard and abs(heard - rate) > st.speech_rate_disagree_share * heard and \
            (lo <= rate <= hi) != (lo <= heard <= hi):
        # the transcript and the sound disagree on which side of the norm the agent is
        # (Whisper drops syllables of fast speech): a person listens, nobody is deducted
        agent = [u for u in ctx.by("agent") if u.end - u.start >= st.speech_rate_min_utterance_s]
        return Outcome(True, False, ev or [Evidence(u.start, u.end, u.role, u.text) for u in agent[:3]],
                       Detail("rate_disagree", {"rate": rate, "heard": heard, "low": lo, "high": hi}))
    return outcome(lo <= rate <= hi, ev, "speech_rate", rate=rate, low=lo, high=hi)


def _m_dead_air(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    if not m.agent_spoke and not m.customer_spoke:
        return not_applicable("nobody_spoke")
    reported = [s for s in m.silences if s.duration > st.silence_report_s]
    return outcome(not m.dead_air, [_span_ev(s) for s in m.dead_air], "dead_air",
                   longest=m.max_silence_s, reported=len(reported), report_s=st.silence_report_s,
                   dead=len(m.dead_air), dead_s=st.dead_air_s)


def _m_hold_before(rule: Rule, ctx: Context) -> Outcome:
    waits = ctx.metrics.waits
    if not waits:
        return not_applicable("no_wait", seconds=ctx.settings.hold_min_s)
    bad = [w for w in waits if w.kind == "wait"]
    return outcome(not bad, [_span_ev(w, "agent") for w in bad], "waits_announced",
                   announced=len(waits) - len(bad), total=len(waits))


def _m_hold_reminder(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    if not m.holds:
        return not_applicable("no_hold")
    long = [w for w in m.waits if w.kind == "hold" and w.duration > st.hold_reminder_s]
    return outcome(not long, [_span_ev(w, "agent") for w in long], "hold_reminder",
                   n=len(long), seconds=st.hold_reminder_s)


def _m_response_latency(rule: Rule, ctx: Context) -> Outcome:
    m = ctx.metrics
    if not (m.agent_spoke and m.customer_spoke):
        return not_applicable("both_parties")
    gaps = m.response_gaps
    return outcome(not gaps, [_span_ev(g, "agent") for g in gaps], "slow_responses",
                   n=len(gaps), seconds=ctx.settings.response_latency_s)


def _m_interruption(rule: Rule, ctx: Context) -> Outcome:
    m = ctx.metrics
    if m.interruptions is None:
        return not_applicable("mono_overlaps")
    if not (m.agent_spoke and m.customer_spoke):
        return not_applicable("both_parties")
    return outcome(not m.interruptions, [_span_ev(s, "agent") for s in m.interruptions],
                   "interruptions", n=len(m.interruptions))


def _m_volume(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    if m.agent_level_dbfs is None:
        return not_applicable("not_agent_spoke")
    lo, hi = st.volume_min_dbfs, st.volume_max_dbfs
    clip = m.agent_clipping_share or 0.0
    ok = lo <= m.agent_level_dbfs <= hi and clip <= st.clipping_max_share
    ev = [_ev(u) for u in ctx.by("agent") if not lo <= u.level_dbfs <= hi][:3]
    return outcome(ok, ev, "volume", level=m.agent_level_dbfs, low=lo, high=hi, clipping=clip)


def _m_call_length(rule: Rule, ctx: Context) -> Outcome:
    d, lim = ctx.metrics.duration_s, ctx.settings.call_length_review_s
    return outcome(d <= lim, [], "call_length", minutes=d / 60, limit=lim)


METRIC_CHECKS: dict[str, Callable[[Rule, Context], Outcome]] = {
    "answer_delay": _m_answer_delay, "speech_rate": _m_speech_rate, "dead_air": _m_dead_air,
    "hold_before": _m_hold_before, "hold_reminder": _m_hold_reminder,
    "response_latency": _m_response_latency, "interruption": _m_interruption,
    "volume": _m_volume, "call_length": _m_call_length,
}


def check_metric(rule: Rule, ctx: Context) -> Outcome:
    return METRIC_CHECKS[rule.metric](rule, ctx)


CHECKS: dict[str, Callable[[Rule, Context], Outcome]] = {
    "require": check_require, "forbid": check_forbid, "reply": check_reply,
    "metric": check_metric, "readback": check_readback, "count": check_count,
    "manual": check_manual,
}
