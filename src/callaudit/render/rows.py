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


def _fmt(v: float | None, unit: str, nd: int = 1) -> str:
    return "-" if v is None else f"{v:.{nd}f} {unit}".strip()


def metric_rows(result: dict[str, Any], norms: Norms, lang: str) -> list[MetricRow]:
    """The key metrics against their norms, as the terminal and the call page show them."""
    m, st = result["metrics"], norms.settings
    rings = f", ≤ {st.answer_rings_max:g} {metric_label('rings', lang)}" if m.get("rings") else ""
    interruptions = m.get("agent_interruptions")
    rate = _fmt(m.get("agent_speech_rate_cpm"), "/min", 0)
    if m.get("agent_speech_rate_acoustic_cpm") is not None:  # syllables heard in the audio
        rate += f" ({metric_label('heard', lang)} {m['agent_speech_rate_acoustic_cpm']:.0f})"
    rows = [
        ("answer_delay", _fmt(m.get("answer_delay_s"), "s"),
         f"≤ {st.answer_delay_max_s:g} s{rings}", "answer_delay"),
        ("speech_rate", rate,
         f"{st.speech_rate_min_cpm:g}–{st.speech_rate_max_cpm:g} /min", "speech_rate"),
        ("max_silence", _fmt(m.get("max_silence_s"), "s"),
         f"{metric_label('dead_air_over', lang)} {st.dead_air_s:g} s", "dead_air"),
        ("holds", str(len(m.get("holds") or [])), "", "hold_before"),
        ("interruptions", "-" if interruptions is None else str(interruptions), "0", "interruption"),
        ("agent_level", _fmt(m.get("agent_level_dbfs"), "dBFS"),
         f"{st.volume_min_dbfs:g} {metric_label('to', lang)} {st.volume_max_dbfs:g} dBFS", "volume"),
    ]
    by_rule = {f["rule"]: f for f in result["findings"]}
    out = []
    for key, value, norm, rule in rows:
        f = by_rule.get(rule)
        verdict = "" if f is None else "na" if not f["applicable"] else \
            "pass" if f["passed"] else "fail"
        out.append(MetricRow(key, metric_label(key, lang), value, norm, verdict))
    return out


def talk_ratio(result: dict[str, Any], lang: str) -> str:
    ratio = result["metrics"].get("talk_ratio") or {}
    names = {"agent": label("agent", lang), "customer": label("customer", lang),
             "silence": label("silence", lang)}
    return " / ".join(f"{names.get(k, k)} {v:.0%}" for k, v in ratio.items())
