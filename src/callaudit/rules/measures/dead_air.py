"""`metric: dead_air`: a silence nobody announced (NORMS dead_air)."""

from __future__ import annotations

from callaudit.parts import CallMetrics
from callaudit.rules.context import Context, Outcome, not_applicable, outcome, span_evidence
from callaudit.rules.rule import Rule
from callaudit.rules.units import Measure, Row
from callaudit.settings import Settings
from callaudit.strings import metric_label


def run(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    if not m.agent_spoke and not m.customer_spoke:
        return not_applicable("nobody_spoke")
    reported = [s for s in m.silences if s.duration > st.silence_report_s]
    return outcome(not m.dead_air, [span_evidence(s) for s in m.dead_air], "dead_air",
                   longest=m.max_silence_s, reported=len(reported), report_s=st.silence_report_s,
                   dead=len(m.dead_air), dead_s=st.dead_air_s)


def _value(m: CallMetrics, lang: str) -> str:
    v = m.max_silence_s
    return "-" if v is None else f"{v:.1f} s"


def _norm(st: Settings, m: CallMetrics, lang: str) -> str:
    return f"{metric_label('dead_air_over', lang)} {st.dead_air_s:g} s"


MEASURE = Measure(
    name="dead_air", run=run, doc="silences that are not an announced hold",
    fails="a silence over `dead_air_s` that is not an announced hold, nor the caller's after "
          "they said they would look for something (我找一下)",
    not_applicable="nobody spoke",
    row=Row("max_silence", _value, _norm),
)
