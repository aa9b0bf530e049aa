"""`check: manual`: a norm no recording can show; reported for a person, never judged."""

from __future__ import annotations

from callaudit.rules.context import Context, Outcome, not_applicable
from callaudit.rules.rule import Rule
from callaudit.rules.units import Kind


def check(rule: Rule, ctx: Context) -> Outcome:
    return not_applicable("manual")


KIND = Kind(name="manual", run=check, doc="a norm a person checks",
            passes="never evaluated automatically",
            not_applicable="always (reported for a human reviewer)")
