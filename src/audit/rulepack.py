"""Load, merge and validate rule packs (YAML).

The default pack ships in the package (rules/default.yaml). A center's own file is merged
over it: `settings` by key; `rules` by id, where given fields replace the default's and
`extra_phrases` / `extra_categories` / `extra_patterns` add to its lists; a new id adds a rule.
Every problem is reported with its line, all at once.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .errors import RulePackError

CHECKS = ("require", "forbid", "reply", "metric", "readback", "count", "manual")
SEVERITIES = ("info", "minor", "major", "fatal")
WHO = ("agent", "customer", "any")
METRICS = ("answer_delay", "speech_rate", "dead_air", "hold_reminder", "hold_before",
           "response_latency", "interruption", "volume", "call_length")
EVENTS = ("hold_end", "long_hold_end")
WHERE_KEYS = ("first_s", "last_s", "within_s")
WHEN_KEYS = ("agent_spoke", "customer_spoke")
RULE_KEYS = {"id", "section", "severity", "deduction", "check", "message", "source", "who",
             "phrases", "patterns", "categories", "unless", "where", "when", "trigger", "metric",
             "threshold", "enabled", "min_digits", "max_count", "extra_phrases",
             "extra_categories", "extra_patterns", "__line__"}


@dataclass
class Rule:
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
    unless: list[str] = field(default_factory=list)
    where: dict[str, float] = field(default_factory=dict)
    when: dict[str, bool] = field(default_factory=dict)
    trigger: dict[str, Any] = field(default_factory=dict)
    metric: str = ""
    threshold: float | None = None
    enabled: bool = True
    min_digits: int = 4
    max_count: int | None = None
    line: int = 0

    def text(self, lang: str = "zh") -> str:
        return self.message.get(lang) or self.message.get("zh") or self.message.get("en") or self.id


@dataclass
class RulePack:
    name: str
    version: str
    sections: dict[str, dict[str, str]]
    settings: dict[str, Any]
    rules: list[Rule]
    sources: list[str]

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    @property
    def enabled_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def fingerprint(self) -> str:
        """Version plus a content hash, so a stored result names the exact pack that scored it."""
        blob = json.dumps([self.settings, [r.__dict__ for r in self.rules]], sort_keys=True,
                          ensure_ascii=False, default=str)
        return f"{self.name}@{self.version}+{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records each mapping's line as `__line__` for error messages."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read(path: str, text: str) -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise RulePackError(path, [f"{where}not valid YAML ({getattr(e, 'problem', e)})"]) from None
    if not isinstance(data, dict):
        raise RulePackError(path, ["line 1: a rule pack is a mapping (rules:, settings: ...)"])
    return data


def default_text() -> str:
    return resources.files("audit").joinpath("rules/default.yaml").read_text(encoding="utf-8")


def load(override: str | None = None) -> RulePack:
    """The default pack, with `override` (a path) merged over it; validated."""
    base = _read("default.yaml", default_text())
    sources = ["default.yaml"]
    if override:
        p = Path(override)
        if not p.is_file():
            raise RulePackError(override, ["file not found"])
        base = merge(base, _read(override, p.read_text(encoding="utf-8")), override)
        sources.append(override)
    return build(base, override or "default.yaml", sources)


def merge(base: dict[str, Any], over: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(base)
    errors: list[str] = []
    for key in ("name", "version"):
        if key in over:
            out[key] = f"{base.get(key)}+{over[key]}" if key == "version" else over[key]
    out["settings"].update({k: v for k, v in (over.get("settings") or {}).items()})
    for key in ("sections",):
        out[key].update(over.get(key) or {})
    by_id = {r["id"]: r for r in out["rules"]}
    for r in over.get("rules") or []:
        if not isinstance(r, dict) or "id" not in r:
            errors.append(f"line {_line(r)}: each rule needs an `id`")
            continue
        target = by_id.get(r["id"])
        if target is None:
            out["rules"].append(r)
            by_id[r["id"]] = r
            continue
        for k, v in r.items():
            if k == "extra_phrases":
                target["phrases"] = list(target.get("phrases", [])) + list(v)
            elif k == "extra_patterns":
                target["patterns"] = list(target.get("patterns", [])) + list(v)
            elif k == "extra_categories":
                cats = target.setdefault("categories", {})
                for cat, words in (v or {}).items():
                    if cat != "__line__":
                        cats[cat] = list(cats.get(cat, [])) + list(words)
            elif k == "__line__":
                target["__override_line__"] = v
            else:
                target[k] = v
    if errors:
        raise RulePackError(path, errors)
    return out


def _line(obj: Any) -> int | str:
    return obj.get("__line__", "?") if isinstance(obj, dict) else "?"


def build(data: dict[str, Any], path: str, sources: list[str]) -> RulePack:
    errors = validate(data)
    if errors:
        raise RulePackError(path, errors)
    sections = {k: {kk: vv for kk, vv in v.items() if kk != "__line__"}
                for k, v in data["sections"].items() if k != "__line__"}
    settings = {k: v for k, v in data.get("settings", {}).items() if k != "__line__"}
    rules = []
    for r in data["rules"]:
        fields = {k: v for k, v in r.items()
                  if k in RULE_KEYS and not k.startswith("extra_") and k != "__line__"}
        for k in ("message", "where", "when", "trigger", "categories"):
            if isinstance(fields.get(k), dict):
                fields[k] = {kk: vv for kk, vv in fields[k].items() if kk != "__line__"}
        fields["deduction"] = float(fields.get("deduction", 0))
        rules.append(Rule(**fields, line=r.get("__override_line__", r.get("__line__", 0))))
    return RulePack(name=str(data.get("name", "default")), version=str(data.get("version", "0")),
                    sections=sections, settings=settings, rules=rules, sources=sources)


def validate(data: dict[str, Any]) -> list[str]:
    """Every problem in a (merged) pack, one line each, with its line number."""
    if not isinstance(data.get("rules"), list):
        return ["`rules:` must be a list of rules"]
    sections = {k for k in (data.get("sections") or {}) if k != "__line__"}
    errs: list[str] = []
    seen: set[str] = set()
    for r in data["rules"]:
        if not isinstance(r, dict):
            errs.append("a rule must be a mapping")
            continue
        ln = r.get("__override_line__", r.get("__line__", "?"))
        problems = _rule_problems(r, sections)
        if r.get("id") in seen:
            problems.insert(0, "duplicate id")
        seen.add(r.get("id"))
        errs += [f"line {ln}: rule {r.get('id')!r}: {p}" for p in problems]
    return errs


def _rule_problems(r: dict[str, Any], sections: set[str]) -> list[str]:
    out: list[str] = []
    out += [f"unknown field `{k}`" for k in r if k not in RULE_KEYS and k != "__override_line__"]
    out += [f"missing `{k}`" for k in ("id", "section", "severity", "check", "message") if k not in r]
    if r.get("section") is not None and r.get("section") not in sections:
        out.append(f"section {r.get('section')!r} is not one of {sorted(sections)}")
    if "severity" in r and r["severity"] not in SEVERITIES:
        out.append(f"severity {r['severity']!r} is not one of {list(SEVERITIES)}")
    if "check" in r and r["check"] not in CHECKS:
        out.append(f"check {r['check']!r} is not one of {list(CHECKS)}")
    if not isinstance(r.get("deduction", 0), (int, float)) or r.get("deduction", 0) < 0:
        out.append("deduction must be a number >= 0")
    if r.get("who", "agent") not in WHO:
        out.append(f"who {r.get('who')!r} is not one of {list(WHO)}")
    check = r.get("check")
    if check in ("require", "count") and not r.get("phrases") and not r.get("patterns"):
        out.append(f"a `{check}` rule needs `phrases` or `patterns`")
    if check == "reply":
        trig = r.get("trigger") or {}
        if not (trig.get("phrases") or trig.get("event") in EVENTS):
            out.append(f"a `reply` rule needs trigger.phrases or trigger.event in {list(EVENTS)}")
        if not r.get("phrases"):
            out.append("a `reply` rule needs `phrases` (what the reply must contain)")
    if check == "metric" and r.get("metric") not in METRICS:
        out.append(f"metric {r.get('metric')!r} is not one of {list(METRICS)}")
    for key, allowed in (("where", WHERE_KEYS), ("when", WHEN_KEYS)):
        out += [f"{key}.{k} is not one of {list(allowed)}" for k in (r.get(key) or {})
                if k not in allowed and k != "__line__"]
    for k in ("phrases", "patterns", "unless"):
        v = r.get(k, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            out.append(f"`{k}` must be a list of strings")
    for p in r.get("patterns") or []:
        try:
            re.compile(p)
        except (re.error, TypeError) as e:
            out.append(f"pattern {p!r} is not a valid regular expression ({e})")
    cats = r.get("categories", {})
    if not isinstance(cats, dict) or not all(
            isinstance(v, list) for k, v in cats.items() if k != "__line__"):
        out.append("`categories` must map a category name to a list of phrases")
    thr = r.get("threshold")
    if thr is not None and not (isinstance(thr, (int, float)) and 0 < thr <= 1):
        out.append("threshold must be a number in (0, 1]")
    return out
