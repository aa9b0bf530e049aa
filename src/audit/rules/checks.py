"""Evaluate a rule pack against a transcribed, measured call: one Finding per enabled rule.

Each `check` kind of the rule-pack schema has one function here. A rule whose condition
does not hold (no hold happened, the caller never said thanks) is `applicable: false`:
neither a pass it did not earn nor a failure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

from audit.metrics.timing import Metrics, Span
from audit.records import Evidence, Finding, Utterance
from audit.rules.pack import Rule, RulePack
from audit.speech.match import Hit, Stream, find, find_any

FORBID_THRESHOLD = 0.85  # forbidden phrases: stricter than required ones (false alarms cost)
MIN_RATE_SPEECH_S = 5.0  # below this much agent speech a speech rate means little
PHRASE_JOIN_GAP_S = 2.0  # forbidden phrases are also looked for across a pause this short
_CN_DIGITS = dict(zip("零〇一幺二两三四五六七八九", "0011223456789", strict=True))


@dataclass
class Context:
    utterances: list[Utterance]  # sorted by start
    metrics: Metrics
    settings: dict[str, Any]
    mono: bool
    lang: str = "zh"
    unsure_speakers: bool = False  # a mono call separated with low confidence

    def by(self, who: str) -> list[Utterance]:
        """Utterances of a party; on mono either party's include the unattributed ones
        (a phrase heard from an unknown speaker is credited, and a violation from one is
        never fatal: see evaluate)."""
        if who == "any":
            return self.utterances
        if self.mono:
            return [u for u in self.utterances if u.role in (who, "unknown")]
        return [u for u in self.utterances if u.role == who]


Outcome = tuple[bool, bool, list[Evidence], str]  # applicable, passed, evidence, detail


def evaluate(pack: RulePack, ctx: Context) -> list[Finding]:
    findings = []
    for rule in pack.enabled_rules:
        ok, why = _when(rule, ctx.metrics)
        if not ok:
            outcome: Outcome = (False, True, [], why)
        else:
            outcome = CHECKS[rule.check](rule, ctx)
        applicable, passed, evidence, detail = outcome
        severity = rule.severity
        deduction = rule.deduction if applicable and not passed else 0.0
        review = False
        if applicable and not passed and severity == "fatal" and evidence and \
                all(e.role == "unknown" for e in evidence):
            # Mono without separation: we cannot tell who said it, so no fatal verdict and
            # no points taken (a 100-point deduction would fail the call all the same):
            # the finding stays failed, for a reviewer.
            severity, detail = "major", detail + "; speaker unsure (mono): needs review"
            deduction, review = 0.0, True
        elif applicable and not passed and ctx.unsure_speakers and rule.who != "any":
            # the separated speakers may be swapped or mixed: never blame the agent for what
            # the caller may have said; a person decides
            severity = "major" if severity == "fatal" else severity
            detail += "; speaker separation unsure: needs review"
            deduction, review = 0.0, True
        findings.append(Finding(
            rule=rule.id, section=rule.section, severity=severity, applicable=applicable,
            passed=passed if applicable else True, deduction=deduction,
            message=rule.text(ctx.lang), evidence=evidence, detail=detail, review=review,
        ))
    return findings


def _when(rule: Rule, m: Metrics) -> tuple[bool, str]:
    facts = {"agent_spoke": m.agent_spoke, "customer_spoke": m.customer_spoke}
    for key, want in rule.when.items():
        if facts[key] != bool(want):
            return False, f"{key} is {facts[key]}"
    return True, ""


def _ev(u: Utterance, match: str = "", category: str = "") -> Evidence:
    return Evidence(u.start, u.end, u.role, u.text, match, category)


def _ev_hit(stream: Stream, hit: Hit, category: str = "") -> list[Evidence]:
    return [_ev(u, m, category) for u, m in stream.span(hit)]


def _threshold(rule: Rule, ctx: Context, default: float | None = None) -> float:
    if rule.threshold is not None:
        return float(rule.threshold)
    return default if default is not None else float(ctx.settings["match_threshold"])


def _scope(rule: Rule, utts: list[Utterance]) -> list[Utterance]:
    if not utts:
        return []
    if "first_s" in rule.where:
        utts = [u for u in utts if u.start <= utts[0].start + rule.where["first_s"]]
    if "last_s" in rule.where:
        utts = [u for u in utts if u.end >= utts[-1].end - rule.where["last_s"]]
    return utts


def _pattern_hit(rule: Rule, utts: list[Utterance]) -> tuple[Utterance, str] | None:
    for u in utts:
        for p in rule.patterns:
            m = re.search(p, u.text)
            if m:
                return u, m.group(0)
    return None


def check_require(rule: Rule, ctx: Context) -> Outcome:
    utts = _scope(rule, ctx.by(rule.who))
    if not utts:
        return False, True, [], f"no {rule.who} speech in scope"
    stream = Stream.of(utts)
    hit = find_any(stream, rule.phrases, _threshold(rule, ctx))
    if hit:
        return True, True, _ev_hit(stream, hit), f"found {hit.phrase!r} (similarity {hit.score:.2f})"
    ph = _pattern_hit(rule, utts)
    if ph:
        return True, True, [_ev(ph[0], ph[1])], f"found {ph[1]!r} (pattern)"
    return True, False, [_ev(u) for u in utts[:3]], "none of the phrases was said " + \
        _where_text(rule)


def _where_text(rule: Rule) -> str:
    if "first_s" in rule.where:
        return f"in the first {rule.where['first_s']:g} s of {rule.who} speech"
    if "last_s" in rule.where:
        return f"in the last {rule.where['last_s']:g} s of {rule.who} speech"
    return "in the call"


_CLAUSE_END = re.compile(r"[，,。.！!？?；;：:]")


def _neutralised(u: Utterance, match: str, unless: list[str]) -> bool:
    """`unless` words before the match in the same clause (请不要告诉任何人您的密码), or inside
    the match (验证码千万别告诉别人). A negation in an earlier clause does not cancel a
    request (您不要着急，请把密码告诉我)."""
    idx = u.text.find(match)
    head = u.text[: idx if idx >= 0 else len(u.text)]
    clause = _CLAUSE_END.split(head)[-1]
    return any(w in clause + match for w in unless)


def check_forbid(rule: Rule, ctx: Context) -> Outcome:
    utts = ctx.by(rule.who)
    lists = {k: v for k, v in rule.categories.items() if v}
    if not lists and not rule.patterns:
        return False, True, [], "no phrases configured"
    if not utts:
        return False, True, [], f"no {rule.who} speech"
    threshold = _threshold(rule, ctx, FORBID_THRESHOLD)
    evidence: list[Evidence] = []
    said: list[str] = []
    for i, u in enumerate(utts):  # per utterance, so every occurrence is reported ...
        # ... joined with the next one when close, since a pause can split a phrase
        # (这是规定， / 我有什么办法); a hit is reported where it starts
        pair = [u] + [n for n in utts[i + 1:i + 2] if n.start - u.end < PHRASE_JOIN_GAP_S]
        stream = Stream.of(pair)
        for cat, phrases in lists.items():
            for p in phrases:
                hit = find(stream, p, threshold)
                if hit and stream.where[hit.first][0] == 0:
                    ev = _ev_hit(stream, hit, cat)
                    if not any(_neutralised(e_u, e.match, rule.unless)
                               for e, e_u in zip(ev, pair, strict=False)):
                        evidence += ev
                        said.append(p)
                        break
        for p in rule.patterns:
            m = re.search(p, u.text)
            if m and not _neutralised(u, m.group(0), rule.unless) and \
                    not any(e.start == u.start for e in evidence):
                evidence.append(_ev(u, m.group(0), next(iter(lists), "pattern")))
                said.append(m.group(0))
    if evidence:
        return True, False, evidence, "said: " + ", ".join(dict.fromkeys(said))
    return True, True, [], "none said"


def _reply_found(rule: Rule, ctx: Context, after: float, start: float) -> Utterance | None:
    window = [u for u in ctx.by(rule.who)
              if start <= u.start <= after + rule.where.get("within_s", 15)]
    if not window:
        return None
    stream = Stream.of(window)
    hit = find_any(stream, rule.phrases, _threshold(rule, ctx))
    return stream.span(hit)[0][0] if hit else None


def check_reply(rule: Rule, ctx: Context) -> Outcome:
    trig = rule.trigger
    triggers: list[tuple[float, float, Evidence]] = []  # (start, end, evidence)
    if "event" in trig:
        holds = ctx.metrics.holds
        if trig["event"] == "long_hold_end":
            holds = [h for h in holds if h.duration > ctx.settings["hold_apology_s"]]
        triggers = [(h.end, h.end, Evidence(h.start, h.end, "agent", h.text, "", "hold"))
                    for h in holds]
        what = "no hold" if trig["event"] == "hold_end" else "no hold over the apology limit"
    else:
        for u in ctx.by(trig.get("who", "customer")):
            hit = find_any(Stream.of([u]), trig["phrases"], _threshold(rule, ctx))
            if hit:
                match = Stream.of([u]).span(hit)[0][1]
                triggers.append((u.start, u.end, _ev(u, match)))
        what = f"the {trig.get('who', 'customer')} never said {trig['phrases'][0]} or similar"
    if not triggers:
        return False, True, [], what
    missed = [ev for s, e, ev in triggers if _reply_found(rule, ctx, e, s) is None]
    if missed:
        return True, False, missed, f"{len(missed)} of {len(triggers)} without the reply"
    return True, True, [], f"answered all {len(triggers)}"


def _digit_runs(text: str, min_len: int) -> list[str]:
    """Digit strings (order, phone, card numbers); not years, amounts or counts (2023年,
    1500块), which nobody reads back."""
    s = "".join(_CN_DIGITS.get(ch, ch) for ch in text)
    s = re.sub(r"(?<=\d)[\s,，、-](?=\d)", "", s)
    return [r for r in re.findall(r"\d+(?!\d|\.\d|[年元块万千百岁次个天月日多分秒%])", s)
            if len(r) >= min_len]


def check_readback(rule: Rule, ctx: Context) -> Outcome:
    given = [(u, r) for u in ctx.by("customer") for r in _digit_runs(u.text, rule.min_digits)]
    if not given:
        return False, True, [], f"the caller gave no number of {rule.min_digits}+ digits"
    missed = []
    for u, run in given:
        later = [a for a in ctx.by("agent")
                 if u.start <= a.start <= u.end + rule.where.get("within_s", 30)]
        said = [r for a in later for r in _digit_runs(a.text, rule.min_digits)]
        if not any(fuzz.ratio(run, r) >= 80 for r in said):
            missed.append(_ev(u, run))
    if missed:
        return True, False, missed, f"{len(missed)} of {len(given)} numbers not read back"
    return True, True, [], f"all {len(given)} numbers read back"


def check_count(rule: Rule, ctx: Context) -> Outcome:
    utts = ctx.by(rule.who)
    if not utts:
        return False, True, [], f"no {rule.who} speech"
    hits = [(u, p) for u in utts for p in rule.phrases for _ in range(u.text.count(p))]
    minutes = sum(u.end - u.start for u in utts) / 60
    detail = f"{len(hits)} times ({len(hits) / minutes:.1f}/min of speech)" if minutes else ""
    if rule.max_count is None:
        return True, True, [], detail
    # A limit counts requests, not words: 不好意思，听不清，请您再说一遍 is one request
    # with two phrases, and so is one turn that the VAD split into two utterances.
    turns = _turns(ctx.utterances, {id(u) for u, _ in hits})
    detail += f"; {len(turns)} turns (limit {rule.max_count})"
    if len(turns) > rule.max_count:
        return True, False, [_ev(u, p) for u, p in hits], detail
    return True, True, [], detail


def _turns(utts: list[Utterance], marked: set[int]) -> list[list[Utterance]]:
    """Runs of marked utterances, consecutive in the call and under PHRASE_JOIN_GAP_S apart."""
    out: list[list[Utterance]] = []
    prev: Utterance | None = None
    for u in utts:
        if id(u) in marked:
            if out and prev is not None and id(prev) in marked and \
                    u.start - prev.end < PHRASE_JOIN_GAP_S:
                out[-1].append(u)
            else:
                out.append([u])
        prev = u
    return out


def check_manual(rule: Rule, ctx: Context) -> Outcome:
    return False, True, [], "needs a human reviewer: not measurable from the recording yet"


# --- metric checks -------------------------------------------------------------------------
def _span_ev(s: Span, role: str = "") -> Evidence:
    return Evidence(s.start, s.end, role, s.text)


def _m_answer_delay(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    if m.answer_delay_s is None:
        return False, True, [], "the agent never spoke"
    first = next(u for u in ctx.utterances if u.role == "agent")
    ok = m.answer_delay_s <= st["answer_delay_max_s"] and (
        m.rings is None or m.rings <= st["answer_rings_max"])
    rings = f", {m.rings} rings" if m.rings is not None else ""
    ev = [Evidence(m.connect_s, first.start, "agent", first.text)]
    return True, ok, [] if ok else ev, f"{m.answer_delay_s:.1f} s after connect{rings} " \
        f"(norm <= {st['answer_delay_max_s']:g} s)"


def _m_speech_rate(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    lo, hi = st["speech_rate_min_cpm"], st["speech_rate_max_cpm"]
    if m.agent_speech_rate_cpm is None or m.agent_speaking_s < MIN_RATE_SPEECH_S:
        return False, True, [], f"under {MIN_RATE_SPEECH_S:g} s of agent speech"
    rate = m.agent_speech_rate_cpm
    ok = lo <= rate <= hi
    off = [(u, c) for u, c in m.utterance_rates if u.role == "agent" and not lo <= c <= hi]
    off.sort(key=lambda uc: -abs(uc[1] - (lo + hi) / 2))
    ev = [Evidence(u.start, u.end, u.role, u.text, f"{c:.0f} chars/min") for u, c in off[:5]]
    return True, ok, [] if ok else ev, f"{rate:.0f} chars/min (norm {lo:g}-{hi:g})"


def _m_dead_air(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    if not m.agent_spoke and not m.customer_spoke:
        return False, True, [], "nobody spoke"
    reported = [s for s in m.silences if s.duration > st["silence_report_s"]]
    detail = f"longest silence {m.max_silence_s:.1f} s; {len(reported)} over " \
             f"{st['silence_report_s']:g} s, {len(m.dead_air)} dead air over {st['dead_air_s']:g} s"
    return True, not m.dead_air, [_span_ev(s) for s in m.dead_air], detail


def _m_hold_before(rule: Rule, ctx: Context) -> Outcome:
    waits = ctx.metrics.waits
    if not waits:
        return False, True, [], f"no wait of {ctx.settings['hold_min_s']:g} s or more"
    bad = [w for w in waits if w.kind == "wait"]
    return True, not bad, [_span_ev(w, "agent") for w in bad], \
        f"{len(waits) - len(bad)} of {len(waits)} waits announced"


def _m_hold_reminder(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    if not m.holds:
        return False, True, [], "no hold"
    long = [w for w in m.waits if w.kind == "hold" and w.duration > st["hold_reminder_s"]]
    return True, not long, [_span_ev(w, "agent") for w in long], \
        f"{len(long)} stretches of hold over {st['hold_reminder_s']:g} s without a word"


def _m_response_latency(rule: Rule, ctx: Context) -> Outcome:
    m = ctx.metrics
    if not (m.agent_spoke and m.customer_spoke):
        return False, True, [], "needs both parties speaking"
    gaps = m.response_gaps
    return True, not gaps, [_span_ev(g, "agent") for g in gaps], \
        f"{len(gaps)} responses slower than {ctx.settings['response_latency_s']:g} s"


def _m_interruption(rule: Rule, ctx: Context) -> Outcome:
    m = ctx.metrics
    if m.interruptions is None:
        return False, True, [], "mono recording: overlaps cannot be seen"
    if not (m.agent_spoke and m.customer_spoke):
        return False, True, [], "needs both parties speaking"
    return True, not m.interruptions, [_span_ev(s, "agent") for s in m.interruptions], \
        f"{len(m.interruptions)} interruptions"


def _m_volume(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    if m.agent_level_dbfs is None:
        return False, True, [], "the agent never spoke"
    lo, hi = st["volume_min_dbfs"], st["volume_max_dbfs"]
    clip = m.agent_clipping_share or 0.0
    ok = lo <= m.agent_level_dbfs <= hi and clip <= st["clipping_max_share"]
    ev = [] if ok else [_ev(u) for u in ctx.by("agent")
                        if not lo <= u.level_dbfs <= hi][:3]
    return True, ok, ev, f"agent level {m.agent_level_dbfs:.1f} dBFS (band {lo:g} to {hi:g}), " \
        f"clipping {clip:.2%}"


def _m_call_length(rule: Rule, ctx: Context) -> Outcome:
    d, lim = ctx.metrics.duration_s, ctx.settings["call_length_review_s"]
    return True, d <= lim, [], f"{d / 60:.1f} min (review over {lim / 60:g} min)"


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
