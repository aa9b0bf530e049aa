"""Scorecards: a rule pack per business line, for a batch whose calls are not all judged by
one form (outbound sales, inbound complaints). A YAML file names the manifest column or
--pattern field that says each call's line, and the pack of each line:

    by: queue                 # the manifest column or --pattern field naming the line
    lines:
      sales_out: sales.yaml   # a rule pack (relative to this file), merged over the default
      complaints_in: complaints.yaml
    default: default          # a call of no listed line: `default` (the built-in pack),
                              # a rule pack file, or `fail` (stored as failed, with why)

`load` reads and validates it (every problem one line: the file, the line, the field) and
loads each pack once; `assign` gives each job of a batch its pack (its fingerprint, which
the worker judges with and the result keeps in versions.rules) or the reason it fails.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from callaudit.errors import AuditError, RulePackError, first_line
from callaudit.rules.pack import RulePack
from callaudit.rules.pack import load as load_pack

KEYS = ("by", "lines", "default")
BUILT_IN, FAIL = "default", "fail"
MAX_BYTES = 256 * 1024  # a scorecards file is a few lines


class ScorecardError(AuditError):
    """A scorecards file failed validation; `errors` holds one `line N: field: problem` each."""

    def __init__(self, path: str, errors: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(errors))
        self.path = path
        self.errors = errors


@dataclass(frozen=True)
class Scorecards:
    """A validated scorecards file. `lines`: business line -> the fingerprint of its pack;
    `default`: the fingerprint of the pack of a call whose line is missing or not listed
    (None: such a call is stored as failed); `packs`: fingerprint -> pack, each loaded once."""

    path: str
    by: str
    lines: dict[str, str]
    default: str | None
    packs: dict[str, RulePack]

    def pack_of(self, line: str | None) -> str | None:
        """The fingerprint of the pack a call of `line` is judged with (None: not judged)."""
        return self.lines.get(line, self.default) if line is not None else self.default

    def assign(self, jobs: list[dict[str, Any]]) -> None:
        """Give each job (with its `line`, jobs.discover(line_by=self.by)) the fingerprint of
        its pack as `pack`, or, where the default is `fail`, an `error` saying why not."""
        for job in jobs:
            line = job.get("line")
            key = self.pack_of(line)
            if key is not None:
                job["pack"] = key
                continue
            what = (f"business line {line!r} is not one of {self.path}'s lines" if line else
                    f"no business line (`{self.by}` is empty or missing)")
            job["error"] = f"{job['file']}: {what} and its default is `fail`; not audited"


def load(path: str) -> Scorecards:
    """Read and validate the scorecards file at `path`, loading each pack it names once
    (callaudit.rules.pack.load). ScorecardError: every problem, one line each."""
    text = _text(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise ScorecardError(path, [f"{where}not valid YAML ({getattr(e, 'problem', e)})"]) from None
    if not isinstance(root, yaml.MappingNode):
        raise ScorecardError(path, ["line 1: a scorecards file is a mapping (by:, lines:, default:)"])
    errors: list[str] = []
    fields: dict[str, tuple[int, yaml.Node]] = {}
    for k, v in root.value:
        key, at = str(k.value), k.start_mark.line + 1
        if key not in KEYS:
            errors.append(f"line {at}: unknown key {key!r}" + _nearest(key, KEYS, "keys"))
        elif key in fields:
            errors.append(f"line {at}: {key}: given twice (first on line {fields[key][0]})")
        else:
            fields[key] = (at, v)
    for key in ("by", "lines"):
        if key not in fields:
            errors.append(f"line {root.start_mark.line + 1}: {key}: missing" + (
                " (the manifest column or --pattern field naming each call's business line)"
                if key == "by" else " (business line: rule pack file, one a line)"))
    by = _scalar(fields.get("by"), "by", errors)
    base = Path(path).resolve().parent
    packs: dict[str, RulePack] = {}
    loaded: dict[Path, str] = {}  # a pack file -> its fingerprint: each file loaded once

    def pack(file: str, at: int, field: str) -> str | None:
        p = Path(file) if Path(file).is_absolute() else base / file
        p = p.resolve()
        if p in loaded:
            return loaded[p]
        if not p.is_file():
            errors.append(f"line {at}: {field}: rule pack {file} not found"
                          + ("" if Path(file).is_absolute() else f" (looked for {p})"))
            return None
        try:
            rp = load_pack(str(p))
        except RulePackError as e:
            errors.append(f"line {at}: {field}: {first_line(e)}")
            return None
        loaded[p] = rp.fingerprint()
        packs.setdefault(loaded[p], rp)
        return loaded[p]

    lines: dict[str, str] = {}
    if "lines" in fields:
        at, node = fields["lines"]
        if not isinstance(node, yaml.MappingNode) or not node.value:
            errors.append(f"line {at}: lines: a mapping of business line to rule pack file, "
                          "e.g. `sales_out: sales.yaml`")
        else:
            seen: dict[str, int] = {}
            for k, v in node.value:
                name, kat = str(k.value).strip(), k.start_mark.line + 1
                if not isinstance(k, yaml.ScalarNode) or not name:
                    errors.append(f"line {kat}: lines: a business line is a name")
                    continue
                if name in seen:
                    errors.append(f"line {kat}: lines: {name}: given twice (first on line {seen[name]})")
                    continue
                seen[name] = kat
                file = _scalar((kat, v), f"lines: {name}", errors)
                key = _built_in(packs) if file == BUILT_IN else \
                    pack(file, kat, f"lines: {name}") if file else None
                if key:
                    lines[name] = key
    default: str | None = None
    at, _ = fields.get("default", (0, None))
    value = _scalar(fields["default"], "default", errors) if "default" in fields else BUILT_IN
    if value == BUILT_IN:
        default = _built_in(packs)
    elif value and value != FAIL:
        p = Path(value) if Path(value).is_absolute() else base / value
        if Path(value).suffix.lower() in (".yaml", ".yml") or "/" in value or p.is_file():
            default = pack(value, at, "default")
        else:
            errors.append(f"line {at}: default: {value!r} is not `default`, `fail` or a rule "
                          "pack file" + _nearest(value, (BUILT_IN, FAIL), "values"))
    if errors:  # in the file's order
        raise ScorecardError(path, sorted(errors, key=lambda e: int(e.split()[1].rstrip(":"))))
    return Scorecards(path, by or "", lines, default, packs)


def _built_in(packs: dict[str, RulePack]) -> str:
    rp = load_pack(None)
    packs.setdefault(rp.fingerprint(), rp)
    return rp.fingerprint()


def _scalar(field: tuple[int, yaml.Node] | None, name: str, errors: list[str]) -> str | None:
    """A field's text, or None (noted in `errors` when it is there but not a plain value)."""
    if field is None:
        return None
    at, node = field
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        errors.append(f"line {at}: {name}: expected a name or a file, not "
                      + ("nothing" if isinstance(node, yaml.ScalarNode) else "a list or mapping"))
        return None
    return str(node.value).strip()


def _nearest(word: str, choices: tuple[str, ...], what: str) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" ({what}: {', '.join(choices)})"


def _text(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise ScorecardError(path, ["file not found" if not p.exists() else "not a file"])
    try:
        if p.stat().st_size > MAX_BYTES:
            raise ScorecardError(path, [f"over {MAX_BYTES // 1024} KB: not a scorecards file"])
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScorecardError(path, [f"cannot be read ({getattr(e, 'strerror', None) or e})"]) from None
