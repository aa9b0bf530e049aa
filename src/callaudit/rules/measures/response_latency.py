"""`metric: response_latency`: how long the caller waits for the agent's answer (NORMS
response_latency)."""

from __future__ import annotations

from callaudit.rules.context import Context, Outcome, not_applicable, outcome, span_evidence
from callaudit.rules.rule import Rule
from callaudit.rules.units import Measure


def run(rule: Rule, ctx: Context) -> Outcome:
    m = ctx.metrics
    if not (m.agent_spoke and m.customer_spoke):
        return not_applicable("both_parties")
    gaps = m.response_gaps
    return outcome(not gaps, [span_evidence(g, "agent") for g in gaps], "slow_responses",
                   n=len(gaps), seconds=ctx.settings.response_latency_s)


MEASURE = Measure(
    name="response_latency", run=run, doc="the agent's answers slower than `response_latency_s`",
    fails="the agent took longer to answer the caller (holds excluded)",
    not_applicable="one party never spoke",
)
