"""Phrase matching that survives the recognizer.

Whisper base on telephone audio writes homophones (工号 -> 公号, 为您 -> 外宁) and sometimes
Traditional characters. Exact string rules would fail good agents for the recognizer's
mistakes, so phrases are matched on tone-less, accent-folded pinyin, over a stream of
consecutive utterances so a phrase split across two VAD regions is still found.

Similarity: each syllable is two tokens, its initial and its final (wei = w + ei), and the
score is 1 - (token edits) / (tokens), so a near-homophone (为 wei / 外 wai) costs half a
syllable and an unrelated syllable a whole one. Letter-level similarity was tried first and
rejected: 感谢您的耐心 scored 0.89 against 感谢您的来电, since pinyin letters repeat a lot.

Short phrases get a stricter bar: two syllables carry too little evidence, so 您好 must not
be "found" in a noise hallucination that merely sounds close. Three syllables may differ in
one initial or final (不客气 heard as 不客请) where the rule's threshold allows it.

Key syllables: a phrase whose meaning turns on one syllable marks it in brackets, and a
fuzzy match must have it exactly (same toneless syllable): 请问[还]有什么可以帮您 asks for
more at the end of a call, 请问有什么可以帮您 (similarity 0.9) opens it and must not count.

Long lists (a center's 10,000 forbidden phrases): `find_any`, `covered` and the forbid check
run `find` only on the phrases a list's index says may be in the stream (phrase_index.py),
which gives the same hits as every phrase in turn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from callaudit.records import Utterance
from callaudit.speech.text import is_han, speakable, spell_digits, syllables

SHORT_PHRASE_SYLLABLES = 2  # phrases this short need SHORT_PHRASE_MIN similarity at least
SHORT_PHRASE_MIN = 0.9


@dataclass(frozen=True)
class Hit:
    phrase: str
    score: float  # 1.0 = same pinyin; exact characters also give 1.0
    first: int  # index of first matched syllable in the stream
    last: int  # index of last matched syllable (inclusive)


_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q",
             "x", "r", "z", "c", "s", "y", "w")
_TOKENS: dict[str, str] = {}


def _token(t: str) -> str:
    """One private-use character per distinct initial or final, so rapidfuzz compares tokens."""
    if t not in _TOKENS:
        _TOKENS[t] = chr(0xE000 + len(_TOKENS))
    return _TOKENS[t]


@lru_cache(maxsize=65536)
def _code(syllable: str) -> str:
    ini = next((i for i in _INITIALS if syllable.startswith(i) and len(syllable) > len(i)), "")
    return _token("I" + ini) + _token("F" + syllable[len(ini):])


def encode(sylls: Sequence[str]) -> str:
    return "".join(_code(s) for s in sylls)


@dataclass
class Stream:
    """The speakable syllables of a run of utterances, each mapped back to where it was said."""

    utterances: list[Utterance]
    sylls: list[str]
    where: list[tuple[int, int]]  # (utterance index in `utterances`, char index in its text)
    text: str  # the speakable characters, for exact matching
    code: str = ""  # two tokens per syllable (see encode)

    @classmethod
    def of(cls, utterances: Sequence[Utterance]) -> Stream:
        utts = list(utterances)
        sylls: list[str] = []
        where: list[tuple[int, int]] = []
        chars: list[str] = []
        for ui, u in enumerate(utts):
            for ci, ch in enumerate(u.text):
                spelled = spell_digits(ch)
                if not is_han(spelled):
                    continue
                chars.append(spelled)
                where.append((ui, ci))
        text = "".join(chars)
        sylls = syllables(text) if text else []
        return cls(utts, sylls, where, text, encode(sylls))

    def span(self, hit: Hit) -> list[tuple[Utterance, str]]:
        """The utterances a hit touches, each with the characters of it that matched."""
        out: dict[int, list[int]] = {}
        for k in range(hit.first, hit.last + 1):
            ui, ci = self.where[k]
            out.setdefault(ui, []).append(ci)
        return [
            (self.utterances[ui], self.utterances[ui].text[min(cis) : max(cis) + 1])
            for ui, cis in out.items()
        ]


@lru_cache(maxsize=4096)
def brackets_pair(phrase: str) -> bool:
    """Whether a phrase's key-syllable brackets pair, one level deep (请问[还]有 ...)."""
    depth = 0
    for ch in phrase:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth not in (0, 1):
            return False
    return depth == 0


@lru_cache(maxsize=65536)
def parse_phrase(phrase: str) -> tuple[str, tuple[int, ...]]:
    """('请问[还]有…') -> ('请问还有…', (2,)): the phrase without brackets, and the positions
    (among its speakable syllables) of its key syllables."""
    plain, keys, inside, n = [], [], False, 0
    for ch in phrase:
        if ch in "[]":
            inside = ch == "["
            continue
        plain.append(ch)
        if is_han(spell_digits(ch)):
            if inside:
                keys.append(n)
            n += 1
    return "".join(plain), tuple(keys)


@lru_cache(maxsize=4096)
def _phrase_code(phrase: str) -> str:
    return encode(syllables(parse_phrase(phrase)[0]))


@lru_cache(maxsize=65536)
def _speakable(plain: str) -> str:  # a phrase's characters for exact matching, once per phrase
    return speakable(plain)


def _keeps_keys(target: str, window: str, keys: tuple[int, ...]) -> bool:
    """Every key syllable of the target aligned to the same syllable in the window."""
    equal = [(o.src_start, o.src_end) for o in Levenshtein.opcodes(target, window)
             if o.tag == "equal"]
    return all(any(a <= 2 * k and 2 * k + 2 <= b for a, b in equal) for k in keys)


def required_score(phrase_len: int, threshold: float) -> float:
    return max(threshold, SHORT_PHRASE_MIN) if phrase_len <= SHORT_PHRASE_SYLLABLES else threshold


def find(stream: Stream, phrase: str, threshold: float, start: int = 0,
         short_floor: bool = True) -> Hit | None:
    """Best occurrence of `phrase` in `stream` (from syllable `start` on) scoring at least
    the threshold (a phrase of SHORT_PHRASE_SYLLABLES or fewer at least SHORT_PHRASE_MIN,
    unless not `short_floor`), or None."""
    plain, keys = parse_phrase(phrase)
    target = _phrase_code(phrase)
    n = len(target) // 2
    if n == 0 or len(stream.sylls) <= start:
        return None
    exact = stream.text.find(_speakable(plain), start)
    if exact >= 0:
        return Hit(plain, 1.0, exact, exact + n - 1)
    need = required_score(n, threshold) if short_floor else threshold
    # Cheap bound first (C code over the whole stream): no substring comes close -> no window.
    if fuzz.partial_ratio(target, stream.code[2 * start:]) / 100 < need - 0.1:
        return None
    best: Hit | None = None
    total = len(stream.sylls)
    for size in (n, n - 1, n + 1):  # one syllable dropped or inserted by the recognizer
        if size < 1 or size > total - start:
            continue
        for i in range(start, total - size + 1):
            window = stream.code[2 * i:2 * (i + size)]
            score = Levenshtein.normalized_similarity(target, window)
            if score >= need and (best is None or score > best.score) and \
                    (not keys or _keeps_keys(target, window, keys)):
                best = Hit(plain, round(score, 3), i, i + size - 1)
    return best


SLOT = "…"  # a script's part that differs from call to call (a name, an agent number)


def find_script(stream: Stream, script: str, threshold: float) -> Hit | None:
    """A whole script (您好，这里是…客户服务中心，工号…，很高兴为您服务) in `stream`, its
    parts between slots in order. The hit spans them all and scores their mean. Heard part
    by part: each part at the threshold (one misheard syllable of a two-syllable phrase, 您好
    heard as 也好, fails the phrase but not the script). Else heard whole by its sound:
    each part at SCRIPT_PART_MIN at least, and the parts' scores, weighted by their
    syllables, at the threshold (也好，这里是…客户服务中心工号808很高性外面服务: two parts
    misheard, 0.88 over the whole)."""
    parts = [p for p in script.split(SLOT) if parse_phrase(p)[0].strip("，,。 ")]
    hit = _parts_in_order(stream, parts, threshold, threshold, True) or \
        _parts_in_order(stream, parts, SCRIPT_PART_MIN, threshold, False)
    return Hit(script, hit.score, hit.first, hit.last) if hit else None


SCRIPT_PART_MIN = 0.5  # a script heard whole by its sound: the least each part may score


def _parts_in_order(stream: Stream, parts: list[str], part_min: float, mean_min: float,
                    short_floor: bool) -> Hit | None:
    pos, hits, sizes = 0, [], []
    for part in parts:
        hit = find(stream, part, part_min, pos, short_floor)
        if hit is None:
            return None
        hits.append(hit)
        sizes.append(len(_phrase_code(part)) // 2)
        pos = hit.last + 1
    if not hits:
        return None
    mean = sum(h.score * n for h, n in zip(hits, sizes, strict=True)) / sum(sizes)
    if mean < mean_min:
        return None
    return Hit("", round(mean, 3), hits[0].first, hits[-1].last)


def find_opening_part(stream: Stream, phrases: Sequence[str], threshold: float) -> Hit | None:
    """A phrase of three or more syllables heard without its first or its last syllable at
    the very start of `stream` (a reply's first words, where a fast speaker's first syllable
    is lost at the turn's edge: 不客气 heard as 客气): the Hit names the whole phrase and
    spans the part heard. The part must score the threshold (two syllables: the short bar),
    keep the phrase's key syllables, and be a clause of its own (客气，再见 is the reply;
    客气什么 is not)."""
    best: Hit | None = None
    for phrase in phrases:
        plain, keys = parse_phrase(phrase)
        sylls = syllables(plain)
        n = len(sylls)
        if n < 3:
            continue
        for drop in (0, n - 1):
            if drop in keys:
                continue
            part = sylls[1:] if drop == 0 else sylls[:-1]
            window = stream.code[:2 * len(part)]
            if len(window) < 2 * len(part) or not _clause_ends(stream, len(part) - 1):
                continue
            score = Levenshtein.normalized_similarity(encode(part), window)
            if score >= required_score(len(part), threshold) and (best is None or score > best.score):
                best = Hit(plain, round(score, 3), 0, len(part) - 1)
    return best


def near_clause(text: str, phrases: Sequence[str], min_score: float) -> str | None:
    """The phrase of as many syllables as `text`'s first clause that sounds at least
    `min_score` like it (tokens as in `find`), the closest; None when none does. Too weak
    to credit a phrase; strong enough that a failure resting on it needs a person (默克请,
    再见 after a caller's 谢谢: 不客气 with two of its three finals and one initial
    misheard, 0.5)."""
    first = _CLAUSE.split(text.strip(), maxsplit=1)[0]
    code = encode(syllables(first))
    best, score = None, min_score
    for phrase in phrases:
        target = _phrase_code(phrase)
        if target and len(target) == len(code):
            s = Levenshtein.normalized_similarity(target, code)
            if s >= score:
                best, score = parse_phrase(phrase)[0], s
    return best


_CLAUSE = re.compile(r"[，,。.！!？?；;、\s]+")


def _clause_ends(stream: Stream, k: int) -> bool:
    """Whether the stream's syllable `k` ends its utterance or a clause of it."""
    ui, ci = stream.where[k]
    rest = stream.utterances[ui].text[ci + 1:ci + 2]
    return not rest or not is_han(spell_digits(rest))
