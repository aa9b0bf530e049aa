"""The caller's voice raised against their own start of the call: louder, or higher.

An angry or distressed speaker raises both the intensity and the fundamental frequency of
their voice (Banse & Scherer 1996, "Acoustic profiles in vocal emotion expression"; Scherer
2003): an upset caller is heard before they say 投诉. Judged against the caller's own
baseline (the median of their first `raised_voice_baseline_s` seconds of speech), never an
absolute level or pitch, so a loud line or a high voice is not taken for anger.

    pitches = caller_pitch(audio, utts)                  # from the samples (acoustics)
    raised = raised_voice(utts, pitches, settings)       # from what was stored (rescore)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.records import Utterance
from callaudit.settings import Settings

PITCH_FLOOR_HZ, PITCH_CEILING_HZ = 75.0, 500.0  # Praat's defaults for speech
MIN_VOICED_FRAMES = 20  # 0.2 s of voiced frames: fewer give no pitch for the utterance


def caller_pitch(audio: Audio, utts: list[Utterance]) -> list[tuple[float, float]]:
    """(start s, median F0 in Hz) of each caller utterance with enough voiced frames: Praat's
    autocorrelation pitch (Boersma 1993, through parselmouth), 10 ms frames, 75-500 Hz."""
    import parselmouth

    out = []
    for u in utts:
        if u.role != "customer":
            continue
        x = audio.channels[min(u.channel, len(audio.channels) - 1)]
        seg = x[int(u.start * SAMPLE_RATE):int(u.end * SAMPLE_RATE)].astype(np.float64)
        if len(seg) < SAMPLE_RATE // 4:
            continue
        f0 = parselmouth.Sound(seg, sampling_frequency=SAMPLE_RATE).to_pitch_ac(
            time_step=0.01, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ,
        ).selected_array["frequency"]
        voiced = f0[f0 > 0]
        if len(voiced) >= MIN_VOICED_FRAMES:
            out.append((round(u.start, 3), round(float(np.median(voiced)), 1)))
    return out


@dataclass
class Raised:
    """A caller utterance said louder or higher than the caller's start of the call."""

    utterance: Utterance
    db: float  # level above the baseline, dB
    semitones: float | None  # median pitch above the baseline (None: no pitch measured)

    def to_json(self) -> dict[str, object]:
        u = self.utterance
        return {"start": round(u.start, 2), "end": round(u.end, 2), "db": round(self.db, 1),
                "semitones": None if self.semitones is None else round(self.semitones, 1)}


def raised_voice(utts: list[Utterance], pitches: list[tuple[float, float]],
                 settings: Settings) -> list[Raised]:
    """The caller's utterances (of `raised_voice_min_s`+) whose level is `raised_voice_db`
    above the caller's baseline, or whose median pitch is `raised_pitch_st` semitones above
    it. The baseline: the medians over the caller's utterances until `raised_voice_baseline_s`
    of their speech; nothing is judged when it holds fewer than two utterances."""
    mine = [u for u in utts if u.role == "customer" and u.end - u.start >= settings.raised_voice_min_s
            and u.level_dbfs > -90]
    f0 = {round(s, 3): hz for s, hz in pitches}
    base: list[Utterance] = []
    spoken = 0.0
    for u in mine:
        if spoken >= settings.raised_voice_baseline_s:
            break
        base.append(u)
        spoken += u.end - u.start
    if len(base) < 2:
        return []
    base_db = float(np.median([u.level_dbfs for u in base]))
    base_hz = [f0[round(u.start, 3)] for u in base if round(u.start, 3) in f0]
    base_f0 = float(np.median(base_hz)) if len(base_hz) >= 2 else None
    out = []
    for u in mine[len(base):]:
        hz = f0.get(round(u.start, 3))
        st = 12 * math.log2(hz / base_f0) if hz and base_f0 else None
        db = u.level_dbfs - base_db
        if db >= settings.raised_voice_db or (st is not None and st >= settings.raised_pitch_st):
            out.append(Raised(u, db, st))
    return out
