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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callaudit.errors import RulePackError
from callaudit.rules.conditions import strip_lines
from callaudit.rules.entities import EntityKind, build_kinds, kind_problems
from callaudit.rules.kinds import KINDS
from callaudit.rules.measures import MEASURES
from callaudit.rules.patterns import default_text
from callaudit.rules.rule import Rule
from callaudit.rules.validate import COMMON_KEYS, RULE_KEYS, override_problems, validate
from callaudit.settings import Settings
from callaudit.settings import problems as settings_problems
from callaudit.speech.text import is_han


@dataclass
class RulePack:
    """A validated rule pack: the default (rules/default.yaml) with a center's file merged
    over it (`load_pack`). `settings` are the thresholds every rule reads (settings.py
    documents each with its unit), `sections` the score's parts with their points,
    `sources` the files it was read from, `fingerprint()` the hash stored with each result."""

    name: str
    version: str
    sections: dict[str, dict[str, str]]
    settings: Settings
    rules: list[Rule]
    sources: list[str]
    # the kinds of personal data to find and mask (`entities:`, rules/entities.py)
    entities: list[EntityKind] = field(default_factory=list)

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

    @property
    def enabled_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.enabled]

    def fingerprint(self) -> str:
        """Version plus a content hash, so a stored result names the exact pack that scored it."""
        rules = [{k: v for k, v in asdict(r).items() if k not in ("examples", "line", "origin")}
                 for r in self.rules]
        kinds = [{k: v for k, v in asdict(e).items() if k != "examples"} for e in self.entities]
        blob = json.dumps([self.settings.to_json(), rules, kinds], sort_keys=True,
                          ensure_ascii=False, default=str)
        return f"{self.name}@{self.version}+{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


MAX_PACK_BYTES = 1024 * 1024  # a pack is a few KB; a bigger file is refused before parsing


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records each mapping's line as `__line__` for error messages, and
    refuses anchors and aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_lines: dict[int, str] = {}  # line -> what is refused on it
        self.anchor_lines: dict[int, str] = {}

    @property
    def refused(self) -> list[str]:
        """One problem per line; an alias (what expands) wins over an anchor on its line."""
        by_line = {**self.anchor_lines, **self.alias_lines}
        return [f"line {n}: YAML {by_line[n]} are not allowed in a rule pack" for n in sorted(by_line)]

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # Nested aliases let a 1 KB pack expand to gigabytes ("billion laughs"); a pack has no
        # need of them, so each is noted and read as null, never expanded.
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            self.get_event()
            self.alias_lines.setdefault(line, f"aliases (*{event.anchor})")
            return yaml.ScalarNode("tag:yaml.org,2002:null", "", event.start_mark, event.end_mark)
        if getattr(event, "anchor", None):
            self.anchor_lines.setdefault(line, f"anchors (&{event.anchor})")
        return super().compose_node(parent, index)


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
    loader = _LineLoader(text)
    try:
        data = loader.get_single_data()
    except (yaml.YAMLError, RecursionError) as e:
        if loader.refused:  # an alias read as null can break what used it (`<<: *a`)
            raise RulePackError(path, loader.refused) from None
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(e, "problem", e) if isinstance(e, yaml.YAMLError) else "nested too deeply"
        raise RulePackError(path, [f"{where}not valid YAML ({problem})"]) from None
    finally:
        loader.dispose()
    if loader.refused:
        raise RulePackError(path, loader.refused)
    if not isinstance(data, dict):
        raise RulePackError(path, ["line 1: a rule pack is a mapping (rules:, settings: ...)"])
    return data


def load(override: str | None = None) -> RulePack:
    """The default pack, with `override` (a path to a YAML file) merged over it, validated.
    Raises RulePackError (every problem, one line each, with its line number) or InputError
    when the file cannot be read."""
    base = _read("default.yaml", default_text())
    sources = ["default.yaml"]
    if override:
        base = merge(base, _read(override, _text(override)), override)
        sources.append(override)
    return build(base, override or "default.yaml", sources)


def _text(path: str) -> str:
    """A center's pack file as text, or one line saying why it cannot be read."""
    p = Path(path)
    if p.is_dir():
        raise RulePackError(path, ["is a directory, not a rule pack file"])
    if not p.is_file():
        raise RulePackError(path, ["file not found"])
    try:
        size = p.stat().st_size
        if size > MAX_PACK_BYTES:
            raise RulePackError(path, [f"rule pack is {-(-size // 1024)} KB, over the "
                                       f"{MAX_PACK_BYTES // 1024} KB limit"])
        data = p.read_bytes()
    except OSError as e:
        raise RulePackError(path, [f"cannot be read ({e.strerror or e})"]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RulePackError(path, [f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                                   f"{e.start}); save the rule pack as UTF-8"]) from None


def merge(base: dict[str, Any], over: dict[str, Any], path: str) -> dict[str, Any]:
    errors = override_problems(base, over)
    out = copy.deepcopy(base)
    for key in ("name", "version"):
        if key in over:
            out[key] = f"{base.get(key)}+{over[key]}" if key == "version" else over[key]
    for key in ("settings", "sections"):
        if isinstance(over.get(key), dict):
            out[key].update(over[key])
    kinds = over.get("entities")
    if isinstance(kinds, list):  # by id, as rules: fields replace fields, a new id is added
        known = {k["id"]: k for k in out.get("entities") or [] if isinstance(k, dict)}
        for k in kinds:
            if isinstance(k, dict) and isinstance(k.get("id"), str) and k["id"] in known:
                known[k["id"]].update({x: y for x, y in k.items() if x != "__line__"},
                                      __override_line__=k.get("__line__", 0))
            elif isinstance(k, dict):
                out.setdefault("entities", []).append({**k, "__override_line__": k.get("__line__", 0)})
    elif kinds is not None:
        errors.append(f"line {over.get('__line__', '?')}: `entities:` must be a list")
    by_id = {r["id"]: r for r in out["rules"]}
    rules = over.get("rules") if isinstance(over.get("rules"), list) else []
    for r in rules:
        if not isinstance(r, dict) or not isinstance(r.get("id"), str):
            continue  # reported by override_problems
        target = by_id.get(r["id"])
        if target is None:
            r["__override_line__"] = r.get("__line__", 0)  # its line is in the override file
            out["rules"].append(r)
            by_id[r["id"]] = r
            continue
        if r.get("check") not in (None, target.get("check")) and r["check"] in KINDS:
            # a rule of the default written anew as another kind: what the old kind read goes
            keep = set(COMMON_KEYS) | set(KINDS[r["check"]].fields) | {"__line__", "params"}
            for k in [k for k in target if k not in keep]:
                del target[k]
        for k, v in r.items():
            if k in ("extra_phrases", "extra_patterns") and not isinstance(v, list):
                continue  # reported by override_problems (list("您好") would split it)
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
        raise RulePackError(path, by_line(errors + validate(out)))
    return out


def _own_settings(rule: Rule) -> dict[str, Any]:
    """The pack settings a rule's `params` stand for (a metric's band), by setting name."""
    declared = MEASURES[rule.metric].params if rule.check == "metric" else KINDS[rule.check].params
    return {p.setting: rule.params[p.name] for p in declared if p.setting and p.name in rule.params}


def by_line(errors: list[str]) -> list[str]:
    """Problems in the order of their lines in the file (those without one first)."""
    def line(e: str) -> int:
        head = e.split(":", 1)[0]
        return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 0
    return sorted(errors, key=line)


def build(data: dict[str, Any], path: str, sources: list[str]) -> RulePack:
    errors = validate(data) + kind_problems(data.get("entities"))
    if not errors:  # an override's settings were checked, with its lines, by merge()
        raw = data["settings"]
        errors = settings_problems({k: v for k, v in raw.items() if k != "__line__"},
                                   lambda k: getattr(raw, "lines", {}).get(k, "?"))
        ids = {r.get("id") for r in data["rules"] if isinstance(r, dict)}
        errors += [f"setting `system_credits` names no rule `{i}`"
                   for i in raw.get("system_credits") or [] if i not in ids]
        errors += [f"setting `vocabulary`: `{t}` is not two or more Han characters"
                   for t in raw.get("vocabulary") or []
                   if not isinstance(t, str) or len(t) < 2 or not all(map(is_han, t))]
    if errors:
        raise RulePackError(path, errors)
    errors = []
    sections = {k: {kk: vv for kk, vv in v.items() if kk != "__line__"}
                for k, v in data["sections"].items() if k != "__line__"}
    settings = Settings.from_mapping({k: v for k, v in data["settings"].items()
                                      if k != "__line__"})
    rules = []
    for r in data["rules"]:
        fields = {k: v for k, v in r.items()
                  if k in RULE_KEYS and not k.startswith("extra_") and k != "__line__"}
        for k in ("message", "where", "when", "trigger", "categories", "examples", "params",
                  "window"):
            if isinstance(fields.get(k), dict):
                fields[k] = {kk: vv for kk, vv in fields[k].items() if kk != "__line__"}
        for k in ("each", "require", "forbid", "applies"):
            if k in fields:
                fields[k] = strip_lines(fields[k])
        fields["deduction"] = float(fields.get("deduction", 0))
        over = "__override_line__" in r
        line = r["__override_line__"] if over else r.get("__line__", 0)
        rule = Rule(**fields, line=line, origin=path if over else "default.yaml")
        rule.own_settings = _own_settings(rule)
        own = settings_problems({**settings.to_json(), **rule.own_settings}) \
            if rule.own_settings else []
        errors += [f"line {line}: rule {rule.id!r}: params: {p.split(': ', 1)[1]}" for p in own]
        rules.append(rule)
    if errors:
        raise RulePackError(path, errors)
    return RulePack(name=str(data.get("name", "default")), version=str(data.get("version", "0")),
                    sections=sections, settings=settings, rules=rules, sources=sources,
                    entities=build_kinds(data.get("entities") or []))


