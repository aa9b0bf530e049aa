"""What the metrics need from the samples themselves: the call's length, the ringback, and
the agent's level and clipping, and (to be shown) the sound that is not speech. Measured once
from the audio and stored with a result, so a call can be re-scored under another rule pack
without its audio (results/rescore.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audit.audio.decode import SAMPLE_RATE, Audio
from audit.audio.levels import dbfs
from audit.audio.tones import Ringback
from audit.records import Utterance

CLIP_LEVEL = 0.99  # a sample at or above this share of full scale counts as clipped


@dataclass
class Acoustics:
    duration_s: float  # length of the decoded recording
    rings: int | None  # rings of ringback before the answer; None when none was recorded
    connect_s: float  # where the call connects (metrics/timing.py: connect), else 0
    agent_level_dbfs: float | None  # RMS over the agent's speech samples
    agent_clipping_share: float | None  # share of those samples at or above CLIP_LEVEL
    ring_plan: str = ""  # the ringback's tone plan (ringback:cn|na|uk|eu), "" when none
    # sound that is not speech: (start s, end s, label, channel), label ringback:<plan> |
    # busy:<plan> | dtmf | music | noise (audio/tones.py); absent from older stored results
    not_speech: list[tuple[float, float, str, int]] = field(default_factory=list)
    answered_by_s: float | None = None  # the next ring was due here and not heard (tones.py)


def measure(audio: Audio, utts: list[Utterance], ringback: Ringback | None = None) -> Acoustics:
    """`utts` must have their roles; the level is measured over the agent's speech."""
    agent = _samples(audio, [u for u in utts if u.role == "agent"])
    rb = ringback or Ringback(None, 0.0)
    return Acoustics(audio.duration, rb.rings, rb.connect_s,
                     dbfs(agent) if len(agent) else None,
                     float(np.mean(np.abs(agent) >= CLIP_LEVEL)) if len(agent) else None,
                     rb.plan, list(rb.spans), rb.answered_by_s)


def _samples(audio: Audio, utts: list[Utterance]) -> np.ndarray:
    parts = [audio.channels[u.channel][int(u.start * SAMPLE_RATE):int(u.end * SAMPLE_RATE)]
             for u in utts]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
