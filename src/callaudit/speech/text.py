"""Text normalisation: Simplified characters, spoken-syllable counts, pinyin.

Whisper writes Traditional characters for some Mandarin audio even with language="zh", so
every transcript goes through `to_simplified` before any rule or count sees it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from opencc import OpenCC
from pypinyin import Style, lazy_pinyin

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_DIGIT_WORDS = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
_LATIN_WORD = re.compile(r"[A-Za-z]+")


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


# Full-width digits and letters (１２３, ＡＢ) become ASCII; Chinese punctuation is kept.
_FULLWIDTH = {c: c - 0xFEE0 for r in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))
              for c in range(r[0], r[1] + 1)}


def to_simplified(text: str) -> str:
    return _t2s().convert(text.translate(_FULLWIDTH)).strip()


# Whisper sometimes loops on a token (稿,稿,稿,稿 ...); such runs would inflate speech rate
# and match counts, so a unit repeated 6+ times in a row is cut back to two. Not a digit's:
# 13800000000 and 1000000 are numbers (a loop of digits, 20+ in a row, is still cut).
LOOP_MIN = 6  # turns of one unit in a row that are a loop, not speech (对对对对 is speech)
NUMBER_LOOP_MIN = 20  # ... of a digit: a number may repeat one (138 0000 0000, 1000000)
_LOOP = re.compile(r"(.{1,6}?)\1{" + str(LOOP_MIN - 1) + ",}")
_NUMBER = re.compile(r"[0-9零〇一二三四五六七八九十百千万亿两幺点.,，]+")


def is_number(text: str) -> bool:
    """True when `text` is only digits (Arabic or Chinese) and their separators."""
    return bool(_NUMBER.fullmatch(text))


def collapse_repeats(text: str) -> str:
    def cut(m: re.Match[str]) -> str:
        unit = m.group(1)
        if is_number(unit) and len(m.group(0)) < NUMBER_LOOP_MIN * len(unit):
            return m.group(0)
        return unit * 2
    return _LOOP.sub(cut, text)


def is_han(ch: str) -> bool:
    return bool(_HAN.match(ch))


def spoken_units(text: str) -> int:
    """Syllables spoken, the unit of the speech-rate norm ("characters per minute").

    Each Han character is 1; each digit is 1 (Whisper writes 001 for 零零一); each * and ＊
    is 1 (a character masked as personal data, privacy/mask.py: a stored masked transcript
    keeps its rate, but for a masked Latin word, one per letter); a run of Latin letters
    counts one per letter if it is an all-caps abbreviation (VIP = 3), else one per word
    (ok = 1); punctuation and spaces are 0.
    """
    n = sum(1 for ch in text if is_han(ch) or ch.isdigit() or ch in "*＊")
    for w in _LATIN_WORD.findall(text):
        n += len(w) if w.isupper() else 1
    return n


def spell_digits(text: str) -> str:
    return "".join(_DIGIT_WORDS.get(ch, ch) for ch in text)


def speakable(text: str) -> str:
    """Only what is pronounced: Han characters and digits (spelled), for phonetic matching."""
    return "".join(ch for ch in spell_digits(text) if is_han(ch))


# Tone-insensitive pinyin folded for the confusions telephone audio and regional accents
# cause: -ng/-n finals (nin/ning), retroflex/flat initials (zh/z, ch/c, sh/s).
_FOLDS = ((re.compile(r"^zh"), "z"), (re.compile(r"^ch"), "c"), (re.compile(r"^sh"), "s"),
          (re.compile(r"ng$"), "n"))


@lru_cache(maxsize=65536)
def fold(syllable: str) -> str:
    """A toneless pinyin syllable folded as the rules hear it: zhang -> zan, shi -> si."""
    for pat, rep in _FOLDS:
        syllable = pat.sub(rep, syllable)
    return syllable


def syllables(text: str) -> list[str]:
    """Folded pinyin, one syllable per character of `speakable(text)`."""
    return list(_syllables(text))


@lru_cache(maxsize=65536)
def _syllables(text: str) -> tuple[str, ...]:
    # every rule reads the same utterances (alone, in pairs, in runs): pinyin once per text
    chars = speakable(text)
    if not chars:
        return ()
    return tuple(fold(s) for s in lazy_pinyin(chars, style=Style.NORMAL, errors="replace"))
