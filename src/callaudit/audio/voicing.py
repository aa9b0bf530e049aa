"""How much of a stretch of audio is voiced: whether it can hold a syllable at all.

Every Mandarin syllable has a vowel, and a vowel is voiced: the folds vibrate, and the
signal repeats itself at the pitch period. A click of the headset, a knock, a breath or a
burst of line noise repeats nothing, so text Whisper writes on such a sound (第1, 试试,
啊啊 on 0.5 s of noise, measured) is not what anybody said. Syllable nuclei
(syllables.py) cannot tell: they also need a peak of intensity that stands out, which quiet
real speech does not give (a meeting clip with 12 real characters and no nucleus); voicing
does not depend on the level.

Here: 40 ms frames (hop 10 ms) whose normalised autocorrelation peaks at VOICED or more
over the pitch lags (60-400 Hz), as syllables.py tests a nucleus, and whose level lies
within `BELOW_MAX_DB` of the stretch's loudest frame (the line's hiss between words is no
voice).
"""

from __future__ import annotations

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE
from callaudit.audio.syllables import PITCH_HZ, VOICED

FRAME_S, HOP_S = 0.040, 0.010
BELOW_MAX_DB = 30.0
CHUNK = 1000  # frames at a time


def voiced_s(x: np.ndarray, sr: int = SAMPLE_RATE, enough: float | None = None) -> float:
    """Seconds of voiced frames in `x` (a mono float signal at `sr` Hz); 0.0 for a signal
    shorter than one frame or all zeros. Frames are read `CHUNK` at a time (a long region
    needs no more memory than a short one), the loudest first; with `enough` (s) it stops
    as soon as that much voice is found (what asks "is there any voice?" pays for a few
    frames of real speech, not for the whole region) and returns at least `enough`."""
    frame, hop = int(FRAME_S * sr), int(HOP_S * sr)
    lo, hi = int(sr / PITCH_HZ[1]), int(sr / PITCH_HZ[0])
    if len(x) < frame:
        return 0.0
    x = np.asarray(x, np.float64)
    n = 1 + (len(x) - frame) // hop
    starts = hop * np.arange(n)
    # each frame's energy about its mean, from running sums: the loudest frame first
    c1, c2 = (np.concatenate([[0.0], np.cumsum(v)]) for v in (x, x * x))
    s1, s2 = c1[starts + frame] - c1[starts], c2[starts + frame] - c2[starts]
    energy = np.maximum(s2 - s1 * s1 / frame, 0.0)
    if not np.any(energy > 0):
        return 0.0
    db = 10 * np.log10(energy + 1e-20)
    loud = np.nonzero(db >= db.max() - BELOW_MAX_DB)[0]
    if enough is not None:
        loud = loud[np.argsort(-db[loud], kind="stable")]  # a vowel is among the loudest
    size = 1 << int(np.ceil(np.log2(2 * frame)))
    voiced, k, step = 0, 0, (32 if enough is not None else CHUNK)
    while k < len(loud):
        idx = np.arange(frame)[None, :] + starts[loud[k:k + step]][:, None]
        frames = x[idx]
        frames = frames - frames.mean(axis=1, keepdims=True)
        ac = np.fft.irfft(np.abs(np.fft.rfft(frames, size, axis=1)) ** 2, size, axis=1)
        voiced += int(np.sum(ac[:, lo:hi + 1].max(axis=1) >= VOICED * (ac[:, 0] + 1e-20)))
        if enough is not None and voiced * HOP_S >= enough:
            break
        k, step = k + step, CHUNK
    return round(voiced * HOP_S, 3)
