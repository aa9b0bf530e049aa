"""What the metrics need from the samples themselves: the call's length, the ringback, and
the agent's level and clipping, and (to be shown) the sound that is not speech. Measured once
from the audio and stored with a result, so a call can be re-scored under another rule pack
without its audio (results/rescore.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from callaudit.audio import syllables
from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.audio.levels import frame_db, to_dbfs
from callaudit.audio.tones import Ringback
from callaudit.metrics.voice import caller_pitch
from callaudit.records import Utterance

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
    # the caller's level and clipping, over their speech only, as the agent's
    customer_level_dbfs: float | None = None
    customer_clipping_share: float | None = None
    # each party's line noise: the level (dBFS) of the quietest NOISE_QUANTILE of 20 ms frames
    # of their channel outside all speech (None: no such frames, or a result before this)
    agent_noise_floor_dbfs: float | None = None
    customer_noise_floor_dbfs: float | None = None
    # syllable nuclei heard in the agent's speech (audio/syllables.py): a syllable count
    # the recognizer cannot lower; None in results stored before it was measured
    agent_nuclei: int | None = None
    # (start s, median F0 Hz) of the caller's utterances (metrics/voice.py): a raised voice
    # is judged against the caller's own start of the call; empty in older stored results
    customer_pitch: list[tuple[float, float]] = field(default_factory=list)


NOISE_FRAME_S = 0.02
NOISE_QUANTILE = 0.2  # line noise: most frames between the words are at least this quiet


def measure(audio: Audio, utts: list[Utterance], ringback: Ringback | None = None) -> Acoustics:
    """`utts` must have their roles. Each party's level and clipping are measured over their
    speech samples only; the noise floor over their channel outside anybody's speech."""
    rb = ringback or Ringback(None, 0.0)
    level = {}
    for role in ("agent", "customer"):
        level[role] = _level(audio, [u for u in utts if u.role == role])
    noise = {role: _noise_floor(audio, utts, role) for role in ("agent", "customer")}
    agent = [(u.channel, u.start, u.end) for u in utts if u.role == "agent"]
    return Acoustics(audio.duration, rb.rings, rb.connect_s, *level["agent"],
                     rb.plan, list(rb.spans), rb.answered_by_s, *level["customer"],
                     noise["agent"], noise["customer"],
                     syllables.count(audio.channels, agent) if agent else None,
                     caller_pitch(audio, utts))


def _noise_floor(audio: Audio, utts: list[Utterance], role: str) -> float | None:
    mine = [u.channel for u in utts if u.role == role]
    if not mine:
        return None
    ch = max(set(mine), key=mine.count)
    x = audio.channels[ch]
    # all speech on this channel's samples (a separated mono call: both speakers share them)
    speech = [u for u in utts if audio.channels[u.channel] is x]
    db = frame_db(x, int(NOISE_FRAME_S * SAMPLE_RATE))
    keep = np.ones(len(db), bool)
    for u in speech:
        keep[int(u.start / NOISE_FRAME_S):int(np.ceil(u.end / NOISE_FRAME_S))] = False
    if not keep.any():
        return None
    return round(float(np.quantile(db[keep], NOISE_QUANTILE)), 1)


def _level(audio: Audio, utts: list[Utterance]) -> tuple[float | None, float | None]:
    """dBFS and clipped share of the samples of `utts` taken together (None, None: none),
    summed an utterance at a time (a long call's speech is never joined into one array)."""
    n, power, clipped = 0, 0.0, 0
    for u in utts:
        x = audio.channels[u.channel][int(u.start * SAMPLE_RATE):int(u.end * SAMPLE_RATE)]
        x64 = np.asarray(x, dtype=np.float64)
        n, power = n + len(x), power + float(np.dot(x64, x64))
        clipped += int(np.count_nonzero(np.abs(x) >= CLIP_LEVEL))
    if n == 0:
        return None, None
    return to_dbfs(float(np.sqrt(power / n))), clipped / n
