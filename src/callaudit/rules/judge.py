"""Judgement: what was heard and measured in, metrics, findings and score out.

This is the part of an audit that a new rule pack re-runs (results/rescore.py): it needs
the utterances with their roles, the VAD regions and the acoustics, never the audio or the
model. One Finding per enabled rule; a failure whose speaker is unsure, or whose words the
recognizer may have misheard (rules/doubt.py), is "needs review" (no points, never fatal),
so no agent is blamed for what the caller may have said or Whisper did not hear.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from callaudit.metrics.acoustics import Acoustics
from callaudit.metrics.timing import Metrics, compute
from callaudit.parts import JudgedWith, Separation
from callaudit.records import Finding, Region, Utterance
from callaudit.rules.context import Context, Outcome, when_fails
from callaudit.rules.doubt import confidence_of, doubt
from callaudit.rules.kinds import KINDS
from callaudit.rules.pack import RulePack
from callaudit.rules.score import Score, score
from callaudit.settings import Settings
from callaudit.strings import detail_text


@dataclass
class Judgement:
    metrics: Metrics
    findings: list[Finding]
    score: Score


def judge(pack: RulePack, acoustics: Acoustics, regions: list[Region], utts: list[Utterance],
          stereo: bool, lang: str = "zh", unsure: str = "",
          unheard: list[Utterance] | None = None, system: list[Utterance] | None = None,
          ) -> Judgement:
    """Metrics, findings and score of a call. `regions` exclude ringback bursts; `utts` are
    sorted by start and carry their roles; `stereo` is False for a mono call audited with
    roles from words; `unsure`: who spoke is unsure, the review id of the failures that depend
    on it (speakers_unsure; "" when sure);
    `unheard`: speech regions with no words (text "", with their roles; rules/doubt.py);
    `system`: the words of system prompts as the agent's, which credit only the rules in
    settings.system_credits (speech/system.py)."""
    metrics = compute(acoustics, regions, utts, stereo, pack.settings)
    findings = evaluate(pack, Context(utts, metrics, pack.settings, mono=not stereo, lang=lang,
                                      unsure_speakers=unsure, unheard=unheard or [],
                                      system=system or []))
    return Judgement(metrics, findings, score(findings, list(pack.sections),
                                              pack.settings.pass_mark))


def evaluate(pack: RulePack, ctx: Context) -> list[Finding]:
    """One Finding per enabled rule of `pack`, in pack order."""
    findings = []
    credited = replace(ctx, utterances=sorted(ctx.utterances + ctx.system,
                                              key=lambda u: (u.start, u.channel)))
    for rule in pack.enabled_rules:
        c = credited if ctx.system and rule.id in ctx.settings.system_credits else ctx
        out: Outcome = when_fails(rule, c.metrics) or KINDS[rule.check].run(rule, c)
        failed = out.applicable and not out.passed
        severity = rule.severity
        deduction = rule.deduction if failed else 0.0
        review_id = ""
        if failed and severity == "fatal" and out.evidence and \
                all(e.role == "unknown" for e in out.evidence):
            # Mono without separation: we cannot tell who said it, so no fatal verdict and
            # no points taken (a 100-point deduction would fail the call all the same):
            # the finding stays failed, for a reviewer.
            severity, review_id = "major", "review_unknown_speaker"
        elif failed and ctx.unsure_speakers and rule.who != "any":
            # the speakers may be swapped or mixed: never blame the agent for what the caller
            # may have said; a person decides
            severity, review_id = ("major" if severity == "fatal" else severity), ctx.unsure_speakers
        if failed and not review_id:
            review_id = doubt(rule, out, ctx)  # the recognizer may have misheard
            if review_id and severity == "fatal":
                severity = "major"
        if review_id:
            deduction = 0.0
        detail = out.detail.text(ctx.lang)
        if review_id:
            detail += "; " + detail_text(review_id, {}, ctx.lang)
        findings.append(Finding(
            rule=rule.id, section=rule.section, severity=severity, applicable=out.applicable,
            passed=out.passed if out.applicable else True, deduction=deduction,
            message=rule.text(ctx.lang, ctx.settings), evidence=out.evidence, detail=detail,
            detail_id=out.detail.key, detail_args=out.detail.args,
            review_id=review_id, confidence=confidence_of(out.evidence, ctx),
        ))
    _once(pack, findings, ctx.lang)
    return findings


def _once(pack: RulePack, findings: list[Finding], lang: str) -> None:
    """One fault, one deduction: when two rules that judge what was said (forbid, count)
    quote the same words of one utterance (a phrase on two lists), the larger deduction
    stands and the other finding, still failed, deducts nothing and says under which rule
    it was counted."""
    kinds = {r.id: r.check for r in pack.enabled_rules}
    failed = sorted((f for f in findings if f.applicable and not f.passed and f.deduction > 0
                     and kinds.get(f.rule) in ("forbid", "count")),
                    key=lambda f: -f.deduction)  # stable: pack order among equals
    for i, f in enumerate(failed):
        for g in failed[:i]:
            if g.deduction > 0 and _same_words(f, g):
                f.deduction = 0.0
                f.detail += "; " + detail_text("counted_under", {"rule": g.rule}, lang)
                break


def _same_words(a: Finding, b: Finding) -> bool:
    return any(round(x.start, 2) == round(y.start, 2) and x.match and y.match
               and (x.match in y.match or y.match in x.match)
               for x in a.evidence for y in b.evidence)


def speakers_unsure(separation: Separation | None, roles_sure: bool, settings: Settings) -> str:
    """Why a failure that depends on who spoke must go to a person, as a review id, or "":
    two speakers were separated, but not confidently enough to blame either one
    (review_separation), or the cues that make one side the agent were too weak against who
    spoke first (review_roles; speech/roles.py)."""
    if separation is not None and separation.speakers == 2 and \
            (separation.confidence or 0.0) < settings.separation_min_confidence:
        return "review_separation"
    return "" if roles_sure else "review_roles"


def judged_with(pack: RulePack) -> JudgedWith:
    """What a result must carry to be shown against its own norms: the pack's fingerprint,
    its effective settings, section names, and every rule's message in both languages."""
    return JudgedWith(pack.fingerprint(), pack.settings.to_json(), pack.sections,
                      {r.id: r.messages(pack.settings) for r in pack.enabled_rules})
