"""`metric: call_length`: a long call, for review (NORMS call_length)."""

from __future__ import annotations

from callaudit.rules.context import Context, Outcome, outcome
from callaudit.rules.rule import Rule
from callaudit.rules.units import Measure, Param


def run(rule: Rule, ctx: Context) -> Outcome:
    d, lim = ctx.metrics.duration_s, ctx.settings.call_length_review_s
    return outcome(d <= lim, [], "call_length", minutes=d / 60, limit=lim)


MEASURE = Measure(
    name="call_length", run=run, doc="the call's length",
    params=(Param("review_s", "calls longer than this are flagged", "s", "call_length_review_s",
                  low=0),),
    fails="the call is longer (informational, no deduction)", not_applicable="never",
)
