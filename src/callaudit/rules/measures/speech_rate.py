"""`metric: speech_rate`: the agent's syllables per minute of speaking time, by the words
and by the sound (NORMS speech_rate; metrics/timing.py defines both)."""

from __future__ import annotations

from callaudit.parts import CallMetrics
from callaudit.records import Evidence, Utterance
from callaudit.rules.context import Context, Outcome, not_applicable, outcome, scope
from callaudit.rules.rule import Rule
from callaudit.rules.units import Measure, Param, Row
from callaudit.settings import Settings
from callaudit.speech.text import spoken_units
from callaudit.strings import Detail, metric_label


def run(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    lo, hi = st.speech_rate_min_cpm, st.speech_rate_max_cpm
    if "first_s" in rule.where or "last_s" in rule.where:
        return _windowed(rule, ctx)
    if m.agent_speech_rate_cpm is None or m.agent_speaking_s < st.speech_rate_min_speech_s:
        return not_applicable("too_little_speech", seconds=st.speech_rate_min_speech_s)
    rate = m.agent_speech_rate_cpm
    ev = _off_band([(u, c) for u, c in m.utterance_rates if u.role == "agent"], lo, hi)
    heard = m.agent_speech_rate_acoustic_cpm
    if heard and abs(heard - rate) > st.speech_rate_disagree_share * heard and \
            (lo <= rate <= hi) != (lo <= heard <= hi):
        # the transcript and the sound disagree on which side of the norm the agent is
        # (Whisper drops syllables of fast speech): a person listens, nobody is deducted
        agent = [u for u in ctx.by("agent") if u.end - u.start >= st.speech_rate_min_utterance_s]
        return Outcome(True, False, ev or [Evidence(u.start, u.end, u.role, u.text) for u in agent[:3]],
                       Detail("rate_disagree", {"rate": rate, "heard": heard, "low": lo, "high": hi}))
    return outcome(lo <= rate <= hi, ev, "speech_rate", rate=rate, low=lo, high=hi)


def _windowed(rule: Rule, ctx: Context) -> Outcome:
    """The rate over the agent's first / last seconds of speech only (the rule's `where`),
    by the words: the sound's count is kept for the whole call."""
    st = ctx.settings
    lo, hi = st.speech_rate_min_cpm, st.speech_rate_max_cpm
    agent = [u for u in scope(rule, [u for u in ctx.utterances if u.role == "agent"]) if u.end > u.start]
    speaking = sum(u.end - u.start for u in agent)
    if speaking < st.speech_rate_min_speech_s:
        return not_applicable("too_little_speech", seconds=st.speech_rate_min_speech_s)
    rate = sum(spoken_units(u.text) for u in agent) * 60 / speaking
    ev = _off_band([(u, spoken_units(u.text) * 60 / (u.end - u.start)) for u in agent
                    if u.end - u.start >= st.speech_rate_min_utterance_s], lo, hi)
    return outcome(lo <= rate <= hi, ev, "speech_rate", rate=rate, low=lo, high=hi)


def _off_band(rates: list[tuple[Utterance, float]], lo: float, hi: float) -> list[Evidence]:
    """The five utterances whose own rate lies furthest outside the band, as evidence."""
    off = sorted([(u, c) for u, c in rates if not lo <= c <= hi], key=lambda uc: -abs(uc[1] - (lo + hi) / 2))
    return [Evidence(u.start, u.end, u.role, u.text, f"{c:.0f}/min") for u, c in off[:5]]


def _value(m: CallMetrics, lang: str) -> str:
    v = m.agent_speech_rate_cpm
    out = "-" if v is None else f"{v:.0f} /min"
    heard = m.agent_speech_rate_acoustic_cpm
    if heard is not None:  # syllables heard in the audio
        out += f" ({metric_label('heard', lang)} {heard:.0f})"
    return out


def _norm(st: Settings, m: CallMetrics, lang: str) -> str:
    return f"{st.speech_rate_min_cpm:g}–{st.speech_rate_max_cpm:g} /min"


MEASURE = Measure(
    name="speech_rate", run=run, windowed=True,
    doc="the agent's syllables per minute of speaking time",
    params=(Param("min_cpm", "slowest rate", "characters/min", "speech_rate_min_cpm", low=0),
            Param("max_cpm", "fastest rate", "characters/min", "speech_rate_max_cpm", low=0),
            Param("min_speech_s", "agent speech below which no rate is judged", "s",
                  "speech_rate_min_speech_s", low=0)),
    fails="the agent's rate is outside the band (by the words and the sound on opposite sides "
          "of it: needs review); with `where: {first_s}` or `{last_s}` the rate of that part, by the words",
    not_applicable="under `min_speech_s` of agent speech",
    row=Row("speech_rate", _value, _norm),
)
