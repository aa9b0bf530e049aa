"""Signal level in dBFS: the one definition every stage uses.

dBFS here is the RMS of float samples in [-1, 1] relative to full scale (a full-scale sine
is -3 dBFS), floored at -100 dBFS so silence has a finite level.
"""

from __future__ import annotations

import numpy as np

from callaudit.audio.samples import SWEEP, Channel, blocks

FLOOR_RMS = 1e-5  # -100 dBFS
SILENT_DBFS = -99.0  # the level recorded for a stretch with no samples


def rms(x: Channel) -> float:
    """Root mean square of `x` (float32 or float64 samples, or a FileSamples channel), in
    float64, a block at a time: no squared copy, no copy of a whole channel."""
    if len(x) == 0:
        return 0.0
    total = 0.0
    for _, b in blocks(x, SWEEP):
        b64 = np.asarray(b, dtype=np.float64)
        total += float(np.dot(b64, b64))
    return float(np.sqrt(total / len(x)))


def dbfs(x: np.ndarray) -> float:
    """RMS level of `x` in dBFS; SILENT_DBFS for an empty array."""
    if len(x) == 0:
        return SILENT_DBFS
    return to_dbfs(rms(x))


def to_dbfs(rms_value: float) -> float:
    return float(20 * np.log10(max(rms_value, FLOOR_RMS)))


def power_to_db(power: np.ndarray) -> np.ndarray:
    """Mean-square power per frame -> dB (floored at -100 dB), for envelopes."""
    return 10 * np.log10(np.maximum(np.asarray(power, dtype=np.float64), 1e-10))


def frame_db(x: Channel, n: int) -> np.ndarray:
    """Mean-square power in dB (power_to_db) of each whole frame of `n` samples of `x`, a block
    of frames at a time, without a squared copy (a 4-hour channel is 230 M samples)."""
    k = len(x) // n
    if k == 0:
        return np.zeros(0)
    out = np.empty(k)
    step = max(1, SWEEP // n) * n
    for a, b in blocks(x, step, stop=k * n):
        frames = b.reshape(-1, n)
        out[a // n: a // n + len(frames)] = power_to_db(np.einsum("ij,ij->i", frames, frames) / n)
    return out


def mean_dbfs(levels: list[tuple[float, float]]) -> float | None:
    """The energy mean of (seconds, dBFS) stretches: what one level over all of them is."""
    secs = sum(s for s, _ in levels)
    if secs <= 0:
        return None
    power = sum(s * 10 ** (db / 10) for s, db in levels) / secs
    return float(10 * np.log10(max(power, 1e-10)))
