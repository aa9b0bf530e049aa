"""Kaldi-style log-mel filterbank in numpy, as CAM++ (3D-Speaker) was trained on.

Matches `torchaudio.compliance.kaldi.fbank(wave[None], num_mel_bins=80, sample_frequency=16000, dither=0)`
with its defaults (25 ms povey window, 10 ms shift, preemphasis 0.97, DC removal, snip_edges, power
spectrum, mel bins 20 Hz..Nyquist, no energy term), followed by 3D-Speaker's per-utterance mean
normalisation (`FBank(80, 16000, mean_nor=True)`). The waveform is float in [-1, 1], not scaled by
32768: that is what 3D-Speaker feeds (`torchaudio.load`), and the mean normalisation would remove a
constant scale anyway. Torch is not needed at run time.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_FRAME_LEN_MS = 25.0
_FRAME_SHIFT_MS = 10.0
_PREEMPH = 0.97
_LOW_HZ = 20.0
_EPS = float(np.finfo(np.float32).eps)  # torchaudio floors mel energies at float32 eps before the log


def _mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


@lru_cache(maxsize=8)
def _tables(sr: int, n_mels: int) -> tuple[int, int, int, np.ndarray, np.ndarray]:
    """Frame sizes, povey window and (n_fft/2+1, n_mels) triangular mel matrix; cached per config."""
    win = int(sr * _FRAME_LEN_MS / 1000)
    shift = int(sr * _FRAME_SHIFT_MS / 1000)
    n_fft = 1 << (win - 1).bit_length()  # round_to_power_of_two
    n = np.arange(win, dtype=np.float64)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * n / (win - 1))) ** 0.85  # "povey": hann (symmetric) ^ 0.85
    # Triangles are spaced evenly on the mel scale between 20 Hz and Nyquist; Kaldi evaluates them on
    # the n_fft/2 bins below Nyquist and leaves the Nyquist bin out (torchaudio pads it with 0).
    lo, hi = _mel(_LOW_HZ), _mel(sr / 2)
    delta = (hi - lo) / (n_mels + 1)
    left = lo + np.arange(n_mels)[:, None] * delta
    center, right = left + delta, left + 2 * delta
    mel = _mel(sr / n_fft * np.arange(n_fft // 2))[None, :]
    up, down = (mel - left) / (center - left), (right - mel) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    banks = np.pad(banks, ((0, 0), (0, 1)))
    return win, shift, n_fft, window.astype(np.float32), banks.T.astype(np.float32)


def fbank(wave: np.ndarray, sr: int = 16000, n_mels: int = 80, mean_norm: bool = True) -> np.ndarray:
    """(frames, n_mels) float32 log-mel energies of a mono float waveform; frames = 1 + (len - 400) // 160.

    With `mean_norm` (the default, as CAM++ expects) each bin's mean over the clip is subtracted.
    A clip shorter than one 25 ms frame gives zero frames.
    """
    win, shift, n_fft, window, banks = _tables(sr, n_mels)
    x = np.asarray(wave, dtype=np.float32).reshape(-1)
    if len(x) < win:
        return np.zeros((0, n_mels), dtype=np.float32)
    n_frames = 1 + (len(x) - win) // shift  # snip_edges: only whole frames
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::shift][:n_frames].astype(np.float64)
    frames -= frames.mean(axis=1, keepdims=True)  # remove_dc_offset, per frame
    # Preemphasis inside each frame; the first sample uses itself as its predecessor (Kaldi's choice).
    frames[:, 1:] -= _PREEMPH * frames[:, :-1]
    frames[:, 0] *= 1.0 - _PREEMPH
    frames *= window
    power = np.abs(np.fft.rfft(frames, n=n_fft, axis=1)) ** 2
    feats = np.log(np.maximum(power.astype(np.float32) @ banks, _EPS))
    if mean_norm:
        feats -= feats.mean(axis=0, keepdims=True)
    return feats.astype(np.float32, copy=False)
