"""Audio with the spans where personal data was said replaced by a tone or silence.

For the pages and clips the auditor writes; the recording itself is never modified (the
masked audio is a copy: in memory, or a long recording's in another temporary file). Every
channel is masked over each span: a caller's voice leaks into the agent's channel as echo,
and a same-mix stereo file holds it twice.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE, Audio, decode
from callaudit.audio.opus import data_uri, page_audio
from callaudit.records import CallResult

if TYPE_CHECKING:
    from callaudit.settings import Settings

TONE_LEVEL = 0.1  # -20 dBFS: audible as a bleep, not louder than speech
FADE_S = 0.005


def spans_of(result: CallResult, pad_s: float) -> list[tuple[float, float]]:
    """The seconds to mask in the recording of `result`: each piece of each item of its
    `privacy` report, padded by `pad_s` (the times are estimates), overlaps merged."""
    items = result.privacy.items if result.privacy is not None else []
    pieces = [(p["start"] - pad_s, p["end"] + pad_s) for e in items for p in e.pieces]
    merged: list[tuple[float, float]] = []
    for a, b in sorted(pieces):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((max(0.0, a), b))
    return merged


def mask_audio(audio: Audio, spans: list[tuple[float, float]], tone_hz: float = 1000.0) -> Audio:
    """A copy of `audio` with every channel replaced over `spans` (seconds) by a tone of
    `tone_hz` at -20 dBFS (0: silence), faded in and out over 5 ms."""
    channels = [c.copy() for c in audio.channels]  # a long recording's: another temporary file
    n = len(channels[0]) if channels else 0
    fade = int(FADE_S * SAMPLE_RATE)
    for a, b in spans:
        i, j = max(0, int(a * SAMPLE_RATE)), min(n, int(np.ceil(b * SAMPLE_RATE)))
        if j <= i:
            continue
        t = np.arange(j - i) / SAMPLE_RATE
        fill = (TONE_LEVEL * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32) if tone_hz > 0 \
            else np.zeros(j - i, np.float32)
        if tone_hz > 0 and j - i > 2 * fade:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            fill[:fade] *= ramp
            fill[-fade:] *= ramp[::-1]
        for c in channels:
            c[i:j] = fill
    return replace(audio, channels=channels)


def masked_audio(audio: Audio | str, result: CallResult, settings: Settings) -> Audio:
    """The recording (decoded, or a path) with the spans of the personal data of `result`
    (its `privacy` report) replaced (settings redact_audio_pad_s, redact_tone_hz)."""
    a = decode(audio) if isinstance(audio, str) else audio
    return mask_audio(a, spans_of(result, settings.redact_audio_pad_s), settings.redact_tone_hz)


def call_page_audio(result: CallResult, audio: Audio | str | None, page: str,
                    link: bool = False, masked: Settings | None = None) -> str | None:
    """The `src` of the player of `result`'s page written at `page` (audio/opus.py
    page_audio): `audio` the recording (decoded, or its path) embedded, or with `link` its
    path linked. `masked`: the result is masked, and so is its audio, embedded with the
    spans of its personal data replaced, never linked."""
    if audio is not None and masked is not None:
        return data_uri(masked_audio(audio, result, masked))
    return page_audio(audio, page, link)
