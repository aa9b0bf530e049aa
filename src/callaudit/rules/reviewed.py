"""The score of a call after people reviewed its findings (复核) and decided its appeals (申诉).

The machine's score stays as it was; this one is computed from the same findings with each
person's verdict applied, by the same rule as rules/score.py (100 minus deductions, a fatal
failure fails the call):
- overturned or not_applicable: the finding deducts nothing and is not fatal;
- confirmed: the machine's deduction stands; a finding that needed review (who spoke was
  unsure, so it deducted 0 and could not be fatal) now deducts its rule's points at its
  rule's severity, since a person heard who said it;
- unreviewed: as the machine judged it (a finding needing review still deducts nothing);
- a missed finding a reviewer added deducts its rule's points, once per rule, unless the
  machine's own failure of that rule already stands, or the finding was overturned since
  (an appeal decided for the agent).
A rule's points and severity come from the rule pack in force (the server's --rules); a
rule that pack does not have deducts nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from callaudit.records import CallResult, Finding
from callaudit.rules.pack import RulePack
from callaudit.rules.score import Score, score


def reviewed_score(result: CallResult, states: Mapping[str, str], missed: Iterable[str],
                   pack: RulePack) -> Score:
    """Score of a call's `result` with `states` (rule -> confirmed | overturned |
    not_applicable: the standing review of that rule's finding) and the rule ids of `missed`
    findings added by reviewers."""
    pass_mark = float(result.judged_with.settings.get("pass_mark", pack.settings.pass_mark))
    sections = list(result.judged_with.sections or pack.sections)
    return score(standing_failures(result, states, missed, pack), sections, pass_mark)


def standing_failures(result: CallResult, states: Mapping[str, str], missed: Iterable[str],
                      pack: RulePack) -> list[Finding]:
    """The failed findings that stand after review (arguments as `reviewed_score`'s), each
    with the deduction and severity it counts with: the machine's failures not overturned,
    then the missed findings that deduct, in the order they were added. What a page shows
    as failed after review (a fatal one among them: the call fails as fatal)."""
    rules = {r.id: r for r in pack.rules}
    kept: list[Finding] = []
    standing: set[str] = set()  # rules whose failure stands after review
    for f in result.findings:
        failed = bool(f.applicable) and not f.passed
        state = states.get(f.rule)
        if not failed or state in ("overturned", "not_applicable"):
            continue
        deduction, severity = float(f.deduction), str(f.severity)
        if state == "confirmed" and f.review:
            rule = rules.get(f.rule)
            deduction, severity = (rule.deduction, rule.severity) if rule else (0.0, "info")
        standing.add(f.rule)
        kept.append(_failed(f.rule, f.section, severity, deduction))
    for rid in dict.fromkeys(missed):
        rule = rules.get(rid)
        if rule and rid not in standing and states.get(rid) not in ("overturned", "not_applicable"):
            standing.add(rid)
            kept.append(_failed(rid, rule.section, rule.severity, rule.deduction))
    return kept


def _failed(rule: str, section: str, severity: str, deduction: float) -> Finding:
    return Finding(rule=rule, section=section, severity=severity,  # type: ignore[arg-type]
                   applicable=True, passed=False, deduction=deduction, message="")
