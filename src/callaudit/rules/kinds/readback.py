"""`check: readback`: every number the caller gives is repeated by the agent."""

from __future__ import annotations

from rapidfuzz import fuzz

from callaudit.rules.context import Context, Outcome, evidence_of, not_applicable, outcome
from callaudit.rules.rule import Rule
from callaudit.rules.units import Kind, Param
from callaudit.speech.numbers import NumberSaid, numbers_said

WITHIN = Param("within_s", "how long after the caller's number the agent may read it back "
               "(`where.within_s`)", unit="s", default=30, low=0)


def _read_back(n: NumberSaid, said: list[str], min_len: int, alike: float) -> bool:
    """The number is among what the agent said: whole, or (two numbers said in a row, 订单号
    2024001。/ 13812345678。) each part of it long enough to be a number of its own."""
    def heard(digits: str) -> bool:
        return any(fuzz.ratio(digits, r) >= alike * 100 for r in said)

    if heard(n.digits):
        return True
    long = [p for p in n.parts if len(p) >= min_len]
    return len(n.parts) > 1 and bool(long) and all(heard(p) for p in long)


def check(rule: Rule, ctx: Context) -> Outcome:
    gap = ctx.settings.number_join_gap_s
    given = numbers_said(ctx.by("customer"), rule.min_digits, gap)
    if not given:
        return not_applicable("no_number", digits=rule.min_digits)
    agent = numbers_said(ctx.by("agent"), rule.min_digits, gap)
    within = float(rule.param(WITHIN.name, WITHIN.default or 0))
    missed = []
    for n in given:
        said = [a.digits for a in agent if n.utterance.start <= a.utterance.start <= n.end + within]
        if not _read_back(n, said, rule.min_digits, ctx.settings.readback_similarity):
            missed.append(evidence_of(n.utterance, n.digits))
    if missed:
        return outcome(False, missed, "not_read_back", missed=len(missed), total=len(given))
    return outcome(True, [], "read_back", total=len(given))


KIND = Kind(
    name="readback", run=check, judges_words="presence", params=(WITHIN,),
    fields=("min_digits", "where"),
    doc="numbers the caller gives, read back",
    passes="every number of `min_digits`+ digits the caller gives is repeated by the agent "
           "within `within_s` (years, amounts and counts such as 2023年, 1500块 are not numbers "
           "to read back)",
    not_applicable="the caller gave no number",
)
