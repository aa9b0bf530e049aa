"""Call-progress tones in the recording: the Chinese ringback before the answer.

webrtcvad hears a ringback tone as speech, so this runs before the speech regions are used
and the pipeline drops regions that lie on a burst; the end of the last burst is where the
call connects (the clock of the answer delay).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audit.audio.decode import SAMPLE_RATE, Audio

RING_HZ = 450.0
RING_FRAME_S = 0.05
RING_SEARCH_S = 60.0  # ringback can only precede the answer


@dataclass
class Ringback:
    rings: int | None  # None: no ringback in the recording
    connect_s: float
    bursts: list[tuple[float, float]] = field(default_factory=list)

    def overlaps(self, start: float, end: float) -> bool:
        return any(s < end and start < e for s, e in self.bursts)


def detect_ringback(audio: Audio) -> Ringback:
    """The Chinese ringback at the start of a recording: 450 Hz bursts of ~1 s every ~5 s.
    Searched in the first RING_SEARCH_S of each channel; the longest cadence wins."""
    n = int(RING_FRAME_S * SAMPLE_RATE)
    best: list[tuple[float, float]] = []
    t = np.arange(n) / SAMPLE_RATE
    c, s = np.cos(2 * np.pi * RING_HZ * t), np.sin(2 * np.pi * RING_HZ * t)
    for ch in audio.channels:
        x = ch[: int(RING_SEARCH_S * SAMPLE_RATE)]
        frames = len(x) // n
        if frames == 0:
            continue
        f = x[: frames * n].reshape(frames, n).astype(np.float64)
        tone = 2 * (np.square(f @ c) + np.square(f @ s)) / n  # power at 450 Hz
        total = np.sum(np.square(f), axis=1) + 1e-12
        on = (tone / total > 0.5) & (total / n > 1e-6)  # tonal, and above -60 dBFS
        bursts = [b for b in _bursts(on, RING_FRAME_S) if 0.6 <= b[1] - b[0] <= 1.6]
        # a ring cadence from the start: first burst early, then one every 4-6 s
        run: list[tuple[float, float]] = []
        for b in bursts:
            if (not run and b[0] <= 6.0) or (run and 4.0 <= b[0] - run[-1][0] <= 6.0):
                run.append(b)
            elif run:
                break
        if len(run) > len(best):
            best = run
    if not best:
        return Ringback(None, 0.0)
    return Ringback(len(best), round(best[-1][1], 3), best)


def _bursts(on: np.ndarray, step: float) -> list[tuple[float, float]]:
    out, i = [], 0
    while i < len(on):
        if on[i]:
            j = i
            while j < len(on) and on[j]:
                j += 1
            out.append((i * step, j * step))
            i = j
        else:
            i += 1
    return out
