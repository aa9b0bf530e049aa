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

from audit.errors import RulePackError

CHECKS = ("require", "forbid", "reply", "metric", "readback", "count", "manual")
SEVERITIES = ("info", "minor", "major", "fatal")
WHO = ("agent", "customer", "any")
METRICS = ("answer_delay", "speech_rate", "dead_air", "hold_reminder", "hold_before",
           "response_latency", "interruption", "volume", "call_length")
EVENTS = ("hold_end", "long_hold_end")
WHERE_KEYS = ("first_s", "last_s", "within_s")
WHEN_KEYS = ("agent_spoke", "customer_spoke")
TOP_KEYS = ("name", "version", "sections", "settings", "rules")
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


class _Map(dict):  # type: ignore[type-arg]
    """A mapping read from YAML; `lines` holds the line of each key (for settings errors)."""

    lines: dict[Any, int]


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = _Map(loader.construct_mapping(node, deep=True))
    mapping.lines = {k.value: k.start_mark.line + 1 for k, _ in node.value
                     if isinstance(k, yaml.ScalarNode)}
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


def _key_line(mapping: Any, key: str) -> int | str:
    lines = getattr(mapping, "lines", {})
    return lines.get(key, _line(mapping))


def _override_problems(base: dict[str, Any], over: dict[str, Any]) -> list[str]:
    """What only an override can get wrong: top-level keys, settings, the `extra_` lists."""
    errs = [f"line {_key_line(over, k)}: unknown top-level key `{k}` (one of {list(TOP_KEYS)})"
            for k in over if k not in TOP_KEYS and k != "__line__"]
    settings = over.get("settings")
    if settings is not None and not isinstance(settings, dict):
        errs.append(f"line {_key_line(over, 'settings')}: `settings:` must be a mapping")
    for k, v in (settings if isinstance(settings, dict) else {}).items():
        if k == "__line__":
            continue
        where = f"line {_key_line(settings, k)}: setting `{k}`"
        if k not in base["settings"]:
            errs.append(f"{where} is not a known setting")
        elif isinstance(base["settings"][k], list):
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                errs.append(f"{where} must be a list of strings")
        elif not _number(v):
            errs.append(f"{where} must be a number, not {v!r}")
        elif k == "match_threshold" and not 0 < v <= 1:
            errs.append(f"{where} must be in (0, 1], not {v!r}")
    sections = over.get("sections")
    if sections is not None and not (isinstance(sections, dict) and all(
            isinstance(v, dict) for k, v in sections.items() if k != "__line__")):
        errs.append(f"line {_key_line(over, 'sections')}: `sections:` must map a name to "
                    "{zh: ..., en: ...}")
    rules = over.get("rules")
    if rules is not None and not isinstance(rules, list):
        errs.append(f"line {_key_line(over, 'rules')}: `rules:` must be a list of rules")
    seen: set[Any] = set()
    for r in rules if isinstance(rules, list) else []:
        if not isinstance(r, dict) or not isinstance(r.get("id"), str) or not r.get("id"):
            errs.append(f"line {_line(r)}: each rule needs an `id` (a name)")
            continue
        if r["id"] in seen:
            errs.append(f"line {_line(r)}: rule {r['id']!r}: given twice in this file")
        seen.add(r["id"])
        for k in ("extra_phrases", "extra_patterns"):
            if k in r and not _strings(r[k]):
                errs.append(f"line {_line(r)}: rule {r['id']!r}: `{k}` must be a list of strings")
        cats = r.get("extra_categories", {})
        if not isinstance(cats, dict) or not all(
                _strings(v) for k, v in cats.items() if k != "__line__"):
            errs.append(f"line {_line(r)}: rule {r['id']!r}: `extra_categories` must map a "
                        "category name to a list of phrases")
    return errs


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def merge(base: dict[str, Any], over: dict[str, Any], path: str) -> dict[str, Any]:
    errors = _override_problems(base, over)
    out = copy.deepcopy(base)
    for key in ("name", "version"):
        if key in over:
            out[key] = f"{base.get(key)}+{over[key]}" if key == "version" else over[key]
    for key in ("settings", "sections"):
        if isinstance(over.get(key), dict):
            out[key].update(over[key])
    by_id = {r["id"]: r for r in out["rules"]}
    rules = over.get("rules") if isinstance(over.get("rules"), list) else []
    for r in rules:
        if not isinstance(r, dict) or not isinstance(r.get("id"), str):
            continue  # reported by _override_problems
        target = by_id.get(r["id"])
        if target is None:
            out["rules"].append(r)
            by_id[r["id"]] = r
            continue
        for k, v in r.items():
            if k in ("extra_phrases", "extra_patterns") and not isinstance(v, list):
                continue  # reported by _override_problems (list("您好") would split it)
            if k == "extra_phrases":
                target["phrases"] = list(target.get("phrases", [])) + list(v)
            elif k == "extra_patterns":
                target["patterns"] = list(target.get("patterns", [])) + list(v)
            elif k == "extra_categories":
                cats = target.setdefault("categories", {})
                for cat, words in (v.items() if isinstance(v, dict) else []):
                    if cat != "__line__" and isinstance(words, list):
                        cats[cat] = list(cats.get(cat, [])) + list(words)
            elif k == "__line__":
                target["__override_line__"] = v
            else:
                target[k] = v
    if errors:  # with the problems of the merged rules, so every error shows at once
        raise RulePackError(path, errors + validate(out))
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


def _items(v: Any) -> list[tuple[str, Any]]:
    return [(k, x) for k, x in v.items() if k != "__line__"] if isinstance(v, dict) else []


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
        rid = r.get("id") if isinstance(r.get("id"), str) else repr(r.get("id"))
        if rid in seen:
            problems.insert(0, "duplicate id")
        seen.add(rid)
        errs += [f"line {ln}: rule {r.get('id')!r}: {p}" for p in problems]
    return errs


def _rule_problems(r: dict[str, Any], sections: set[str]) -> list[str]:
    out: list[str] = []
    out += [f"unknown field `{k}`" for k in r if k not in RULE_KEYS and k != "__override_line__"]
    out += [f"missing `{k}`" for k in ("id", "section", "severity", "check", "message") if k not in r]
    if "id" in r and (not isinstance(r["id"], str) or not r["id"]):
        out.append("`id` must be a name (text)")
    msg = r.get("message")
    if "message" in r and (not isinstance(msg, dict) or not any(
            isinstance(msg.get(k), str) and msg.get(k) for k in ("zh", "en"))):
        out.append("`message` must be {zh: ..., en: ...}")
    if not isinstance(r.get("enabled", True), bool):
        out.append("`enabled` must be true or false")
    if r.get("section") is not None and str(r.get("section")) not in sections:
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
        if not isinstance(r.get(key, {}), dict):
            out.append(f"`{key}` must be a mapping ({', '.join(allowed)})")
        out += [f"{key}.{k} is not one of {list(allowed)}" for k, _ in _items(r.get(key))
                if k not in allowed]
    for k, v in _items(r.get("where")):
        if not _number(v) or v < 0:
            out.append(f"where.{k} must be a number of seconds >= 0")
    for k, v in _items(r.get("when")):
        if not isinstance(v, bool):
            out.append(f"when.{k} must be true or false")
    trig = r.get("trigger") or {}
    if isinstance(trig, dict):
        if trig.get("who", "customer") not in WHO:
            out.append(f"trigger.who {trig.get('who')!r} is not one of {list(WHO)}")
        if "event" in trig and trig["event"] not in EVENTS:
            out.append(f"trigger.event {trig['event']!r} is not one of {list(EVENTS)}")
        if "phrases" in trig and not _strings(trig["phrases"]):
            out.append("trigger.phrases must be a list of strings")
    else:
        out.append("`trigger` must be a mapping")
    for k, low in (("min_digits", 1), ("max_count", 0)):
        v = r.get(k)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v >= low):
            out.append(f"`{k}` must be a whole number >= {low}")
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
            _strings(v) for k, v in cats.items() if k != "__line__"):
        out.append("`categories` must map a category name to a list of phrases")
    thr = r.get("threshold")
    if thr is not None and not (_number(thr) and 0 < thr <= 1):
        out.append("threshold must be a number in (0, 1]")
    return out
