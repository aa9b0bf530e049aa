"""One rule of a pack, as validated from its YAML (docs/RULES.md lists the fields)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from callaudit.settings import Settings
from callaudit.strings import format_message


@dataclass
class Rule:
    """One rule of a pack, as validated from its YAML (docs/RULES.md lists the fields).

    `check` names the kind (require, forbid, reply, count, readback, metric, manual,
    condition: rules/kinds/); a failed rule deducts `deduction` points from its `section`,
    and a `fatal` one fails the call whatever the score. `message` is the finding's text by
    language ({zh, en}), `source` the norm it implements (NORMS.md ids), `examples` its own
    pass/fail transcripts (`audit rules test` runs them). `line`/`origin`: where it was written."""

    id: str
    section: str
    severity: str
    deduction: float
    check: str
    message: dict[str, str]
    source: str = ""
    who: str = "agent"
    phrases: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    allow: list[str] = field(default_factory=list)  # forbid: courteous phrases that hold one
    script: str = ""  # require: also credited by a whole script of settings (opening|closing)
    unless: list[str] = field(default_factory=list)
    where: dict[str, float] = field(default_factory=dict)
    when: dict[str, bool] = field(default_factory=dict)
    trigger: dict[str, Any] = field(default_factory=dict)
    metric: str = ""
    threshold: float | None = None
    enabled: bool = True
    min_digits: int = 4
    max_count: int | None = None
    examples: dict[str, list[Any]] = field(default_factory=dict)  # {fail: [...], pass: [...]}
    # the rule's own values of its kind's or metric's parameters (rules/units.Param); those
    # that stand for a pack setting are also in `own_settings`, by the setting's name
    params: dict[str, float] = field(default_factory=dict)
    own_settings: dict[str, float] = field(default_factory=dict)
    # check: condition (rules/conditions.py): the moments it applies to, the utterances
    # around each one it looks in, what must hold or must not, and when it applies at all
    each: dict[str, Any] = field(default_factory=dict)
    window: dict[str, float] = field(default_factory=dict)
    require: dict[str, Any] = field(default_factory=dict)
    forbid: dict[str, Any] = field(default_factory=dict)
    applies: dict[str, Any] = field(default_factory=dict)
    line: int = 0
    origin: str = "default.yaml"  # the file `line` is in: the default, or the override that set it

    def values(self) -> dict[str, Any]:
        """The rule's own numbers a message may cite ({max_count}, {within_s}, {min_cpm} ...)."""
        own = {k: getattr(self, k) for k in ("min_digits", "max_count", "threshold")}
        return {**{k: v for k, v in own.items() if v is not None}, **self.where, **self.params}

    def settings(self, settings: Settings) -> Settings:
        """The pack's settings as this rule sees them: its own parameters in place of the
        settings they stand for (a sales line's speech-rate band)."""
        return replace(settings, **self.own_settings) if self.own_settings else settings

    def param(self, name: str, default: float) -> float:
        """A parameter of the rule's kind that stands for no setting (`reply` `within_s`)."""
        return self.params.get(name, self.where.get(name, default))

    def text(self, lang: str, settings: Settings) -> str:
        """The message in `lang` (else the other language), thresholds filled from settings
        (the rule's own where it has them)."""
        template = self.message.get(lang) or self.message.get("zh") or self.message.get("en")
        if not template:
            return self.id
        return format_message(template, {**self.settings(settings).to_json(), **self.values()})

    def messages(self, settings: Settings) -> dict[str, str]:
        return {lang: self.text(lang, settings) for lang in ("zh", "en")}
