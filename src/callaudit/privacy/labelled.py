"""How well personal data is found and masked, on a labelled set of scripted calls.

The set (tests/data/pii/labelled.yaml) lists calls in the rule examples' line syntax and
every entity a correct detector finds in each: its type, value and who said it. A found
entity is right when type, value and role are the expected ones (precision and recall per
type and per spoken form). Apart from that, an expected entity is *leaked* when, after
masking, five or more of its digits in a row (or, for a name or address, the whole of it)
are still in the masked text of the call (either party's): the measure that matters for
privacy, whatever the type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callaudit.privacy.detect import LEAK_DIGITS, detect_in
from callaudit.privacy.mask import mask_utterances
from callaudit.rules.examples import parse
from callaudit.rules.pack import RulePack
from callaudit.speech.numbers import DIGITS


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    leaked: int = 0
    expected: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def to_json(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "leaked": self.leaked,
                "expected": self.expected, "precision": round(self.precision, 3),
                "recall": round(self.recall, 3)}


@dataclass
class Scores:
    by_type: dict[str, Tally] = field(default_factory=dict)
    by_form: dict[str, Tally] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # one line per wrong case, for reading

    @property
    def total(self) -> Tally:
        t = Tally()
        for x in self.by_type.values():
            t.tp, t.fp, t.fn = t.tp + x.tp, t.fp + x.fp, t.fn + x.fn
            t.leaked, t.expected = t.leaked + x.leaked, t.expected + x.expected
        return t


def example_failures(pack: RulePack) -> tuple[int, list[str]]:
    """Each kind's own examples (`examples: {find, ignore}`), said by a caller: (how many,
    one line per example that is not found, or found where it must not be)."""
    n, out = 0, []
    for k in pack.entities:
        if not k.enabled:
            continue
        for bucket, want in (("find", True), ("ignore", False)):
            for text in k.examples.get(bucket, []):
                n += 1
                utts = parse({"lines": [f"C: {text}"]}).utterances
                found = detect_in(utts, pack)
                if any(e.type == k.type for e in found) != want:
                    out.append(f"entity {k.id!r}: {bucket} {text!r}: "
                               + ("not found" if want else f"found as {k.type}"))
    return n, out


def load_cases(path: str | Path) -> list[dict[str, Any]]:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def _digits(text: str) -> str:
    """The digits of `text` as ASCII; a mask's * stays, so kept parts are not joined."""
    return "".join(DIGITS.get(c, c) for c in text if c in DIGITS or c == "*")


def _leaked(value: str, masked: str) -> bool:
    digits = _digits(value.replace("X", ""))
    if len(digits) >= LEAK_DIGITS:
        said = _digits(masked)
        return any(digits[i:i + LEAK_DIGITS] in said for i in range(len(digits) - LEAK_DIGITS + 1))
    return value.lower() in masked.replace(" ", "").lower()


def evaluate(cases: list[dict[str, Any]], pack: RulePack) -> Scores:
    out = Scores()
    for case in cases:
        ex = parse({"lines": case["lines"]})
        utts = ex.utterances
        found = detect_in(utts, pack)
        masked = mask_utterances(utts, found)
        got = [(e.type, e.value, e.role) for e in found]
        for want in case.get("expect") or []:
            key = (want["type"], str(want["value"]), want.get("role", "customer"))
            form = want.get("form", case.get("form", ""))
            for t in (out.by_type.setdefault(key[0], Tally()), out.by_form.setdefault(form, Tally())):
                t.expected += 1
                if key in got:
                    t.tp += 1
                else:
                    t.fn += 1
                if _leaked(key[1], " ".join(masked)):  # anyone's words: a read-back too
                    t.leaked += 1
            if key in got:
                got.remove(key)
            else:
                out.errors.append(f"{case['id']}: missed {key[0]} {key[1]} ({key[2]})")
        for g in got:
            out.by_type.setdefault(g[0], Tally()).fp += 1
            out.by_form.setdefault(case.get("form", ""), Tally()).fp += 1
            out.errors.append(f"{case['id']}: false {g[0]} {g[1]} ({g[2]})")
    return out
