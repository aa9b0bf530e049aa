"""What every renderer shows of a result, computed once: the norms it was judged with, the
metric rows against those norms, and findings' messages and details in the reader's language.

A result carries its own norms (`judged_with`: the rule pack's fingerprint, settings,
sections and messages), so a call scored with a center's pack is shown against that pack,
not the default. Results stored before they carried it are shown against the default pack,
with a note saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from callaudit.records import CallResult, Finding
from callaudit.rules.measures import MEASURES
from callaudit.rules.pack import RulePack, load
from callaudit.settings import Settings
from callaudit.strings import LANGS, label, listed, metric_label, mmss


@dataclass(frozen=True)
class Norms:
    settings: Settings
    sections: dict[str, dict[str, str]]
    rules: str  # the pack's fingerprint
    recorded: bool  # False: the result did not say; the default pack is shown


@lru_cache(maxsize=1)
def _default_pack() -> RulePack:
    return load()


def norms_of(result: CallResult) -> Norms:
    """The norms a result was judged with (see the module docstring)."""
    jw = result.judged_with
    if jw.settings:
        # laid over the default's, so a setting added after the result was stored has a value
        settings = Settings.from_mapping({**_default_pack().settings.to_json(), **jw.settings})
        return Norms(settings, jw.sections, jw.rules, True)
    pack = _default_pack()
    return Norms(pack.settings, pack.sections, pack.fingerprint(), False)


def verdict(f: Finding) -> str:
    """pass, fail, or na (the rule did not apply)."""
    return "na" if not f.applicable else "pass" if f.passed else "fail"


def section_name(key: str, norms: Norms, lang: str) -> str:
    return norms.sections.get(key, {}).get(lang, key)


@dataclass(frozen=True)
class MetricRow:
    key: str
    label: str
    value: str
    norm: str
    verdict: str  # pass | fail | na ("" when no rule judges it)


def metric_rows(result: CallResult, norms: Norms, lang: str) -> list[MetricRow]:
    """The key metrics against their norms, as the terminal and the call page show them: one
    row per metric that declares one (rules/measures/), judged by the rule of that metric."""
    m = result.metrics
    by_metric: dict[str, str] = {}
    for r in _default_pack().rules:
        if r.check == "metric":
            by_metric.setdefault(r.metric, r.id)
    by_rule = {f.rule: f for f in result.findings}
    out = []
    for measure in MEASURES.values():
        row = measure.row
        if row is None:
            continue
        f = by_rule.get(by_metric.get(measure.name, measure.name))
        out.append(MetricRow(row.key, metric_label(row.key, lang), row.value(m, lang),
                             row.norm(norms.settings, m, lang), "" if f is None else verdict(f)))
    return out


def talk_ratio(result: CallResult, lang: str) -> str:
    ratio = result.metrics.talk_ratio or {}
    names = {"agent": label("agent", lang), "customer": label("customer", lang),
             "silence": label("silence", lang)}
    return " / ".join(f"{names.get(k, k)} {v:.0%}" for k, v in ratio.items())


def _zh(lang: str) -> bool:
    return (lang if lang in LANGS else "zh") == "zh"


def privacy_line(result: CallResult, lang: str) -> str:
    """What personal data the call's words held and whether the text is masked, one line
    ('' when none): 个人信息：手机号 2、身份证号 1（已遮蔽）."""
    p = result.privacy
    if p is None or not p.counts:
        return ""
    lg = "zh" if _zh(lang) else "en"
    sep, (o, c) = ("、", "（）") if lg == "zh" else (", ", "()")
    held = sep.join(f"{(p.labels.get(t) or {}).get(lg) or t} {n}" for t, n in p.counts.items())
    state = label("masked" if p.redacted else "not_masked", lang)
    return f"{label('personal_data', lang)}{'：' if lg == 'zh' else ': '}{held}{o}{state}{c}"


def not_party_line(result: CallResult, lang: str) -> str:
    """Sound on a party's channel that was not that party, one line ('' when none):
    not the party: system audio 00:00–00:06 (prompt); echo 00:01–00:05, 00:09–00:11 …"""
    kinds: dict[str, list[str]] = {}
    for n in result.not_party:
        extra = f" ({n.label})" if n.label != n.kind else ""
        kinds.setdefault(n.kind, []).append(f"{mmss(n.start)}–{mmss(n.end)}{extra}")
    if not kinds:
        return ""
    zh = _zh(lang)
    text = listed({label(k, lang): v for k, v in kinds.items()}, "；" if zh else "; ")
    return f"{label('not_party', lang)}{'：' if zh else ': '}{text}"


def roles_reason(result: CallResult, lang: str) -> str:
    """How the agent was told apart, in `lang` (as stored when the result has no key)."""
    why = result.roles_why
    return why.in_lang(lang) if why is not None and why.key else result.roles_reason


def layout_reason(result: CallResult, lang: str) -> str:
    """Which channels were audited and why, in `lang` ("" when the result does not say)."""
    return result.layout.why.in_lang(lang) if result.layout else ""


def outcome_reason(result: CallResult, lang: str) -> str:
    """Why a call was not audited (no speech, never connected), in `lang`; "" otherwise."""
    return result.outcome_why.in_lang(lang) if result.outcome_why else ""
