"""Speech regions packed into Whisper's windows, and the words heard mapped back.

Whisper's encoder costs the same for every 30 s window however much speech it holds, so
the regions of each channel are packed back to back into as few windows as possible (a
speaker's own short pause kept as heard, a longer one, or one in which the other party
spoke, cut to a short gap so the decoder still sees a pause). A window never mixes
channels. Words are placed back by their end time (a word's start often absorbs the pause
before it).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from typing import Protocol

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.audio.samples import Channel
from callaudit.records import Region


class PackingOptions(Protocol):
    """What packing reads of the recognizer's options (speech/asr.AsrOptions)."""

    window_s: float
    gap_s: float
    keep_pause_s: float
    lead_s: float


@dataclass
class Piece:
    """A region (or part of a long one) and where it sits in the packed audio."""

    region: int  # index into the region list
    src_start: float
    src_end: float
    packed_start: float = 0.0
    channel: int = 0

    @property
    def duration(self) -> float:
        return self.src_end - self.src_start

    def source_time(self, t: float) -> float:
        """A time in the packed audio (s) as a time of the recording, within the piece."""
        return min(self.src_end, max(self.src_start, self.src_start + t - self.packed_start))


def split_pieces(regions: list[Region], max_s: float, context_s: float = 0.0,
                 duration: float = float("inf"), shared_mix: bool = False) -> list[Piece]:
    """Regions (with `context_s` of audio either side, never into a neighbouring region of
    the same channel, nor with `shared_mix` into another speaker's) cut to at most `max_s`."""
    pieces = []
    order = sorted(range(len(regions)), key=lambda i: (regions[i].channel, regions[i].start))
    # shared mix: per channel, the other speakers' region ends and starts, sorted
    others = {ch: (sorted(o.end for o in regions if o.channel != ch),
                   sorted(o.start for o in regions if o.channel != ch))
              for ch in {r.channel for r in regions}} if shared_mix else {}
    for k, i in enumerate(order):
        r = regions[i]
        prev = regions[order[k - 1]] if k and regions[order[k - 1]].channel == r.channel else None
        nxt = regions[order[k + 1]] if k + 1 < len(order) and \
            regions[order[k + 1]].channel == r.channel else None
        t = max(0.0, r.start - context_s, (prev.end + r.start) / 2 if prev else 0.0)
        end = min(duration, r.end + context_s, (r.end + nxt.start) / 2 if nxt else duration)
        if shared_mix:
            ends, starts = others[r.channel]
            k = bisect_right(ends, r.start)  # the other speaker's last turn ending by r.start
            t = max(t, ends[k - 1]) if k else t
            k = bisect_left(starts, r.end)  # ... and first turn starting from r.end
            end = min(end, starts[k]) if k < len(starts) else end
        while end - t > max_s:
            pieces.append(Piece(i, t, t + max_s, channel=r.channel))
            t += max_s
        pieces.append(Piece(i, t, end, channel=r.channel))
    return pieces


class Packed:
    """The packed audio, described, not held: parts back to back, each a stretch of a channel
    or silence, read from the recording when a window is decoded (a 3-hour call's speech
    would be another 0.7 GB). Sliced like the array it describes: `packed[a:b]`."""

    def __init__(self) -> None:
        self._at: list[int] = []  # where each part starts in the packed audio (samples)
        self._parts: list[tuple[Channel | None, int, int]] = []  # (channel or None: 0, start, n)
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def add(self, channel: Channel | None, start: int, stop: int) -> int:
        """Append channel[start:stop] (None: stop - start samples of silence); its length
        (a stretch past the channel's end is cut there, as slicing does)."""
        if channel is not None:
            start, stop = min(start, len(channel)), min(stop, len(channel))
        n = max(0, stop - start)
        if n:
            self._at.append(self._len)
            self._parts.append((channel, start, n))
            self._len += n
        return n

    def __getitem__(self, key: slice) -> np.ndarray:
        a, b, _ = key.indices(self._len)
        out = np.zeros(max(0, b - a), np.float32)
        k = max(0, bisect_right(self._at, a) - 1)
        while k < len(self._at) and self._at[k] < b:
            ch, start, n = self._parts[k]
            lo, hi = max(a, self._at[k]), min(b, self._at[k] + n)
            if ch is not None and hi > lo:
                src = start + lo - self._at[k]
                out[lo - a:hi - a] = ch[src:src + hi - lo]
            k += 1
        return out


def pack(audio: Audio, regions: list[Region], pieces: list[Piece], opts: PackingOptions,
         shared_mix: bool = False, fences: list[Region] | None = None,
         ) -> tuple[Packed, list[dict[str, float]]]:
    """Concatenate pieces into <= window_s windows; returns the packed audio and window bounds
    (s). Between two pieces of one channel, the pause as it was heard when it is at most
    `keep_pause_s` and no region of another channel falls in it (the other party's voice
    leaks into a channel below the VAD's level, and Whisper would hear it), nor any of
    `fences` (speech of the same channel decoded elsewhere), and never in a `shared_mix`
    (there the pause may hold the other speaker); else `gap_s` of silence."""
    gap = int(opts.gap_s * SAMPLE_RATE)
    packed = Packed()
    windows: list[dict[str, float]] = []
    cursor = 0.0  # seconds of packed audio written
    win_start, win_len = 0.0, 0.0
    channel = regions[pieces[0].region].channel
    lead = int(opts.lead_s * SAMPLE_RATE)
    other_spoke = _other_spoke(regions + [Region(-1, f.start, f.end) for f in fences or []])
    prev: Piece | None = None
    for p in pieces:
        ch = audio.channels[regions[p.region].channel]
        pause: tuple[Channel | None, int, int] = (None, 0, gap)
        if prev is not None and regions[prev.region].channel == regions[p.region].channel \
                and not shared_mix and 0 <= p.src_start - prev.src_end <= opts.keep_pause_s \
                and not other_spoke(regions[p.region].channel, prev.src_end, p.src_start):
            a, b = (min(int(t * SAMPLE_RATE), len(ch)) for t in (prev.src_end, p.src_start))
            pause = (ch, a, b)
        prev = p
        need = p.duration + (pause[2] - pause[1]) / SAMPLE_RATE
        new_channel = regions[p.region].channel != channel
        channel = regions[p.region].channel
        if win_len and (new_channel or win_len + need > opts.window_s):
            windows.append({"start": win_start, "end": win_start + win_len})
            win_start, win_len = cursor, 0.0
        if win_len:
            cursor += packed.add(*pause) / SAMPLE_RATE
        else:
            packed.add(None, 0, lead)
            cursor += opts.lead_s
        n = packed.add(ch, int(p.src_start * SAMPLE_RATE), int(p.src_end * SAMPLE_RATE))
        p.packed_start = cursor
        cursor += n / SAMPLE_RATE
        win_len = cursor - win_start
    windows.append({"start": win_start, "end": cursor})
    return packed, windows


def _other_spoke(regions: list[Region]) -> Callable[[int, float, float], bool]:
    """(channel, start, end) -> whether a region of another channel overlaps start..end.
    Per channel, the other channels' regions by start with the running maximum of their
    ends, so each question is a bisection (a 3-hour call has thousands of regions)."""
    index = {}
    for ch in {r.channel for r in regions}:
        others = sorted((r.start, r.end) for r in regions if r.channel != ch)
        index[ch] = ([s for s, _ in others], list(accumulate((e for _, e in others), max)))

    def spoke(channel: int, start: float, end: float) -> bool:
        starts, ends = index[channel]
        k = bisect_left(starts, end)  # the other channels' regions that start before `end`
        return k > 0 and ends[k - 1] > start

    return spoke


def place_words(times: list[float], pieces: list[Piece]) -> list[int]:
    """Index into `pieces` (one window's, in packed order) of each word, from its time in
    the packed audio; the words in the decoder's order.

    Whisper's word times are rough: a word may come back seconds late (the agent's first
    word put in a later turn) and would move into another utterance, adding an answer delay.
    The decoder's order of the words is right, though, so their pieces must not go back in
    time: the longest run of words whose pieces never decrease is trusted, and a word off it
    is put in the nearest piece between its trusted neighbours' pieces."""
    if not times or not pieces:
        return [0] * len(times)
    raw = [_piece_at(pieces, t) for t in times]
    keep = _longest_non_decreasing(raw)
    out = list(raw)
    prev = None
    for k in range(len(raw)):
        if k in keep:
            prev = raw[k]
            continue
        nxt = next((raw[j] for j in range(k + 1, len(raw)) if j in keep), None)
        lo = prev if prev is not None else 0
        hi = nxt if nxt is not None else len(pieces) - 1
        out[k] = min(max(raw[k], lo), hi)
    return out


def _longest_non_decreasing(xs: list[int]) -> set[int]:
    """Positions of a longest non-decreasing subsequence of xs (patience sorting)."""
    tails: list[int] = []  # tails[L]: position ending the best run of length L + 1
    values: list[int] = []  # xs at those positions (non-decreasing)
    back = [-1] * len(xs)
    for k, x in enumerate(xs):
        lo = bisect_right(values, x)
        back[k] = tails[lo - 1] if lo else -1
        if lo == len(tails):
            tails.append(k)
            values.append(x)
        else:
            tails[lo], values[lo] = k, x
    out, k = set(), tails[-1] if tails else -1
    while k >= 0:
        out.add(k)
        k = back[k]
    return out


def _piece_at(pieces: list[Piece], t: float) -> int:
    """The piece whose packed span contains t, else the nearest one."""
    best, dist = 0, float("inf")
    for i, p in enumerate(pieces):
        a, b = p.packed_start, p.packed_start + p.duration
        d = 0.0 if a <= t <= b else min(abs(t - a), abs(t - b))
        if d < dist:
            best, dist = i, d
            if d == 0.0:
                break
    return best
