"""Score = 100 minus the deductions of failed findings; a fatal failure fails the call.

Reproducible from the JSON: sum `deduction` over `findings`, per `section` for `sections`.
"""

from __future__ import annotations

from dataclasses import dataclass

from callaudit.records import Finding


@dataclass
class Score:
    score: float
    passed: bool
    fatal: bool
    sections: dict[str, float]  # points deducted per scorecard section


def score(findings: list[Finding], sections: list[str], pass_mark: float) -> Score:
    lost = {s: 0.0 for s in sections}
    for f in findings:
        lost[f.section] = lost.get(f.section, 0.0) + f.deduction
    total = max(0.0, 100.0 - sum(lost.values()))
    fatal = any(f.applicable and not f.passed and f.severity == "fatal" for f in findings)
    return Score(round(total, 1), (not fatal) and total >= pass_mark, fatal,
                 {k: round(v, 1) for k, v in lost.items()})
