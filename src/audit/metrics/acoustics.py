"""What the metrics need from the samples themselves: the call's length, the ringback, and
the agent's level and clipping. Measured once from the audio and stored with a result, so a
call can be re-scored under another rule pack without its audio (results/rescore.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.audio.decode import SAMPLE_RATE, Audio
from audit.audio.levels import dbfs
from audit.audio.tones import Ringback
from audit.records import Utterance

CLIP_LEVEL = 0.99  # a sample at or above this share of full scale counts as clipped


@dataclass
class Acoustics:
    duration_s: float  # length of the decoded recording
    rings: int | None  # ringback bursts before the answer; None when none was recorded
    connect_s: float  # where the call connects (end of the last ringback burst, else 0)
    agent_level_dbfs: float | None  # RMS over the agent's speech samples
    agent_clipping_share: float | None  # share of those samples at or above CLIP_LEVEL


def measure(audio: Audio, utts: list[Utterance], ringback: Ringback | None = None) -> Acoustics:
    """`utts` must have their roles; the level is measured over the agent's speech."""
    agent = _samples(audio, [u for u in utts if u.role == "agent"])
    rb = ringback or Ringback(None, 0.0)
    return Acoustics(audio.duration, rb.rings, rb.connect_s,
                     dbfs(agent) if len(agent) else None,
                     float(np.mean(np.abs(agent) >= CLIP_LEVEL)) if len(agent) else None)


def _samples(audio: Audio, utts: list[Utterance]) -> np.ndarray:
    parts = [audio.channels[u.channel][int(u.start * SAMPLE_RATE):int(u.end * SAMPLE_RATE)]
             for u in utts]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
