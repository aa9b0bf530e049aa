"""Conditioning a decoded recording: its DC offset and sub-audio rumble removed, and which
channels carry a party of their own.

A recorder that writes the same mix to both channels of a stereo file is a mono call: its
two channels must not be audited as two parties (every word would be said twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.audio.levels import frame_db, rms
from callaudit.audio.samples import Channel, blocks
from callaudit.strings import Detail

SAME_MIX_WINDOW_S = 10.0  # one mix is told by correlation in windows of this length ...
SAME_MIX_WINDOWS = 6  # ... spread over the whole call (bounded cost on a 4-hour file)
SAME_MIX_MIN_CORR = 0.9  # normalised correlation above which two channels are one mix
SAME_MIX_MAX_LAG_S = 0.03  # a recorder may delay one copy of the mix by a few ms
FRAME_S = 0.02
DEAD_MAX_DBFS = -60.0  # a channel never louder than this holds nobody
STEADY_SPREAD_DB = 12.0  # loud minus quiet frames: steady line noise stays within this
LIVE_SPREAD_DB = 20.0  # ... speech with its pauses spreads over more than this


@dataclass
class Layout:
    """Which channels of a recording are audited, and why.

    kind: "mono" (one channel), "stereo" (a party per channel), "same_mix" (two copies of
    one mix, audited as mono), "one_live" (one channel holds sound, the other nothing but
    silence or line noise: the live one is audited as a mono mix, and as the one party
    that spoke if speaker separation finds a single voice in it)."""

    channels: list[int]
    kind: str
    why: Detail

    def to_json(self, lang: str) -> dict[str, Any]:
        return {"kind": self.kind, "channels": self.channels, **self.why.to_json(),
                "text": self.why.text(lang)}


def channel_layout(audio: Audio) -> Layout:
    """The layout of a recording from its samples, over the whole call: a caller who speaks
    only in its second half, or whose channel carries the agent's echo while the caller is
    quiet, still has a channel of their own."""
    if len(audio.channels) < 2:
        return Layout([0], "mono", Detail("layout_mono", {}))
    a, b = audio.channels[0], audio.channels[1]
    corr = _same_mix_correlation(a, b)
    if corr >= SAME_MIX_MIN_CORR:
        louder = int(rms(b) > rms(a))  # the copy with more signal over the same noise
        return Layout([louder], "same_mix", Detail("layout_same_mix", {"corr": round(corr, 3)}))
    spread = [_spread_db(a), _spread_db(b)]
    live = [s is not None and s > LIVE_SPREAD_DB for s in spread]
    dead = [s is None or s < STEADY_SPREAD_DB for s in spread]
    if live[0] != live[1] and dead[1 - int(live[1])]:
        on = int(live[1])
        return Layout([on], "one_live", Detail("layout_one_live", {"side": ("left", "right")[on]}))
    return Layout([0, 1], "stereo", Detail("layout_stereo", {"corr": round(corr, 3)}))


def _same_mix_correlation(a: Channel, b: Channel) -> float:
    """The lowest correlation of the two channels over up to SAME_MIX_WINDOWS windows spread
    over the call (windows where either is silent left out; at 8 kHz, enough to compare two
    copies): one mix correlates everywhere; an agent's echo on a quiet caller's channel stops
    correlating where the caller speaks. Stops at the first window that does not correlate
    (a two-party call: one window)."""
    n = min(len(a), len(b))
    w = min(n, int(SAME_MIX_WINDOW_S * SAMPLE_RATE))
    lag = int(SAME_MIX_MAX_LAG_S * SAMPLE_RATE) // 2
    low = None
    for s in np.unique(np.linspace(0, n - w, SAME_MIX_WINDOWS).astype(int)) if w else []:
        c = _max_correlation(a[s:s + w:2], b[s:s + w:2], lag)
        if c is not None:
            low = c if low is None else min(low, c)
            if low < SAME_MIX_MIN_CORR:
                break
    return low or 0.0


def _max_correlation(a: np.ndarray, b: np.ndarray, max_lag: int) -> float | None:
    """The largest normalised cross-correlation of `a` and `b` within +-max_lag samples; None
    when either is silent (nothing to compare). By FFT: 30 s at 16 kHz takes ~20 ms."""
    n = min(len(a), len(b))
    ea, eb = float(np.dot(a[:n], a[:n])), float(np.dot(b[:n], b[:n]))
    if n == 0 or ea / n <= 1e-6 or eb / n <= 1e-6:  # below -60 dBFS: nothing to compare
        return None
    size = 1 << int(np.ceil(np.log2(2 * n)))
    x = np.fft.irfft(np.fft.rfft(a[:n], size) * np.conj(np.fft.rfft(b[:n], size)), size)
    lags = np.concatenate([x[: max_lag + 1], x[-max_lag:]]) if max_lag else x[:1]
    return float(np.max(lags) / np.sqrt(ea * eb))


def _spread_db(x: Channel) -> float | None:
    """Loud (99th percentile) minus quiet (10th) frame level in dB over the whole channel
    (one frame in a hundred louder: a caller who says a few words in a long call still
    counts); None for a channel never above DEAD_MAX_DBFS (digital silence, a faint hiss)."""
    db = frame_db(x, int(FRAME_S * SAMPLE_RATE))
    if len(db) == 0 or np.max(db) < DEAD_MAX_DBFS:
        return None
    return float(np.percentile(db, 99) - np.percentile(db, 10))


OFFSET_WINDOW_S = 0.025  # two running means of 25 ms: a high-pass with its null at 40 Hz
OFFSET_MIN = 0.002  # a channel whose slow part never exceeds this (-54 dBFS) is left as is


def remove_offset(audio: Audio) -> Audio:
    """Subtract each channel's slow part (two cascaded 25 ms running means: DC and rumble
    below ~20 Hz; under 1 % ripple over the voice band from 100 Hz), in place. A DC offset
    (a cheap sound card, a PBX's codec) or rumble would otherwise hide quiet speech from the
    VAD and bias every level. Channels without either are not touched. Returns `audio`."""
    w = int(OFFSET_WINDOW_S * SAMPLE_RATE)
    for x in audio.channels:
        if len(x) < 4 * w or not _has_offset(x, 10 * w):
            continue
        # In blocks (a 4-hour channel is 230 M samples), each block's slow part from the
        # samples as they were, its margins included: the left margin is kept from before
        # the previous block was written back.
        step = 1 << 20
        before = np.zeros(0, np.float32)  # the original samples just before block `a`
        for a in range(0, len(x), step):
            k = min(step, len(x) - a)
            seg = np.concatenate([before, x[a:min(len(x), a + step + 2 * w)]])
            at = len(before)
            slow = _running_mean(_running_mean(seg, w), w)
            before = seg[max(0, at + k - 2 * w):at + k]
            x[a:a + k] = seg[at:at + k] - slow[at:at + k]
    return audio


def _has_offset(x: Channel, look: int) -> bool:
    """A cheap look (means over `look` samples): most recordings have no offset."""
    n = len(x) // look
    if n == 0:
        return True  # too short to look at cheaply: the full pass decides
    return any(np.max(np.abs(b.reshape(-1, look).mean(axis=1))) >= OFFSET_MIN
               for _, b in blocks(x, 1024 * look, stop=n * look))


def _running_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Centred mean over `w` samples (edges: over what there is)."""
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    i = np.arange(len(x))
    lo, hi = np.maximum(0, i - w // 2), np.minimum(len(x), i - w // 2 + w)
    return ((c[hi] - c[lo]) / (hi - lo)).astype(np.float32)
