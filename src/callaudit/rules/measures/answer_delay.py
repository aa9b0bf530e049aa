"""`metric: answer_delay`: from connect to the agent's first words (NORMS answer_delay)."""

from __future__ import annotations

from callaudit.parts import CallMetrics
from callaudit.records import Evidence
from callaudit.rules.context import Context, Outcome, not_applicable, outcome
from callaudit.rules.rule import Rule
from callaudit.rules.units import Measure, Param, Row
from callaudit.settings import Settings
from callaudit.strings import metric_label


def run(rule: Rule, ctx: Context) -> Outcome:
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


def _value(m: CallMetrics, lang: str) -> str:
    v = m.answer_delay_s
    return "-" if v is None else f"{v:.1f} s"


def _norm(st: Settings, m: CallMetrics, lang: str) -> str:
    rings = f", ≤ {st.answer_rings_max:g} {metric_label('rings', lang)}" if m.rings else ""
    return f"≤ {st.answer_delay_max_s:g} s{rings}"


MEASURE = Measure(
    name="answer_delay", run=run, doc="seconds from connect to the agent's first speech",
    params=(Param("max_s", "the longest answer delay", "s", "answer_delay_max_s", low=0),
            Param("max_rings", "ringback bursts before the answer, when recorded", "",
                  "answer_rings_max", low=0, whole=True)),
    fails="first agent speech later than the limit after connect, or too many rings",
    not_applicable="the agent never spoke",
    row=Row("answer_delay", _value, _norm),
)
