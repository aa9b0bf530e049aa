"""Every problem in a rule pack, one line each with its YAML line, all reported at once:
a center's override file (`override_problems`, before merging) and the merged pack
(`validate`, after)."""

from __future__ import annotations

from typing import Any

from callaudit.rules.examples import example_problems
from callaudit.rules.kinds import KINDS
from callaudit.rules.kinds.reply import EVENTS
from callaudit.rules.measures import MEASURES
from callaudit.rules.patterns import pattern_problem
from callaudit.rules.units import closest, param_problems
from callaudit.settings import Settings
from callaudit.settings import problems as settings_problems
from callaudit.speech.match import brackets_pair
from callaudit.strings import placeholders

CHECKS = tuple(KINDS)
SEVERITIES = ("info", "minor", "major", "fatal")
WHO = ("agent", "customer", "any")
METRICS = tuple(MEASURES)
WHERE_KEYS = ("first_s", "last_s", "within_s", "after_last_request")
WHEN_KEYS = ("agent_spoke", "customer_spoke")
TOP_KEYS = ("name", "version", "sections", "settings", "rules", "entities")
# what every rule has, whatever its kind; a kind's own fields are in its Kind.fields
COMMON_KEYS = ("id", "section", "severity", "deduction", "check", "message", "source",
               "enabled", "when", "examples")
RULE_KEYS = {*COMMON_KEYS, *(f for k in KINDS.values() for f in k.fields), "params",
             "extra_phrases", "extra_categories", "extra_patterns", "__line__"}

def _phrases_of(r: dict[str, Any]) -> list[str]:
    """Every phrase a rule matches by sound (its lists may be malformed: checked elsewhere)."""
    lists: list[Any] = [r.get("phrases"), r.get("extra_phrases"), r.get("allow")]
    trig = r.get("trigger")
    if isinstance(trig, dict):
        lists.append(trig.get("phrases"))
    for cats in (r.get("categories"), r.get("extra_categories")):
        if isinstance(cats, dict):
            lists += list(cats.values())
    return [p for v in lists if isinstance(v, list) for p in v if isinstance(p, str)]


def _key_line(mapping: Any, key: str) -> int | str:
    lines = getattr(mapping, "lines", {})
    return lines.get(key, _line(mapping))


def override_problems(base: dict[str, Any], over: dict[str, Any]) -> list[str]:
    """What only an override can get wrong: top-level keys, settings, the `extra_` lists."""
    errs = [f"line {_key_line(over, k)}: unknown top-level key `{k}` (one of {list(TOP_KEYS)})"
            f"{closest(k, TOP_KEYS)}" for k in over if k not in TOP_KEYS and k != "__line__"]
    settings = over.get("settings")
    if settings is not None and not isinstance(settings, dict):
        errs.append(f"line {_key_line(over, 'settings')}: `settings:` must be a mapping")
    if isinstance(settings, dict):
        given = {k: x for k, x in settings.items() if k != "__line__"}
        merged = {**{k: x for k, x in base["settings"].items() if k != "__line__"}, **given}
        errs += [p for p in settings_problems(merged, lambda k: _key_line(settings, k))
                 if any(f"setting `{k}`" in p for k in given)]
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



def _line(obj: Any) -> int | str:
    return obj.get("__line__", "?") if isinstance(obj, dict) else "?"



def _items(v: Any) -> list[tuple[str, Any]]:
    return [(k, x) for k, x in v.items() if k != "__line__"] if isinstance(v, dict) else []


def validate(data: dict[str, Any]) -> list[str]:
    """Every problem in a (merged) pack, one line each, with its line number."""
    if not isinstance(data.get("rules"), list):
        return ["`rules:` must be a list of rules"]
    if not isinstance(data.get("settings"), dict):
        return ["`settings:` must be a mapping"]
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
        errs += [f"line {_own_line(p, ln)}: rule {r.get('id')!r}: "
                 f"{p.split(' ', 1)[1] if p.startswith('@') else p}" for p in problems]
    return errs


def _own_line(problem: str, rule_line: Any) -> Any:
    """The line a problem names itself (`@N ...`: a condition's own line), else the rule's."""
    head = problem.split(" ", 1)[0]
    return head[1:] if head.startswith("@") and head[1:].isdigit() else rule_line


def _rule_problems(r: dict[str, Any], sections: set[str]) -> list[str]:
    out: list[str] = []
    out += [f"unknown field `{k}`{closest(k, RULE_KEYS - {'__line__'})}" for k in r
            if k not in RULE_KEYS and k != "__override_line__"]
    out += [f"missing `{k}`" for k in ("id", "section", "severity", "check", "message") if k not in r]
    if "id" in r and (not isinstance(r["id"], str) or not r["id"]):
        out.append("`id` must be a name (text)")
    msg = r.get("message")
    if "message" in r and (not isinstance(msg, dict) or not any(
            isinstance(msg.get(k), str) and msg.get(k) for k in ("zh", "en"))):
        out.append("`message` must be {zh: ..., en: ...}")
    elif isinstance(msg, dict):
        out += [f"message: `{k}` is not a language (zh, en): a comma in an unquoted message "
                "splits it; quote the message" for k, _ in _items(msg) if k not in ("zh", "en")]
        out += _message_problems(msg, r)
    if not isinstance(r.get("enabled", True), bool):
        out.append("`enabled` must be true or false")
    if r.get("section") is not None and str(r.get("section")) not in sections:
        out.append(f"section {r.get('section')!r} is not one of {sorted(sections)}")
    if "severity" in r and r["severity"] not in SEVERITIES:
        out.append(f"severity {r['severity']!r} is not one of {list(SEVERITIES)}")
    if "check" in r and r["check"] not in CHECKS:
        out.append(f"check {r['check']!r} is not one of {list(CHECKS)}{closest(r['check'], CHECKS)}")
    if not isinstance(r.get("deduction", 0), (int, float)) or r.get("deduction", 0) < 0:
        out.append("deduction must be a number >= 0")
    if r.get("who", "agent") not in WHO:
        out.append(f"who {r.get('who')!r} is not one of {list(WHO)}")
    kind = KINDS.get(r.get("check")) if isinstance(r.get("check"), str) else None
    if kind is not None:
        out += kind.problems(r)
        out += [f"field `{k}` is not read by a `{kind.name}` rule (it reads "
                f"{', '.join(kind.fields) or 'none'})" for k in r
                if k in RULE_KEYS and k not in COMMON_KEYS and k not in kind.fields
                and not k.startswith("extra_") and k != "__line__"
                and not (k == "params" and kind.params)]
        if kind.params:
            out += param_problems(r.get("params"), kind.params, f"`{kind.name}`")
    for key, allowed in (("where", WHERE_KEYS), ("when", WHEN_KEYS)):
        if not isinstance(r.get(key, {}), dict):
            out.append(f"`{key}` must be a mapping ({', '.join(allowed)})")
        out += [f"{key}.{k} is not one of {list(allowed)}{closest(k, allowed)}"
                for k, _ in _items(r.get(key)) if k not in allowed]
    for k, v in _items(r.get("where")):
        if k == "after_last_request":
            if not isinstance(v, bool):
                out.append("where.after_last_request must be true or false")
        elif not _number(v) or v < 0:
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
        if trig.get("voice", "raised") != "raised" or ("voice" in trig and "phrases" not in trig):
            out.append("trigger.voice must be `raised` (the caller's voice louder or higher than "
                       "at the start, settings raised_voice_*), beside trigger.phrases")
    else:
        out.append("`trigger` must be a mapping")
    for k, low in (("min_digits", 1), ("max_count", 0)):
        v = r.get(k)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v >= low):
            out.append(f"`{k}` must be a whole number >= {low}")
    for k in ("phrases", "patterns", "unless", "allow"):
        v = r.get(k, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            out.append(f"`{k}` must be a list of strings")
    out += [f"phrase {p!r}: brackets mark key syllables and must pair: 请问[还]有什么可以帮您"
            for p in _phrases_of(r) if not brackets_pair(p)]
    if r.get("script") not in (None, "opening", "closing"):
        out.append("`script` must be opening or closing (settings.opening_scripts, closing_scripts)")
    pats = r.get("patterns")
    out += [x for p in (pats if isinstance(pats, list) else []) if isinstance(p, str)
            for x in [pattern_problem(p)] if x]
    cats = r.get("categories", {})
    if not isinstance(cats, dict) or not all(
            _strings(v) for k, v in cats.items() if k != "__line__"):
        out.append("`categories` must map a category name to a list of phrases")
    thr = r.get("threshold")
    if thr is not None and not (_number(thr) and 0 < thr <= 1):
        out.append("threshold must be a number in (0, 1]")
    out += example_problems(r)
    return out


def _rule_values(r: dict[str, Any]) -> set[str]:
    """The rule numbers this rule has for a message to cite, as Rule.values gives them:
    min_digits always (it has a default), the others only when the rule sets them."""
    where = r.get("where") if isinstance(r.get("where"), dict) else {}
    params = r.get("params") if isinstance(r.get("params"), dict) else {}
    return {"min_digits"} | {k for k in ("max_count", "threshold") if r.get(k) is not None} \
        | {k for k in WHERE_KEYS if k in where} | {k for k in params if k != "__line__"}


def _message_problems(msg: dict[str, Any], r: dict[str, Any]) -> list[str]:
    """Placeholders in a message must name a setting or one of this rule's own numbers."""
    out = []
    known = set(Settings.names()) | _rule_values(r)
    for lang, text in _items(msg):
        if not isinstance(text, str):
            continue
        try:
            cited = placeholders(text)
        except ValueError as e:
            out.append(f"message.{lang}: braces must hold a setting name ({e})")
            continue
        for name, spec in cited:
            if name not in known:
                out.append(f"message.{lang}: {{{name}}} is not a setting or a value this rule "
                           "has (a name under `settings:`, or min_digits, or max_count, "
                           "threshold, where.*, params.* when the rule sets them)"
                           f"{closest(name, known)}")
            elif spec not in ("", "min"):
                out.append(f"message.{lang}: {{{name}:{spec}}}: the only format is :min "
                           "(seconds shown as minutes)")
    return out
