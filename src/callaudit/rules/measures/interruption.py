"""`metric: interruption`: the agent starting over the caller (NORMS interruption)."""

from __future__ import annotations

from callaudit.parts import CallMetrics
from callaudit.rules.context import Context, Outcome, not_applicable, outcome, span_evidence
from callaudit.rules.rule import Rule
from callaudit.rules.units import Measure, Row
from callaudit.settings import Settings


def run(rule: Rule, ctx: Context) -> Outcome:
    m = ctx.metrics
    if m.interruptions is None:
        return not_applicable("mono_overlaps")
    if not (m.agent_spoke and m.customer_spoke):
        return not_applicable("both_parties")
    return outcome(not m.interruptions, [span_evidence(s, "agent") for s in m.interruptions],
                   "interruptions", n=len(m.interruptions))


def _value(m: CallMetrics, lang: str) -> str:
    n = m.agent_interruptions
    return "-" if n is None else str(n)


def _norm(st: Settings, m: CallMetrics, lang: str) -> str:
    return "0"


MEASURE = Measure(
    name="interruption", run=run, doc="the agent starting over the caller",
    fails="the agent started over the caller, overlapping long enough, and it was not a "
          "backchannel (short, or only backchannel words: 嗯，好的 / 对对对)",
    not_applicable="mono, or one party never spoke",
    row=Row("interruptions", _value, _norm),
)
