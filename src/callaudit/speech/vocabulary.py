"""The center's own words written right in the transcript people read.

Whisper base writes the center's terms as homophones: 工号 as 宫号 or 公号, 单号 as 单好,
the center's name and products as whatever sounds alike. Rules survive it (they match by
sound, speech/match.py), but reviewers read the transcript, search it and count words in
it. A term of the rule pack's `vocabulary` heard by its sound is written as the term.

Definition: a run of characters whose folded, toneless pinyin (speech/text.syllables) is
the term's, syllable for syllable, the whole term, is the term. It must also be whole words:
the run starts and ends at word boundaries of jieba's segmentation (the field's standard
segmenter), so 简单好吗 (简单/好/吗) keeps its 单好, while 我的宫号是 becomes 我的工号是;
and it must not be a dictionary word of its own: 头数 (a head count) is not 投诉. A longer
term is tried before a shorter one inside it (订单号 before 单号). Digits, Latin
letters and punctuation are never touched; the recognizer's own text stays in the result
(Utterance.heard).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

from callaudit.records import Utterance
from callaudit.speech.segment import jieba_module
from callaudit.speech.text import is_han, syllables


@lru_cache(maxsize=16384)
def _words(text: str) -> tuple[frozenset[int], frozenset[tuple[int, int]]]:
    """Character offsets of `text` where jieba's words start or end, and the (start, end)
    of its words of two or more characters (dictionary words: no HMM guesses)."""
    bounds, known, at = {0}, set(), 0
    for word in jieba_module().cut(text, HMM=False):
        if len(word) > 1:
            known.add((at, at + len(word)))
        at += len(word)
        bounds.add(at)
    return frozenset(bounds), frozenset(known)


@lru_cache(maxsize=64)
def _terms(terms: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(term, its syllables), longest first."""
    return tuple(sorted(((t, tuple(syllables(t))) for t in terms if len(t) >= 2),
                        key=lambda ts: -len(ts[0])))


def write_terms(text: str, terms: Sequence[str]) -> str:
    """`text` with each run of Han characters that sounds as a term of `terms` (whole words
    by jieba) written as the term. Idempotent; other characters are kept in place."""
    spoken = _terms(tuple(terms))
    if not spoken or not text:
        return text
    bounds, known = _words(text)
    han = [i for i, ch in enumerate(text) if is_han(ch)]
    if not han:
        return text
    sylls = syllables("".join(text[i] for i in han))
    if len(sylls) != len(han):
        return text  # a character pypinyin spells in two: leave the text as heard
    out = list(text)
    taken = [False] * len(han)
    for term, ts in spoken:
        n = len(ts)
        for k in range(len(han) - n + 1):
            a, b = han[k], han[k + n - 1] + 1
            if any(taken[k:k + n]) or b - a != n or tuple(sylls[k:k + n]) != ts:
                continue  # not a run of n Han characters, or another sound
            if a not in bounds or b not in bounds or (a, b) in known:
                continue  # part of a bigger word, across two, or a word of its own (头数)
            out[a:b] = list(term)
            taken[k:k + n] = [True] * n
    return "".join(out)


def apply(utts: list[Utterance], terms: Sequence[str]) -> list[Utterance]:
    """The utterances with the vocabulary written (`heard` keeps the recognizer's text of
    each one changed)."""
    out = []
    for u in utts:
        source = u.heard if u.heard is not None else u.text
        text = write_terms(source, terms)
        out.append(replace(u, text=text, heard=source if text != source else None))
    return out
