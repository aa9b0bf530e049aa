"""Find personal data in what was said: phone, ID and card numbers, codes, e-mail, names.

    entities = detect(utterances, pack.entities, settings)

Each party's utterances are read as one text (speech/numbers.py), so a number read in two
parts with a pause is one number; the parties are never joined (a caller's 138 and the
agent's 1234 are two numbers). Digit kinds come first, specific ones before the catch-all;
where two candidates overlap the longer wins, then the earlier kind. A digit run no kind
takes whole is cut at its pauses and separators: the longest parts a kind takes, left to
right (手机13812345678。身份证… said without a pause between); what is left is tried as one
again. Last, every value found is looked for again in the whole call, by either party: a
code the agent reads back, a name the agent says, have no context word of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from callaudit.records import Utterance
from callaudit.rules.entities import EntityKind
from callaudit.rules.pack import RulePack
from callaudit.rules.patterns import compile_pattern
from callaudit.speech.numbers import DIGITS, Run, Text, digit_runs, party_texts, without_quantity
from callaudit.speech.text import spoken_units, syllables


@dataclass
class Piece:
    """The part of one utterance an entity covers: characters [start, end) of its text and
    the seconds they were (probably) said in: utterances carry no word times, so the time is
    the utterance's, shared out by syllables."""

    utt: int
    start: int
    end: int
    t0: float
    t1: float
    channel: int

    def to_json(self) -> dict[str, Any]:
        return {"utt": self.utt, "chars": [self.start, self.end], "start": round(self.t0, 2),
                "end": round(self.t1, 2), "channel": self.channel}


@dataclass
class Entity:
    """One item of personal data. `value` (the digits, the address, the name) lives in
    memory only and is never written anywhere."""

    kind: str  # the EntityKind's id
    type: str
    role: str
    pieces: list[Piece]
    value: str
    masked: str = ""  # how it reads masked (privacy/mask.py)
    keep: tuple[int, int] = (0, 0)
    as_label: str = ""  # the label it is masked as, "" when masked by stars
    replaced: list[tuple[str, str]] = field(default_factory=list)  # pieces: as said, as masked
    label: dict[str, str] | None = None  # the kind's {zh, en} name of its type

    @property
    def start(self) -> float:
        return min(p.t0 for p in self.pieces)

    @property
    def end(self) -> float:
        return max(p.t1 for p in self.pieces)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "kind": self.kind, "role": self.role,
                "start": round(self.start, 2), "end": round(self.end, 2),
                "masked": self.masked, "pieces": [p.to_json() for p in self.pieces]}


def detect(utts: list[Utterance], kinds: list[EntityKind], join_gap_s: float = 3.0,
           context_s: float = 10.0) -> list[Entity]:
    """Every entity in `utts` (the call's utterances in result order), in time order.
    `join_gap_s`: a party's utterances this close are read as one text; `context_s`: the
    other party's words ending this shortly before a number count as its context (the
    agent's 验证码是多少？ before the caller's 四八二七一五)."""
    kinds = [k for k in kinds if k.enabled]
    # a catch-all (a length and nothing more: `number`) only after every specific kind, so a
    # kind a center's pack adds after it (a member number) is still found
    digit_kinds = sorted((k for k in kinds if k.digits), key=lambda k: not _specific(k))
    shortest = min((k.digits[0] for k in digit_kinds if k.digits), default=0)
    out: list[Entity] = []
    for text in party_texts(utts, join_gap_s):
        spans: list[tuple[int, int, str, EntityKind]] = []
        if digit_kinds:
            for whole in digit_runs(text.text, shortest, masked=False):
                run = without_quantity(text.text, whole)  # 1500元, 2023年: not personal
                if run is None or _in_word(text.text, run):
                    continue  # abc123, 123@qq.com: a password, an address (text kinds)
                asked = _asked(text, run.start, utts, context_s)
                spans += _assign(run, text.text, digit_kinds, asked)
        spans += [(a, b, v, k) for k in kinds if not k.digits for a, b, v in _text_spans(text.text, k)]
        # where two overlap the longer wins (an address holding a QQ number), then the first
        spans.sort(key=lambda s: s[0] - s[1])
        taken: set[int] = set()
        for a, b, value, k in spans:
            if not taken.intersection(range(a, b)):
                taken.update(range(a, b))
                out.append(_entity(k, a, b, value, text, utts))
    out += _repeats(out, utts, {k.id: k for k in kinds}, join_gap_s)
    return sorted(out, key=lambda e: (e.start, e.pieces[0].utt, e.pieces[0].start))


def detect_in(utts: list[Utterance], pack: RulePack) -> list[Entity]:
    """`detect` with the pack's kinds and settings (number_join_gap_s, redact_context_s)."""
    s = pack.settings
    return detect(utts, pack.entities, s.number_join_gap_s, s.redact_context_s)


def _repeats(found: list[Entity], utts: list[Utterance], kinds: dict[str, EntityKind],
             join_gap_s: float) -> list[Entity]:
    """Each value of `found` said again elsewhere, by either party: a digit run that is the
    number or holds LEAK_DIGITS+ of its digits in a row; the words of a name, password or
    address (two characters or more) as they were said."""
    taken = {(p.utt, j) for e in found for p in e.pieces for j in range(p.start, p.end)}
    numbers = {e.value: e.kind for e in found
               if e.value.rstrip("X").isdigit() and len(e.value) >= 4}
    words: dict[str, str] = {}
    for e in found:
        said = "".join(utts[p.utt].text[p.start:p.end] for p in e.pieces)
        if not numbers.get(e.value) and len(said.strip()) >= 2:
            words[said] = e.kind
    out: list[Entity] = []
    for text in party_texts(utts, join_gap_s):
        spans = [(r.start, r.end, r.digits, numbers[v]) for r in digit_runs(text.text, 4, masked=False)
                 for v in numbers if r.digits == v or (len(r.digits) >= LEAK_DIGITS and r.digits in v)]
        spans += [(m.start(), m.end(), w, k) for w, k in words.items()
                  for m in re.finditer(re.escape(w), text.text)]
        for a, b, value, kind in spans:
            owners = {text.owner[i] for i in range(a, b)} - {None}
            if owners and not owners & taken:
                taken |= owners
                out.append(_entity(kinds[kind], a, b, value, text, utts))
    return out


LEAK_DIGITS = 5  # this many digits of a number in a row identify too much of it


def _in_word(text: str, run: Run) -> bool:
    """The digit run is inside a word of letters (Wx2023ab: a password) or an address (123@,
    _123): letters on both sides, or an @ or _ beside it. A letter on one side only (ID110…,
    …002X6222…, 13812345678OK) is not a word it is part of."""
    left = text[run.start - 1] if run.start else ""
    right = text[run.end] if run.end < len(text) else ""
    letter = [c.isascii() and c.isalpha() for c in (left, right)]
    return all(letter) or any(c != "" and c in "@_" for c in (left, right))


def _specific(k: EntityKind) -> bool:
    """A kind with a shape beyond its length (a catch-all `number` has none)."""
    return bool(k.pattern or k.check or k.context)


def _asked(text: Text, at: int, utts: list[Utterance], context_s: float) -> str:
    """What the other parties said last before position `at` of `text` (within context_s)."""
    owner = next((o for o in text.owner[at:] if o is not None), None)
    if owner is None:
        return ""
    t = utts[owner[0]].start
    before = [u for u in utts if u.role != text.role and t - context_s <= u.end and u.start < t]
    return before[-1].text if before else ""


def _assign(run: Run, text: str, kinds: list[EntityKind], asked: str = "",
            ) -> list[tuple[int, int, str, EntityKind]]:
    """The entities in one digit run: the first kind that takes it whole, unless only a
    catch-all does and the run cuts into parts that specific kinds take."""
    whole = next((k for k in kinds if _takes(k, run.digits, text, run.start, asked)), None)
    if whole is not None and (_specific(whole) or len(run.groups) == 1):
        return [(run.start, run.end, whole.value(run.digits) or run.digits, whole)]
    if len(run.groups) > 1:
        parts = _cut(run, text, kinds, asked)
        if parts:
            return parts
    return [(run.start, run.end, whole.value(run.digits) or run.digits, whole)] if whole else []


def _takes(kind: EntityKind, digits: str, text: str, at: int, asked: str = "") -> bool:
    """`kind` takes the digits found at `at` of `text`: their shape, then a check or a
    context word just before them or in `asked` (the other party's last words)."""
    if kind.value(digits) is None:
        return False
    if not (kind.check or kind.context):
        return True
    before = text[max(0, at - kind.context_chars):at]
    return kind.valid(digits) or any(_said(w, before) or _said(w, asked) for w in kind.context)


def _said(word: str, text: str) -> bool:
    """`word` is in `text`, as written or by sound: 验证码 heard as 验证马 is still the
    keyword (tone-blind folded pinyin, speech/text.py)."""
    if not text:
        return False
    if word in text:
        return True
    w, t = _syllables(word), _syllables(text)
    return bool(w) and any(t[i:i + len(w)] == w for i in range(len(t) - len(w) + 1))


def _cut(run: Run, text: str, kinds: list[EntityKind], asked: str,
         ) -> list[tuple[int, int, str, EntityKind]]:
    """A run no kind takes whole, cut at its separators: from the left, the longest parts a
    specific kind takes; each stretch of parts left over, tried whole by every kind. Parts
    are tried only up to the longest specific kind: linear in the run's length."""
    digit_kinds = kinds
    longest = max((k.digits[1] for k in kinds if k.digits and _specific(k)), default=0)
    g = run.groups
    out: list[tuple[int, int, str, EntityKind]] = []
    i, rest = 0, -1  # rest: first group of the stretch not taken yet

    def leftover(upto: int) -> None:
        if rest < 0:
            return
        digits = "".join(x[2] for x in g[rest:upto])
        k = next((k for k in digit_kinds if _takes(k, digits, text, g[rest][0], asked)), None)
        if k is not None:
            out.append((g[rest][0], g[upto - 1][1], k.value(digits) or digits, k))

    while i < len(g):
        end, n = i, 0
        while end < len(g) and n + len(g[end][2]) <= longest:
            n += len(g[end][2])
            end += 1
        for j in range(end, i, -1):
            if j - i == len(g):
                continue  # the whole run was tried already
            digits = "".join(x[2] for x in g[i:j])
            k = next((k for k in digit_kinds
                      if _specific(k) and _takes(k, digits, text, g[i][0], asked)), None)
            if k is not None:
                leftover(i)
                rest = -1
                out.append((g[i][0], g[j - 1][1], k.value(digits) or digits, k))
                i = j
                break
        else:
            rest = i if rest < 0 else rest
            i += 1
    leftover(len(g))
    return out


def _text_spans(text: str, kind: EntityKind) -> list[tuple[int, int, str]]:
    out = []
    for m in compile_pattern(kind.pattern).finditer(text):
        a, b = m.span(1) if m.re.groups else m.span()
        part = text[a:b]
        if a == b or any(part.startswith(x) for x in kind.exclude):
            continue
        out.append((a, b, spoken_value(part)))
    return out


@lru_cache(maxsize=4096)
def _syllables(text: str) -> tuple[str, ...]:
    return tuple(syllables(text))


# what an address's symbols are said as: whole words (at, dot) or anywhere (艾特, 点)
_SPOKEN_WORDS = {"at": "@", "dot": ".", "underscore": "_"}
_SPOKEN_CHARS = (("艾特", "@"), ("下划线", "_"), ("横杠", "-"), ("中划线", "-"), ("点", "."))


def spoken_value(part: str) -> str:
    """A text entity's value as written: an address said as zhang san 艾特 qq 点 com becomes
    zhangsan@qq.com (lower case, no spaces); a name stays as it is."""
    if not re.search(r"[A-Za-z0-9]", part):
        return part
    part = "".join(_SPOKEN_WORDS.get(w.lower(), w) for w in part.split())  # linear: no regex
    for said, symbol in _SPOKEN_CHARS:
        part = part.replace(said, symbol)
    part = "".join(DIGITS.get(c, c) for c in part)
    return part.lower() if "@" in part else part  # an address is case-blind, a password not


def _entity(k: EntityKind, start: int, end: int, value: str, text: Text,
            utts: list[Utterance]) -> Entity:
    """Kind `k` found at characters [start, end) of the party's `text`."""
    pieces: list[Piece] = []
    for i in range(start, end):
        o = text.owner[i]
        if o is None:
            continue
        u, j = o
        if pieces and pieces[-1].utt == u and pieces[-1].end == j:
            pieces[-1].end = j + 1
        else:
            pieces.append(Piece(u, j, j + 1, 0.0, 0.0, utts[u].channel))
    for p in pieces:
        p.t0, p.t1 = _times(utts[p.utt], p.start, p.end)
    return Entity(k.id, k.type, text.role, pieces, value, keep=k.keep,
                  as_label=f"[{k.name('zh')}]" if k.as_label else "", label=k.label)


def _times(u: Utterance, a: int, b: int) -> tuple[float, float]:
    """Seconds in which characters [a, b) of `u` were said: the utterance's time shared out
    by syllables (digits, Chinese or Arabic, count one each)."""
    total = spoken_units(u.text)
    if total == 0:
        return u.start, u.end
    dur = u.end - u.start
    return (u.start + dur * spoken_units(u.text[:a]) / total,
            u.start + dur * spoken_units(u.text[:b]) / total)
