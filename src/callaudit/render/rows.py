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
from typing import Any

from callaudit.rules.measures import MEASURES
from callaudit.rules.pack import RulePack, load
from callaudit.settings import Settings
from callaudit.strings import finding_detail, label, metric_label


@dataclass(frozen=True)
class Norms:
    settings: Settings
    sections: dict[str, dict[str, str]]
    rules: str  # the pack's fingerprint
    recorded: bool  # False: the result did not say; the default pack is shown


@lru_cache(maxsize=1)
def _default_pack() -> RulePack:
    return load()


def norms_of(result: dict[str, Any]) -> Norms:
    """The norms a result was judged with (see the module docstring)."""
    jw = result.get("judged_with") or {}
    if jw.get("settings"):
        # laid over the default's, so a setting added after the result was stored has a value
        settings = Settings.from_mapping({**_default_pack().settings.to_json(), **jw["settings"]})
        return Norms(settings, jw.get("sections") or {}, jw.get("rules", ""), True)
    pack = _default_pack()
    return Norms(pack.settings, pack.sections, pack.fingerprint(), False)


def detail(f: dict[str, Any], lang: str) -> str:
    return finding_detail(f, lang)


def section_name(key: str, norms: Norms, lang: str) -> str:
    return norms.sections.get(key, {}).get(lang, key)


@dataclass(frozen=True)
class MetricRow:
    key: str
    label: str
    value: str
    norm: str
    verdict: str  # pass | fail | na ("" when no rule judges it)


def metric_rows(result: dict[str, Any], norms: Norms, lang: str) -> list[MetricRow]:
    """The key metrics against their norms, as the terminal and the call page show them: one
    row per metric that declares one (rules/measures/), judged by the rule of that metric."""
    m = result["metrics"]
    by_metric: dict[str, str] = {}
    for r in _default_pack().rules:
        if r.check == "metric":
            by_metric.setdefault(r.metric, r.id)
    by_rule = {f["rule"]: f for f in result["findings"]}
    out = []
    for measure in MEASURES.values():
        row = measure.row
        if row is None:
            continue
        f = by_rule.get(by_metric.get(measure.name, measure.name))
        verdict = "" if f is None else "na" if not f["applicable"] else \
            "pass" if f["passed"] else "fail"
        out.append(MetricRow(row.key, metric_label(row.key, lang), row.value(m, lang),
                             row.norm(norms.settings, m, lang), verdict))
    return out


def talk_ratio(result: dict[str, Any], lang: str) -> str:
    ratio = result["metrics"].get("talk_ratio") or {}
    names = {"agent": label("agent", lang), "customer": label("customer", lang),
             "silence": label("silence", lang)}
    return " / ".join(f"{names.get(k, k)} {v:.0%}" for k, v in ratio.items())
