"""Conditioning a decoded recording: its DC offset and sub-audio rumble removed, and which
channels carry a party of their own.

A recorder that writes the same mix to both channels of a stereo file is a mono call: its
two channels must not be audited as two parties (every word would be said twice).
"""

from __future__ import annotations

import numpy as np

from audit.audio.decode import SAMPLE_RATE, Audio

SAME_MIX_CHECK_S = 60.0  # compared over the first minute
SAME_MIX_ATOL = 1e-3  # sample difference below which two channels are the same mix


OFFSET_WINDOW_S = 0.025  # two running means of 25 ms: a high-pass with its null at 40 Hz
OFFSET_MIN = 0.002  # a channel whose slow part never exceeds this (-54 dBFS) is left as is


def remove_offset(audio: Audio) -> Audio:
    """Subtract each channel's slow part (two cascaded 25 ms running means: DC and rumble
    below ~20 Hz; under 1 % ripple over the voice band from 100 Hz), in place. A DC offset
    (a cheap sound card, a PBX's codec) or rumble would otherwise hide quiet speech from the
    VAD and bias every level. Channels without either are not touched. Returns `audio`."""
    w = int(OFFSET_WINDOW_S * SAMPLE_RATE)
    for x in audio.channels:
        if len(x) < 4 * w:
            continue
        look = 10 * w  # cheap look first (means over 0.25 s): most recordings have no offset
        n = len(x) // look
        if n and np.max(np.abs(x[: n * look].reshape(n, look).mean(axis=1))) < OFFSET_MIN:
            continue
        step = 1 << 20  # in blocks, each with a margin: a 4-hour channel is 230 M samples
        slow = np.empty_like(x)
        for a in range(0, len(x), step):
            lo, hi = max(0, a - 2 * w), min(len(x), a + step + 2 * w)
            m = _running_mean(_running_mean(x[lo:hi], w), w)
            slow[a: min(a + step, len(x))] = m[a - lo: a - lo + min(step, len(x) - a)]
        x -= slow
    return audio


def _running_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Centred mean over `w` samples (edges: over what there is)."""
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    i = np.arange(len(x))
    lo, hi = np.maximum(0, i - w // 2), np.minimum(len(x), i - w // 2 + w)
    return ((c[hi] - c[lo]) / (hi - lo)).astype(np.float32)


def distinct_channels(audio: Audio) -> list[int]:
    """Indices of the channels to audit: [0, 1] for a two-party stereo file, [0] for mono or
    for a stereo file whose channels carry the same mix."""
    if len(audio.channels) < 2:
        return [0]
    a, b = audio.channels[0], audio.channels[1]
    n = min(len(a), int(SAME_MIX_CHECK_S * SAMPLE_RATE))
    if np.allclose(a[:n], b[:n], atol=SAME_MIX_ATOL):
        return [0]
    return [0, 1]
