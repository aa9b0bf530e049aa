"""Constructed test signals with exactly known timing (no TTS, no model)."""

from __future__ import annotations

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE, Audio

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


def tones(freqs: tuple[float, ...], cadence: list[tuple[float, float]], seconds: float,
          amp: float = 0.2, cut_s: float | None = None) -> np.ndarray:
    """A call-progress tone: `freqs` summed, switched by the repeating (on, off) `cadence`
    (seconds) from 0 to `seconds`; silent from `cut_s` on (the answer cuts the ring)."""
    n = int(round(seconds * SR))
    t = np.arange(n) / SR
    x = sum(np.sin(2 * np.pi * f * t) for f in freqs) / len(freqs)
    on = np.zeros(n, bool)
    pos = 0.0
    while pos < seconds:
        for a, b in cadence:
            on[int(round(pos * SR)):int(round((pos + a) * SR))] = True
            pos += a + b
    if cut_s is not None:
        on[int(round(cut_s * SR)):] = False
    return (amp * x * on).astype(np.float32)


DTMF = {d: (lo, hi) for row, lo in zip(("123A", "456B", "789C", "*0#D"), (697, 770, 852, 941),
                                       strict=True)
        for d, hi in zip(row, (1209, 1336, 1477, 1633), strict=True)}


def dtmf(digits: str, on_s: float = 0.1, off_s: float = 0.1, amp: float = 0.2) -> np.ndarray:
    """Key tones (ITU-T Q.23): each digit its low + high tone for `on_s`, then `off_s` quiet."""
    t = np.arange(int(round(on_s * SR))) / SR
    gap = np.zeros(int(round(off_s * SR)), np.float32)
    parts = []
    for d in digits:
        lo, hi = DTMF[d]
        parts += [(amp / 2 * (np.sin(2 * np.pi * lo * t) + np.sin(2 * np.pi * hi * t))), gap]
    return np.concatenate(parts).astype(np.float32)


def music(seconds: float, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    """Instrumental hold music: a melody of harmonic notes (0.3-0.6 s, attack/decay envelopes)
    over three-note chords and a bass, and a drum-like noise burst on every beat."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * SR))
    out = np.zeros(n)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 7, 9, 12, 14, 16]) / 12)  # A pentatonic

    def note(f0: float, length: int, partials: int, decay: float) -> np.ndarray:
        t = np.arange(length) / SR
        x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) * 0.6 ** k
                for k in range(1, partials + 1) if f0 * k < 3800)
        env = np.minimum(1.0, t / 0.02) * np.exp(-t / decay)  # 20 ms attack, then decay
        return x * env

    pos = 0
    while pos < n:  # melody
        length = min(n - pos, int(rng.uniform(0.3, 0.6) * SR))
        out[pos:pos + length] += note(float(rng.choice(scale)) * 2, length, 6, 0.4)
        pos += length
    pos = 0
    while pos < n:  # chords and bass, one per bar of 1.2 s
        length = min(n - pos, int(1.2 * SR))
        root = int(rng.integers(0, 4))
        for k in (0, 2, 4):
            out[pos:pos + length] += 0.4 * note(float(scale[root + k]), length, 4, 1.5)
        out[pos:pos + length] += 0.6 * note(float(scale[root]) / 2, length, 3, 0.8)
        pos += length
    beat = int(0.3 * SR)
    for p in range(0, n - beat, beat * 2):  # drum: a noise burst decaying in 60 ms
        t = np.arange(beat) / SR
        out[p:p + beat] += 0.5 * rng.standard_normal(beat) * np.exp(-t / 0.06)
    return (amp * out / np.abs(out).max()).astype(np.float32)


def overlay(x: np.ndarray, at_s: float, y: np.ndarray) -> np.ndarray:
    """A copy of `x` with `y` added from `at_s` seconds on."""
    out = x.copy()
    i = int(round(at_s * SR))
    out[i:i + len(y)] += y[:len(out) - i]
    return out


def splice(x: np.ndarray, at_s: float, y: np.ndarray) -> np.ndarray:
    """`x` with `y` inserted at `at_s` seconds (what follows moves later by len(y))."""
    i = int(round(at_s * SR))
    return np.concatenate([x[:i], y.astype(x.dtype), x[i:]])
