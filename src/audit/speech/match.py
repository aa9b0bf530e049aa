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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from audit.records import Utterance
from audit.speech.text import is_han, spell_digits, syllables

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


def _keeps_keys(target: str, window: str, keys: tuple[int, ...]) -> bool:
    """Every key syllable of the target aligned to the same syllable in the window."""
    equal = [(o.src_start, o.src_end) for o in Levenshtein.opcodes(target, window)
             if o.tag == "equal"]
    return all(any(a <= 2 * k and 2 * k + 2 <= b for a, b in equal) for k in keys)


def required_score(phrase_len: int, threshold: float) -> float:
    return max(threshold, SHORT_PHRASE_MIN) if phrase_len <= SHORT_PHRASE_SYLLABLES else threshold


def find(stream: Stream, phrase: str, threshold: float, start: int = 0) -> Hit | None:
    """Best occurrence of `phrase` in `stream` (from syllable `start` on) scoring at least
    the threshold, or None."""
    plain, keys = parse_phrase(phrase)
    target = _phrase_code(phrase)
    n = len(target) // 2
    if n == 0 or len(stream.sylls) <= start:
        return None
    exact = stream.text.find("".join(ch for ch in spell_digits(plain) if is_han(ch)), start)
    if exact >= 0:
        return Hit(plain, 1.0, exact, exact + n - 1)
    need = required_score(n, threshold)
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
    """A whole script (您好，这里是…客户服务中心，工号…，很高兴为您服务) in `stream`: its
    parts between slots found in order, each at the threshold. The hit spans them all and
    scores their mean. One misheard syllable of a two-syllable phrase (您好 heard as 也好)
    fails the phrase but not the script it is part of."""
    parts = [p for p in script.split(SLOT) if parse_phrase(p)[0].strip("，,。 ")]
    pos, hits = 0, []
    for part in parts:
        hit = find(stream, part, threshold, pos)
        if hit is None:
            return None
        hits.append(hit)
        pos = hit.last + 1
    if not hits:
        return None
    return Hit(script, round(sum(h.score for h in hits) / len(hits), 3), hits[0].first, hits[-1].last)


def covered(stream: Stream, phrases: Sequence[str], threshold: float) -> set[int]:
    """The indices of the stream's syllables inside any occurrence of any of `phrases`."""
    out: set[int] = set()
    for p in phrases:
        start = 0
        while (hit := find(stream, p, threshold, start)) is not None:
            out |= set(range(hit.first, hit.last + 1))
            start = hit.last + 1
    return out


def find_any(stream: Stream, phrases: Sequence[str], threshold: float) -> Hit | None:
    best: Hit | None = None
    for p in phrases:
        hit = find(stream, p, threshold)
        if hit and (best is None or hit.score > best.score or
                    (hit.score == best.score and hit.first < best.first)):
            best = hit
    return best
