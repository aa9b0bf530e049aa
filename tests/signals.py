"""Constructed test signals with exactly known timing (no TTS, no model)."""

from __future__ import annotations

import numpy as np

from audit.audio.decode import SAMPLE_RATE, Audio

SR = SAMPLE_RATE


def voice(seconds: float, f0: float = 140.0, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    """A voiced, syllable-rhythmic harmonic signal that webrtcvad hears as speech."""
    t = np.arange(int(round(seconds * SR))) / SR
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 15))
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    rng = np.random.default_rng(seed)
    return (amp * x * env / np.abs(x).max() + 0.002 * rng.standard_normal(len(t))).astype(np.float32)


def ring(seconds: float = 1.0, amp: float = 0.2) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return (amp * np.sin(2 * np.pi * 450 * t)).astype(np.float32)


def channel(duration: float, bursts: list[tuple[float, float]], seed: int = 1,
            f0: float = 140.0) -> np.ndarray:
    """Noise floor (-66 dBFS) with voice bursts at the given (start, end) times."""
    rng = np.random.default_rng(seed)
    sig = (0.0005 * rng.standard_normal(int(duration * SR))).astype(np.float32)
    for s, e in bursts:
        v = voice(e - s, f0=f0, seed=seed)
        sig[int(round(s * SR)):int(round(s * SR)) + len(v)] += v
    return sig


def audio(*channels: np.ndarray) -> Audio:
    n = max(len(c) for c in channels)
    chans = [np.pad(c, (0, n - len(c))).astype(np.float32) for c in channels]
    return Audio(path="constructed", channels=chans, source_rate=SR, source_channels=len(chans))
