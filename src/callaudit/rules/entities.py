"""The kinds of personal data the auditor finds and masks (privacy/): the rule pack's
`entities:`.

Each kind is data, like a rule: an id, the type it reports (phone numbers of two shapes are
both `landline`), a label, how it is found, how it is masked, and examples it must find or
leave alone. Two ways of finding:

- `digits: [MIN, MAX]`: a run of digits as spoken (Arabic, 零一二…九, 幺 for one, 两 for
  two, grouped by spaces, commas or pauses; speech/numbers.py) of that length whose digits
  `pattern` matches whole, and which passes one of `check` (validators below) or follows
  one of `context` within `context_chars` characters; with neither `check` nor `context`,
  the pattern alone decides, and with only `context`, the context is needed.
- `pattern` alone (no `digits`): a regular expression over the utterance text; its first
  group, when it has one, is the personal part (我叫(张三)), `exclude` lists what that part
  must not start with (我叫了三次).

Patterns run on RE2 (linear time), as rule patterns do.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callaudit.rules.patterns import compile_pattern, pattern_problem


def _luhn(digits: str) -> bool:
    from stdnum import luhn

    return luhn.is_valid(digits)


def _resident_id(digits: str) -> bool:
    """GB 11643-1999: 17 digits and an ISO 7064 MOD 11-2 check character (python-stdnum)."""
    from stdnum.cn import ric

    return ric.is_valid(digits)


def _birth_date(digits: str) -> bool:
    """Characters 7-14 of a resident ID are a birth date (YYYYMMDD): a number misheard in one
    digit fails its check character but keeps this shape, and is still somebody's ID."""
    try:
        d = datetime.date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    except ValueError:
        return False
    return 1900 <= d.year <= datetime.date.today().year


CHECKS: dict[str, Callable[[str], bool]] = {"luhn": _luhn, "resident_id": _resident_id,
                                            "birth_date": _birth_date}
KIND_KEYS = {"id", "type", "label", "digits", "pattern", "check", "context", "context_chars",
             "exclude", "mask", "enabled", "examples", "__line__"}


@dataclass
class EntityKind:
    id: str
    type: str
    label: dict[str, str]
    pattern: str = ""
    digits: tuple[int, int] | None = None
    check: list[str] = field(default_factory=list)
    context: list[str] = field(default_factory=list)
    context_chars: int = 8
    exclude: list[str] = field(default_factory=list)
    keep: tuple[int, int] = (0, 0)  # characters left unmasked at the start and at the end
    as_label: bool = False  # mask as [label] instead of one * per character
    enabled: bool = True
    examples: dict[str, list[str]] = field(default_factory=dict)  # {find: [...], ignore: [...]}

    def name(self, lang: str) -> str:
        return self.label.get(lang) or self.label.get("zh") or self.type

    def value(self, digits: str) -> str | None:
        """The digit run's value when it has this kind's shape (not yet its checks or
        context): the digits, or the pattern's first group (a mobile number without its 86);
        None when it has not."""
        assert self.digits is not None
        lo, hi = self.digits
        if not lo <= len(digits) <= hi:
            return None
        if not self.pattern:
            return digits
        m = compile_pattern(self.pattern).fullmatch(digits)
        return None if m is None else (m.group(1) or digits) if m.re.groups else digits

    def valid(self, digits: str) -> bool:
        return any(CHECKS[c](digits) for c in self.check)


def build_kinds(raw: list[dict[str, Any]]) -> list[EntityKind]:
    """The pack's `entities:` (validated by `kind_problems`) as EntityKinds, in order."""
    out = []
    for k in raw:
        mask = k.get("mask") or {}
        digits = k.get("digits")
        out.append(EntityKind(
            id=k["id"], type=k.get("type", k["id"]),
            label={x: y for x, y in (k.get("label") or {}).items() if x != "__line__"},
            pattern=k.get("pattern", ""), digits=tuple(digits) if digits else None,
            check=list(k.get("check", [])), context=list(k.get("context", [])),
            context_chars=int(k.get("context_chars", 8)), exclude=list(k.get("exclude", [])),
            keep=tuple(mask.get("keep", (0, 0))), as_label=mask.get("as") == "label",
            enabled=bool(k.get("enabled", True)),
            examples={x: list(y) for x, y in (k.get("examples") or {}).items() if x != "__line__"}))
    return out


def kind_problems(raw: Any) -> list[str]:
    """Every problem of an `entities:` list, one line each with its YAML line."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        return ["`entities:` must be a list of kinds of personal data"]
    errs: list[str] = []
    seen: set[str] = set()
    for k in raw:
        ln = k.get("__override_line__", k.get("__line__", "?")) if isinstance(k, dict) else "?"
        if not isinstance(k, dict) or not isinstance(k.get("id"), str) or not k["id"]:
            errs.append(f"line {ln}: each entity kind needs an `id` (a name)")
            continue
        errs += [f"line {ln}: entity {k['id']!r}: {p}" for p in _problems(k, k["id"] in seen)]
        seen.add(k["id"])
    return errs


def _problems(k: dict[str, Any], duplicate: bool) -> list[str]:
    out = ["duplicate id"] if duplicate else []
    out += [f"unknown field `{x}`" for x in k if x not in KIND_KEYS and x != "__override_line__"]
    label = k.get("label")
    if not isinstance(label, dict) or not any(isinstance(label.get(x), str) for x in ("zh", "en")):
        out.append("`label` must be {zh: ..., en: ...}")
    digits = k.get("digits")
    if digits is not None and not (isinstance(digits, list) and len(digits) == 2 and all(
            isinstance(d, int) and not isinstance(d, bool) for d in digits)
            and 1 <= digits[0] <= digits[1] <= 1000):
        out.append("`digits` must be [MIN, MAX] digits, 1 <= MIN <= MAX <= 1000")
    if digits is None and not k.get("pattern"):
        out.append("an entity kind needs `digits` or a `pattern`")
    if k.get("pattern") is not None:
        if not isinstance(k["pattern"], str):
            out.append("`pattern` must be a regular expression (text)")
        else:
            p = pattern_problem(k["pattern"])
            if p:
                out.append(p)
    for key in ("check", "context", "exclude"):
        v = k.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            out.append(f"`{key}` must be a list of strings")
    out += [f"check {c!r} is not one of {sorted(CHECKS)}" for c in k.get("check", [])
            if isinstance(c, str) and c not in CHECKS]
    cc = k.get("context_chars", 8)
    if not (isinstance(cc, int) and not isinstance(cc, bool) and 0 <= cc <= 40):
        out.append("`context_chars` must be a whole number 0-40")
    mask = k.get("mask", {})
    if not isinstance(mask, dict):
        out.append("`mask` must be {keep: [START, END]} or {as: label}")
    else:
        keep = mask.get("keep", [0, 0])
        if not (isinstance(keep, list) and len(keep) == 2 and all(
                isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 8 for x in keep)):
            out.append("mask.keep must be [START, END]: characters left at each end, 0-8")
        if mask.get("as", "stars") not in ("stars", "label"):
            out.append("mask.as must be stars or label")
    if not isinstance(k.get("enabled", True), bool):
        out.append("`enabled` must be true or false")
    ex = k.get("examples", {})
    texts = [y for x, y in ex.items() if x != "__line__"] if isinstance(ex, dict) else [None]
    if not isinstance(ex, dict) or any(x not in ("find", "ignore", "__line__") for x in ex) or \
            not all(isinstance(y, list) and all(isinstance(s, str) for s in y) for y in texts):
        out.append("`examples` must be {find: [texts], ignore: [texts]}")
    return out
