"""Words of Chinese text as jieba (the field's standard segmenter) cuts them.

Segmenters of our own (jieba.Tokenizer objects apart from jieba's default one, which
speech/vocabulary.py uses as it is): jieba's dictionary, plus, for a segmenter made with
`words`, those words (a rule pack's vocabulary and script phrases: 工号 or a product name is
one word for the word counts, never cut in two). A segmenter is a function of its word set
only: the same text cuts the same way in every process, whatever was cut before (the
transcript index deletes rows by the terms it once wrote: results/search.py). Matching rules
by sound is not done here (speech/match.py); this is for indexing, search and counting words.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from callaudit.speech.text import is_han

_lock = threading.Lock()


@lru_cache(maxsize=1)
def jieba_module() -> Any:
    """The jieba module, quiet (its "Building prefix dict" lines on stderr)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


@lru_cache(maxsize=8)
def _tokenizer(words: frozenset[str]) -> Any:
    tk = jieba_module().Tokenizer()
    with _lock:
        for w in sorted(words):
            tk.add_word(w)
    return tk


def is_word(token: str) -> bool:
    """A token that is a word: it holds a Han character, a Latin letter or a digit
    (not punctuation, not spaces)."""
    return any(is_han(ch) or ch.isalnum() for ch in token)


def cut(text: str, words: Iterable[str] = (), search: bool = False) -> list[str]:
    """The words of `text` in order, punctuation and spaces left out, cut by jieba's
    dictionary plus `words` (each of two or more characters made one word). `search=True`
    also gives the shorter words inside a long one (jieba's cut_for_search: 客服中心 → 客服,
    中心, 客服中心), for an index that finds a part of a compound."""
    tk = _tokenizer(frozenset(w.strip() for w in words if len(w.strip()) >= 2))
    tokens = tk.cut_for_search(text, HMM=False) if search else tk.cut(text, HMM=False)
    return [t for t in tokens if is_word(t)]
