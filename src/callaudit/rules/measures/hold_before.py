"""`metric: hold_before`: a wait the agent announced (NORMS hold_before)."""

from __future__ import annotations

from callaudit.parts import CallMetrics
from callaudit.rules.context import Context, Outcome, not_applicable, outcome, span_evidence
from callaudit.rules.rule import Rule
from callaudit.rules.units import Measure, Row
from callaudit.settings import Settings


def run(rule: Rule, ctx: Context) -> Outcome:
    waits = ctx.metrics.waits
    if not waits:
        return not_applicable("no_wait", seconds=ctx.settings.hold_min_s)
    bad = [w for w in waits if w.kind == "wait"]
    return outcome(not bad, [span_evidence(w, "agent") for w in bad], "waits_announced",
                   announced=len(waits) - len(bad), total=len(waits))


def _value(m: CallMetrics, lang: str) -> str:
    return str(len(m.holds))


def _norm(st: Settings, m: CallMetrics, lang: str) -> str:
    return ""


MEASURE = Measure(
    name="hold_before", run=run, doc="waits of `hold_min_s`+ announced before",
    fails="a wait of `hold_min_s`+ (agent speaks next) was not announced",
    not_applicable="no such wait",
    row=Row("holds", _value, _norm),
)
