"""`audit rules test`: every rule's examples (rules/examples.py) judged as the pipeline
would judge them, minus ASR: each line is a VAD region and an utterance, the agent's level
is the energy mean of its lines' levels. A disabled rule is run as if it were enabled,
alone, so its examples still prove it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from callaudit.audio.levels import mean_dbfs
from callaudit.metrics.acoustics import Acoustics
from callaudit.records import Finding, Region
from callaudit.rules.examples import BUCKETS, examples_of, parse
from callaudit.rules.judge import judge
from callaudit.rules.pack import RulePack


@dataclass
class ExampleFailure:
    rule: str
    bucket: str  # fail | pass | na
    index: int  # from 0 within the bucket, as in the test ids (greeting-fail-0)
    line: int  # the rule's line in its YAML file
    expected: str  # pass | fail | n/a
    got: str  # pass | fail | n/a, or "error" when the example cannot run
    detail: str

    def __str__(self) -> str:
        return (f"line {self.line}: rule {self.rule!r}: {self.bucket} example {self.index}: "
                f"expected {self.expected}, got {self.got} ({self.detail})")



def verdict(f: Finding) -> str:
    return "n/a" if not f.applicable else "pass" if f.passed else "fail"


def run(pack: RulePack, rule_id: str, example: Any, lang: str = "en") -> Finding:
    """The finding of rule `rule_id` on `example`: the rule alone, enabled, with the pack's
    settings (KeyError for an unknown rule, ValueError for a bad example)."""
    rule = next((r for r in pack.rules if r.id == rule_id), None)
    if rule is None:
        raise KeyError(f"no rule {rule_id!r} in the pack")
    ex = parse(example)
    alone = dataclasses.replace(pack, rules=[dataclasses.replace(rule, enabled=True)])
    utts = ex.utterances
    agent = [u for u in utts if u.role == "agent"]
    level = mean_dbfs([(u.end - u.start, u.level_dbfs) for u in agent])
    duration = ex.duration_s if ex.duration_s is not None else \
        max((u.end for u in utts), default=0.0) + 2.0
    ac = Acoustics(duration, ex.rings, ex.connect_s, level, ex.clipping if agent else None)
    regions = [Region(u.channel, u.start, u.end, u.level_dbfs) for u in utts]
    return judge(alone, ac, regions, utts, ex.stereo, lang=lang).findings[0]


def check_examples(pack: RulePack, lang: str = "en") -> list[ExampleFailure]:
    """Every example of every rule (disabled ones too) whose verdict is not the expected one."""
    out: list[ExampleFailure] = []
    for rule in pack.rules:
        for bucket, i, ex in examples_of(rule.examples):
            want = BUCKETS[bucket]
            try:
                f = run(pack, rule.id, ex, lang)
            except ValueError as e:
                out.append(ExampleFailure(rule.id, bucket, i, rule.line, want, "error", str(e)))
                continue
            if verdict(f) != want:
                out.append(ExampleFailure(rule.id, bucket, i, rule.line, want, verdict(f),
                                          f.detail))
    return out
