"""`metric: hold_reminder`: the agent speaks during a long hold (NORMS hold_reminder)."""

from __future__ import annotations

from callaudit.rules.context import Context, Outcome, not_applicable, outcome, span_evidence
from callaudit.rules.rule import Rule
from callaudit.rules.units import Measure, Param


def run(rule: Rule, ctx: Context) -> Outcome:
    m, st = ctx.metrics, ctx.settings
    if not m.holds:
        return not_applicable("no_hold")
    long = [w for w in m.waits if w.kind == "hold" and w.duration > st.hold_reminder_s]
    return outcome(not long, [span_evidence(w, "agent") for w in long], "hold_reminder",
                   n=len(long), seconds=st.hold_reminder_s)


MEASURE = Measure(
    name="hold_reminder", run=run, doc="hold silences longer than the reminder interval",
    params=(Param("reminder_s", "the longest hold silence without a word", "s",
                  "hold_reminder_s", low=0),),
    fails="a hold silence longer than the reminder interval",
    not_applicable="no hold",
)
