"""Signal level in dBFS: the one definition every stage uses.

dBFS here is the RMS of float samples in [-1, 1] relative to full scale (a full-scale sine
is -3 dBFS), floored at -100 dBFS so silence has a finite level.
"""

from __future__ import annotations

import numpy as np

FLOOR_RMS = 1e-5  # -100 dBFS
SILENT_DBFS = -99.0  # the level recorded for a stretch with no samples


def rms(x: np.ndarray) -> float:
    """Root mean square of `x` (float32 or float64 samples), in float64 without a squared copy."""
    if len(x) == 0:
        return 0.0
    x64 = np.asarray(x, dtype=np.float64)
    return float(np.sqrt(np.dot(x64, x64) / len(x64)))


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


def frame_db(x: np.ndarray, n: int) -> np.ndarray:
    """Mean-square power in dB (power_to_db) of each whole frame of `n` samples of `x`, without a
    squared copy of the signal (a 4-hour channel is 230 M samples)."""
    k = len(x) // n
    if k == 0:
        return np.zeros(0)
    frames = x[: k * n].reshape(k, n)
    return power_to_db(np.einsum("ij,ij->i", frames, frames) / n)


def mean_dbfs(levels: list[tuple[float, float]]) -> float | None:
    """The energy mean of (seconds, dBFS) stretches: what one level over all of them is."""
    secs = sum(s for s, _ in levels)
    if secs <= 0:
        return None
    power = sum(s * 10 ** (db / 10) for s, db in levels) / secs
    return float(10 * np.log10(max(power, 1e-10)))
