"""What Whisper wrote that was not in the audio, and how to tell.

Subtitle-credit lines it invents on noise or music, segments it calls silence, a sentence
written again after the audio ended or straight after itself, decoding loops, text
longer than its audio can hold, and text on a sound that holds no voice. The recognizer
(asr.py) drops, decodes again or doubts what these find; nothing here knows about windows
or models.
"""

from __future__ import annotations

import re
from typing import Any

from callaudit.speech.text import (
    LOOP_MIN,
    NUMBER_LOOP_MIN,
    is_number,
    spoken_units,
)

# Lines Whisper invents on noise or music: subtitle credits from its training data ("请不吝
# 点赞 订阅 转发 打赏支持明镜与点点栏目", "字幕由…提供", "谢谢观看"). An utterance is dropped only
# when its whole text is such a line: a caller who says 我想取消订阅 keeps every word.
_CREDIT_TOKENS = ("点赞", "订阅", "转发", "打赏", "关注", "分享", "收藏", "三连", "明镜", "点点栏目")
_CREDIT_LINES = [re.compile(p) for p in (
    # a call to like and subscribe: only credit words and glue, at least two credit words
    r"(请|不吝|欢迎|大家|记得|一键)*(点赞|订阅|转发|打赏|支持|关注|分享|收藏|评论|三连|和|与|及|并|的|"
    r"明镜|点点|栏目|频道|我们|本|一下)+",
    # who made the subtitles: a credit names people; it does not talk to anybody
    r"(?!.*[我你您帮要吗呢吧没不])(中文)?字幕(由.{1,16}(提供|制作)|组.{0,12}|制作.{0,12}|"
    r"翻译.{0,12}|校对.{0,12}|志愿者.{0,12}|by.{1,12})",
    r"(谢谢|感谢)(大家|各位)?(的)?(收看|观看|观赏|收听)+(本期|本集|节目|视频)?",
    r"(by|BY|By)?索兰娅",
    # a song's credits, said of hum and music: only credit words, at least two of them
    r"(作词|作曲|编曲|混音|演唱|监制)(作词|作曲|编曲|混音|演唱|监制)+",
)]
_PUNCT = re.compile(r"[\s\W_]+")  # spaces and punctuation (CJK characters are word characters)


def is_credit_line(text: str) -> bool:
    """True when `text` is, as a whole, a subtitle-credit line Whisper invents on non-speech
    ("请不吝点赞订阅转发打赏支持明镜与点点栏目", "字幕由Amara.org社区提供", "谢谢观看"). A
    short reply that shares a word with them (订阅, 请关注, 支持, 字幕没有了) is speech."""
    bare = _PUNCT.sub("", text)
    if not bare:
        return False
    if _CREDIT_LINES[0].fullmatch(bare):
        return sum(bare.count(t) for t in _CREDIT_TOKENS) >= 2
    return any(p.fullmatch(bare) for p in _CREDIT_LINES[1:])


def implausible_text(text: str, duration: float, max_rate: float) -> bool:
    """Text no `duration` s of speech holds: a credit line, or more than `max_rate`
    syllables per second (of at least 1 s)."""
    return is_credit_line(text) or spoken_units(text) > max_rate * max(duration, 1.0)


# A region's audio with less voice than this (s) holds no syllable: every Mandarin syllable
# has a voiced vowel (audio/voicing.py). Measured: 0.00 s on each of 16 bursts of noise
# (0.5 s) on which Whisper wrote 第1, 试试, 创作曲, 啊啊 (12 of 16); the least voiced region
# of real speech in realzh (14 clips, 16 kHz and telephone) 0.09 s (a quiet 0.29 s meeting
# turn), the one with no syllable nucleus at all 0.10 s.
MIN_VOICED_S = 0.03
# Text of this many syllables or more, faster than anybody speaks over its region's speech
# (more than max_syllables_per_s; fast agents read 6.5/s, 390 characters/minute), in a
# region at least this loud, is kept but doubted: the recognizer may have written what was
# not said there. Only loud regions: in quiet far speech the VAD keeps a fraction of what
# is said, and the words of the rest land in it (realzh's meeting clip, -34 to -47 dBFS:
# 4 to 14 real characters in regions of 0.3-1.3 s, 9-20 a second, heard by plain
# faster-whisper too); a close-talking agent is at -20 to -30.
DENSE_MIN_UNITS = 4
DENSE_MIN_DBFS = -30.0


def unsupported(units: int, duration: float, voiced_s: float, max_rate: float,
                level_dbfs: float = 0.0) -> str:
    """Why `units` syllables written for a region of `duration` s of speech (VAD) at
    `level_dbfs`, `voiced_s` s of it voiced, cannot all have been said there: "no_voice"
    when the audio holds no voice at all (a click, a knock, a burst of line noise: no
    syllable; the words are dropped), "too_dense" when `DENSE_MIN_UNITS` or more come faster
    than `max_rate` per second in a region at least `DENSE_MIN_DBFS` loud (kept, doubted);
    "" when they can have been."""
    if units <= 0:
        return ""
    if voiced_s < MIN_VOICED_S:
        return "no_voice"
    if units >= DENSE_MIN_UNITS and units > max_rate * duration and level_dbfs >= DENSE_MIN_DBFS:
        return "too_dense"
    return ""


def implausible(segs: list[Any], duration: float, max_rate: float) -> bool:
    """A window's segments that are a decoding loop: more than `max_rate` syllables per
    second of its `duration`, or a segment whose text compresses over 2.4 (Whisper's own
    threshold)."""
    text = "".join(s.text for s in segs)
    return (spoken_units(text) > max_rate * max(duration, 1.0)
            or any(s.compression_ratio > 2.4 for s in segs))


def heard_words(segs: list[Any]) -> list[tuple[Any, Any]]:
    """(word, its segment) of one window's segments, in the decoder's order, without what
    Whisper wrote that was not in the audio: segments it calls silence (`_is_noise`), a
    sentence written again after the audio ended (`_stacked_tail`) or straight after itself
    (`_said_twice`), and a decoding loop cut back to two turns (`_cut_loop`)."""
    words = [(w, seg) for seg in segs if not _is_noise(seg) for w in seg.words or []]
    words = words[:len(words) - _stacked_tail([w for w, _ in words])]
    return _cut_loop(_said_twice(words))


def _stacked_tail(words: list[Any], min_run: int = 3) -> int:
    """How many words at the end were written after the audio ran out: the aligner gives
    them no time at all, all at one instant, and they say again what was said before
    (measured on real speech: a 19-character sentence read once came back twice, the second
    time 19 words of 0 s at 5.54 s). A short last word or two squeezed into the last frame
    (再见) are speech, and kept."""
    n = 0
    while n < len(words) and _length(words[-1 - n]) <= 0.0 and words[-1 - n].end == words[-1].end:
        n += 1
    if n < min_run:
        return 0
    tail = _PUNCT.sub("", "".join(w.word for w in words[-n:]))
    return n if tail and tail in _PUNCT.sub("", "".join(w.word for w in words[:-n])) else 0


def _said_twice(words: list[tuple[Any, Any]], min_chars: int = 6,
                min_run: int = 3) -> list[tuple[Any, Any]]:
    """Words with a sentence written twice in a row (X X, X of `min_chars`+ characters) told
    once, when the aligner found no audio for part of it: `min_run`+ words of 0 s at one
    instant inside the pair. Measured on real speech with NumPy's BLAS on one thread: a
    sentence read once came back as 我想问我在冰台新区有房我想问我在冰台新区有房, the first
    copy's last words and the second's first all at 4.06 s, the rest of both timed. Each
    word of the kept copy takes the time of whichever copy has one. A sentence people do say
    twice is timed twice, and kept."""
    keys = [_PUNCT.sub("", w.word) for w, _ in words]
    n = len(words)
    for i in range(n):
        if not keys[i]:
            continue
        for u in range(1, (n - i) // 2 + 1):
            if keys[i + u] != keys[i] or keys[i:i + u] != keys[i + u:i + 2 * u] \
                    or len("".join(keys[i:i + u])) < min_chars \
                    or not _zero_run([w for w, _ in words[i:i + 2 * u]], min_run):
                continue
            once = [b if _length(a[0]) <= 0 < _length(b[0]) else a
                    for a, b in zip(words[i:i + u], words[i + u:i + 2 * u], strict=True)]
            return words[:i] + once + _said_twice(words[i + 2 * u:], min_chars, min_run)
    return words


def _length(word: Any) -> float:
    return float(word.end - word.start)


def _zero_run(words: list[Any], min_run: int) -> bool:
    """Whether `min_run`+ consecutive words have no duration, all at one instant."""
    run = 0
    for k, w in enumerate(words):
        if _length(w) > 0:
            run = 0
        elif run and w.end == words[k - 1].end:
            run += 1
        else:
            run = 1  # a zero-length word at another instant starts a run of its own
        if run >= min_run:
            return True
    return False


def _cut_loop(words: list[tuple[Any, Any]], max_unit: int = 6) -> list[tuple[Any, Any]]:
    """Words with a unit of 1-`max_unit` words said `LOOP_MIN`+ times in a row cut back to
    two turns. Done on the window's words before they are placed, because a loop's words
    are spread over every region after it (a 12 s window of five regions came back as
    按钮，按钮，… in all five), where the text-level cut no longer sees them."""
    keys = [_PUNCT.sub("", w.word) for w, _ in words]
    out: list[tuple[Any, Any]] = []
    i = 0
    while i < len(words):
        for u in range(1, max_unit + 1):
            unit = keys[i:i + u]
            if not any(unit):
                continue
            reps = 1
            while keys[i + reps * u:i + (reps + 1) * u] == unit:
                reps += 1
            if reps >= (NUMBER_LOOP_MIN if is_number("".join(unit)) else LOOP_MIN):
                out.extend(words[i:i + 2 * u])
                i += reps * u
                break
        else:
            out.append(words[i])
            i += 1
    return out


def _is_noise(seg: object) -> bool:
    # Whisper's own silence test: likely no speech and a low-confidence decode.
    return getattr(seg, "no_speech_prob", 0) > 0.6 and getattr(seg, "avg_logprob", 0) < -1.0
