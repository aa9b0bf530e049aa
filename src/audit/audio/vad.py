"""Speech regions per channel with webrtcvad.

These regions are the clock of every timing metric: Whisper's own timestamps drift, the
VAD's do not. A region is speech with pauses shorter than `merge_gap_s` bridged, so one
region is roughly one breath group / turn, and the speaking time of a party is the sum of
its regions (pauses of `merge_gap_s` or longer are excluded from it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

from audit.audio.decode import SAMPLE_RATE, Audio
from audit.audio.levels import dbfs, power_to_db
from audit.audio.tones import Ringback
from audit.records import Region


@dataclass(frozen=True)
class VadOptions:
    aggressiveness: int = 2  # webrtcvad mode 0-3; 2 keeps soft syllable ends on phone audio
    frame_ms: int = 30
    merge_gap_s: float = 0.5  # pauses shorter than this are part of the speech (breath, commas)
    min_speech_s: float = 0.25  # shorter blips are clicks or noise, not speech
    refine_db: float = 35.0  # edges: trim 10 ms frames this far below the region's peak ...
    floor_margin_db: float = 8.0  # ... or not clearly above the channel's noise floor
    min_level_dbfs: float = -50.0  # regions quieter than this are line noise the VAD let through


def frame_decisions(signal: np.ndarray, opts: VadOptions) -> np.ndarray:
    """One bool per frame: does webrtcvad hear speech."""
    vad = webrtcvad.Vad(opts.aggressiveness)
    n = SAMPLE_RATE * opts.frame_ms // 1000
    count = len(signal) // n
    if count == 0:
        return np.zeros(0, dtype=bool)
    pcm = (np.clip(signal[: count * n], -1.0, 1.0) * 32767).astype("<i2")
    raw = pcm.tobytes()
    step = n * 2
    return np.fromiter(
        (vad.is_speech(raw[i * step : (i + 1) * step], SAMPLE_RATE) for i in range(count)),
        dtype=bool,
        count=count,
    )


def speech_regions(signal: np.ndarray, channel: int, opts: VadOptions | None = None,
                   ) -> list[Region]:
    opts = opts or VadOptions()
    flags = frame_decisions(signal, opts)
    fs = opts.frame_ms / 1000
    env = _envelope_db(signal)
    floor = float(np.percentile(env, 10)) if len(env) else -99.0
    # Runs of speech frames, edges tightened to 10 ms, then bridged over short pauses:
    # bridging after tightening makes `merge_gap_s` a length of real silence, not of
    # silence minus webrtcvad's hangover.
    spans: list[list[float]] = []
    i = 0
    while i < len(flags):
        if not flags[i]:
            i += 1
            continue
        j = i
        while j < len(flags) and flags[j]:
            j += 1
        s, e = _refine(env, i * fs, j * fs, floor, opts)
        if spans and s - spans[-1][1] < opts.merge_gap_s:
            spans[-1][1] = max(spans[-1][1], e)
        else:
            spans.append([s, e])
        i = j
    regions = []
    for s, e in spans:
        if e - s < opts.min_speech_s:
            continue
        level = level_dbfs(signal[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)])
        if level < opts.min_level_dbfs:
            continue
        regions.append(Region(channel, s, e, level))
    return regions


ENV_STEP_S = 0.01


def _envelope_db(signal: np.ndarray) -> np.ndarray:
    n = int(ENV_STEP_S * SAMPLE_RATE)
    k = len(signal) // n
    if k == 0:
        return np.zeros(0)
    frames = signal[: k * n].reshape(k, n)
    power = np.einsum("ij,ij->i", frames, frames) / n  # no squared copy of a 3-hour call
    return power_to_db(power)


def _refine(env: np.ndarray, start: float, end: float, floor: float, opts: VadOptions,
            ) -> tuple[float, float]:
    """Tighten a region's edges to 10 ms: webrtcvad decides per 30 ms frame and holds on
    about 0.1 s after speech stops, which would bias every silence and answer delay."""
    a, b = int(start / ENV_STEP_S), min(len(env), int(np.ceil(end / ENV_STEP_S)))
    if b <= a:
        return start, end
    seg = env[a:b]
    keep = seg >= max(seg.max() - opts.refine_db, floor + opts.floor_margin_db)
    if not keep.any():
        return start, end
    first, last = int(np.argmax(keep)), len(keep) - int(np.argmax(keep[::-1]))
    return round((a + first) * ENV_STEP_S, 3), round((a + last) * ENV_STEP_S, 3)


def level_dbfs(x: np.ndarray) -> float:
    """A region's level, to 0.1 dB (audio/levels.py)."""
    return round(dbfs(x), 1)


def call_regions(audio: Audio, channels: list[int], ringback: Ringback | None = None,
                 opts: VadOptions | None = None) -> list[Region]:
    """Speech regions of every audited channel, sorted by start, without those on a ringback
    burst (webrtcvad takes the 450 Hz tone for speech)."""
    regions: list[Region] = []
    for ch in channels:
        regions += speech_regions(audio.channels[ch], ch, opts)
    return sorted((r for r in regions if ringback is None or not ringback.overlaps(r.start, r.end)),
                  key=lambda r: r.start)
