"""Long phrase lists: which of a list's phrases can be found in a stream at all.

`match.find` scores one phrase against every window of a stream: fine for the default
pack's lists (a few dozen phrases), not for a center's whole forbidden-word list (10,000
phrases were seconds of matching per call). A PhraseIndex, built once per list (cached by
its phrases), names the phrases of it that may occur in a stream; `find` then runs on those
alone, so every hit is the one the whole list gives (tests/speech/test_phrase_index.py;
bench/phrase_scale.py measures the cost).

Why a phrase it leaves out cannot be found. `find` has two ways to a hit:

- exactly: the phrase's speakable characters are in the stream's text. Then so is each of
  their character bigrams (the character, for a one-character phrase); a phrase missing one
  cannot be found this way.
- by sound: a window of m = n-1, n or n+1 syllables (2m tokens, initial and final:
  match.encode) within Levenshtein distance d of the phrase's 2n tokens scores
  1 - d / (2 max(n, m)), and must score `need` (the threshold; the short bar for a short
  phrase), so d <= D_m = floor((1 - need) 2 max(n, m)). Ukkonen's q-gram lemma, counted
  closer: an edit that replaces or drops a token of the phrase breaks at most q of its
  2n - q + 1 token q-grams (counted by position), one inserted between two of its tokens at
  most q - 1, so the others are in the window, hence in the stream. A window of n or n-1
  syllables breaks at most q D_n (n-1: two of its edits are drops), one of n+1 at most
  q D_(n+1) - 2 (two of its edits are insertions; no such window when D_(n+1) < 2). A
  phrase of which the stream holds fewer token bigrams, or trigrams, than the rest cannot
  be found this way.

A phrase either way may take is a candidate. Key syllables ([还]) only narrow `find`
further, and `find`'s own cheap bound (partial_ratio) only drops what scores too low: both
are left to `find`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from callaudit.speech.match import Hit, Stream, encode, find, parse_phrase, required_score
from callaudit.speech.text import speakable, syllables

INDEX_MIN = 64  # a list shorter than this is cheaper to scan whole than to look up
_state = {"on": True}  # bench/phrase_scale.py and the tests switch it off: "before"
_NEVER = 1 << 30  # a count no stream reaches: a phrase with nothing to say is never found


def enabled() -> bool:
    return _state["on"]


@contextmanager
def disabled() -> Iterator[None]:
    """Every list scanned whole (as before the index), within the block."""
    was, _state["on"] = _state["on"], False
    try:
        yield
    finally:
        _state["on"] = was


class _Postings:
    """Each gram's phrases (by position in the list), a phrase once per time it holds the
    gram: a stream's count of a phrase is then a sum over the stream's distinct grams."""

    def __init__(self, grams_of: list[Counter[str]]) -> None:
        where: dict[str, list[int]] = {}
        for pid, grams in enumerate(grams_of):
            for g, k in grams.items():
                where.setdefault(g, []).extend([pid] * k)
        self.span: dict[str, tuple[int, int]] = {}
        flat: list[int] = []
        for g, pids in where.items():
            self.span[g] = (len(flat), len(flat) + len(pids))
            flat += pids
        self.pids = np.array(flat, dtype=np.intp)
        self.size = len(grams_of)

    def count(self, grams: set[str]) -> np.ndarray:
        spans = [self.span[g] for g in grams if g in self.span]
        if not spans:
            return np.zeros(self.size, dtype=np.intp)
        return np.bincount(np.concatenate([self.pids[a:b] for a, b in spans]), minlength=self.size)


def _grams(s: str, q: int) -> set[str]:
    return {s[i:i + q] for i in range(len(s) - q + 1)}


def _grams_kept(n: int, need: float, q: int) -> int:
    """The fewest of a phrase's token q-grams (by position) that a window scoring `need`
    against its n syllables keeps (module docstring)."""
    d_n = math.floor((1 - need) * 2 * n + 1e-9)  # the most edits a window of n or n-1 may have
    d_up = math.floor((1 - need) * 2 * (n + 1) + 1e-9)  # ... of n+1
    broken = max(q * d_n, q * d_up - 2 if d_up >= 2 else 0)
    return 2 * n - q + 1 - broken


class PhraseIndex:
    """A phrase list indexed by its token bigrams and trigrams (by sound) and its character
    bigrams (exactly)."""

    SOUND_Q = (2, 3)

    def __init__(self, phrases: Sequence[str]) -> None:
        self.phrases = tuple(phrases)
        self.as_list = list(self.phrases)
        sizes, codes, exact, exact_needed = [], [], [], []
        for p in self.phrases:
            plain = parse_phrase(p)[0]
            code = encode(syllables(plain))  # as match._phrase_code, without filling its cache
            sizes.append(len(code) // 2)
            codes.append(code)
            chars = speakable(plain)
            grams = _grams(chars, 2) or set(chars)
            exact.append(Counter(grams))
            exact_needed.append(len(grams) if sizes[-1] else _NEVER)  # find: no syllable, no hit
        self.n = np.array(sizes, dtype=np.intp)
        self._sound = {q: _Postings([Counter(c[i:i + q] for i in range(len(c) - q + 1)) for c in codes])
                       for q in self.SOUND_Q}
        self._exact = _Postings(exact)
        self._exact_needed = np.array(exact_needed, dtype=np.intp)
        self._needed: dict[tuple[float, bool], dict[int, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.phrases)

    def sound_needed(self, threshold: float, short_floor: bool = True) -> dict[int, np.ndarray]:
        """Per q, per phrase, how many of its token q-grams (by position) a stream must hold
        for a window of it to score `find`'s bar at `threshold`."""
        key = (threshold, short_floor)
        if key not in self._needed:
            out = {q: np.full(len(self.n), _NEVER, dtype=np.intp) for q in self.SOUND_Q}
            for size in np.unique(self.n):
                n = int(size)
                if n == 0:  # find: no syllable, no hit
                    continue
                need = required_score(n, threshold) if short_floor else threshold
                for q in self.SOUND_Q:
                    out[q][self.n == size] = _grams_kept(n, need, q)
            self._needed[key] = out
        return self._needed[key]

    def candidates(self, stream: Stream, threshold: float, short_floor: bool = True) -> list[str]:
        """The phrases `find(stream, p, threshold, short_floor=short_floor)` may find, in the
        list's order (a phrase given twice, twice); the others it cannot."""
        if not self.phrases or not stream.sylls:
            return []
        needed = self.sound_needed(threshold, short_floor)
        may = np.ones(len(self.n), dtype=bool)
        for q in self.SOUND_Q:
            may &= self._sound[q].count(_grams(stream.code, q)) >= needed[q]
        text = stream.text
        may |= self._exact.count(_grams(text, 2) | set(text)) >= self._exact_needed
        return [self.phrases[i] for i in np.flatnonzero(may)]


KEPT = 16  # lists indexed at once (an index of 10,000 phrases is about 11 MB)


@lru_cache(maxsize=KEPT)
def _index(phrases: tuple[str, ...]) -> PhraseIndex:
    return PhraseIndex(phrases)


_BY_ID: dict[int, PhraseIndex] = {}  # the same list object again: compared, not hashed


def index_of(phrases: Sequence[str]) -> PhraseIndex:
    """The index of a phrase list, built on first use and kept (by the phrases) for the
    next stream, call and rule that reads the same list. The list a rule holds is found
    again by its identity and checked phrase by phrase (a hash of 10,000 phrases costs more
    than the look-up it saves); another list with the same phrases, by their hash."""
    idx = _BY_ID.get(id(phrases))
    if idx is not None and len(idx) == len(phrases) and \
            (idx.as_list == phrases if isinstance(phrases, list) else idx.phrases == tuple(phrases)):
        return idx
    idx = _index(tuple(phrases))
    if len(_BY_ID) >= KEPT:
        _BY_ID.clear()
    _BY_ID[id(phrases)] = idx
    return idx


def shortlist(stream: Stream, phrases: Sequence[str], threshold: float,
              short_floor: bool = True) -> Sequence[str]:
    """The phrases of `phrases` that `find` may find in `stream`, in order: a short list (or
    with the index switched off) whole, a long one through its index."""
    if len(phrases) < INDEX_MIN or not enabled():
        return phrases
    return index_of(phrases).candidates(stream, threshold, short_floor)


def covered(stream: Stream, phrases: Sequence[str], threshold: float) -> set[int]:
    """The indices of the stream's syllables inside any occurrence of any of `phrases`."""
    out: set[int] = set()
    for p in shortlist(stream, phrases, threshold):  # a long list: only what may be found
        start = 0
        while (hit := find(stream, p, threshold, start)) is not None:
            out |= set(range(hit.first, hit.last + 1))
            start = hit.last + 1
    return out


def find_any(stream: Stream, phrases: Sequence[str], threshold: float) -> Hit | None:
    """The best occurrence of any of `phrases` (highest score, then earliest); None when
    none is found."""
    best: Hit | None = None
    for p in shortlist(stream, phrases, threshold):  # a long list: only what may be found
        hit = find(stream, p, threshold)
        if hit and (best is None or hit.score > best.score or
                    (hit.score == best.score and hit.first < best.first)):
            best = hit
    return best
