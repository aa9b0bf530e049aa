"""Kaldi log-mel filterbank (kaldi-native-fbank), as CAM++ (3D-Speaker) was trained on.

The options are those of `torchaudio.compliance.kaldi.fbank(wave[None], num_mel_bins=80,
sample_frequency=16000, dither=0)`, which 3D-Speaker uses: 25 ms povey window, 10 ms shift,
preemphasis 0.97, DC removal, snip_edges, power spectrum, mel bins 20 Hz..Nyquist, no energy term,
log floored at float32 eps; then 3D-Speaker's per-utterance mean normalisation (`FBank(80, 16000,
mean_nor=True)`). The waveform is float in [-1, 1], not scaled by 32768 (kaldi-native-fbank takes
the samples as given): that is what 3D-Speaker feeds (`torchaudio.load`); after the mean
normalisation a constant scale would matter only in bins at the log floor. Torch is not needed at
run time. The MFCC
embedder of diarize.py uses the same filterbank with 40 bins (`mean_norm=False`, `mel_banks`).

Until issue 32 this was numpy written by hand. Measured against it: at most 1.8e-3 apart (log
energy, in bins near the floor; mean 4e-6) on samples/demo_call.wav, both within 6.4e-4 of
torchaudio's on the reference clip, CAM++ embeddings at cosine >= 0.9999998, every diarization
benchmark result the same; about 3.7x slower per window (bench/library.md).
"""

from __future__ import annotations

from functools import lru_cache

import kaldi_native_fbank as knf
import numpy as np


@lru_cache(maxsize=8)
def _options(sr: int, n_mels: int) -> knf.FbankOptions:
    opts = knf.FbankOptions()
    frame = opts.frame_opts
    frame.samp_freq = float(sr)
    frame.frame_length_ms, frame.frame_shift_ms = 25.0, 10.0
    frame.dither = 0.0
    frame.preemph_coeff = 0.97
    frame.remove_dc_offset = True
    frame.window_type = "povey"
    frame.round_to_power_of_two = True
    frame.snip_edges = True
    opts.mel_opts.num_bins = n_mels
    opts.mel_opts.low_freq, opts.mel_opts.high_freq = 20.0, 0.0  # 0: Nyquist
    opts.use_energy = False
    opts.use_power = True
    opts.use_log_fbank = True
    return opts


@lru_cache(maxsize=8)
def mel_banks(sr: int = 16000, n_mels: int = 80) -> np.ndarray:
    """(n_fft/2 + 1, n_mels) triangular mel weights of `fbank`'s power spectrum bins."""
    opts = _options(sr, n_mels)
    return knf.MelBanks(opts.mel_opts, opts.frame_opts).get_matrix().T.copy()


def fbank(wave: np.ndarray, sr: int = 16000, n_mels: int = 80, mean_norm: bool = True) -> np.ndarray:
    """(frames, n_mels) float32 log-mel energies of a mono float waveform; frames = 1 + (len - 400) // 160.

    With `mean_norm` (the default, as CAM++ expects) each bin's mean over the clip is subtracted.
    A clip shorter than one 25 ms frame gives zero frames.
    """
    x = np.asarray(wave, dtype=np.float32).reshape(-1)
    extractor = knf.OnlineFbank(_options(sr, n_mels))
    extractor.accept_waveform(float(sr), x.tolist())  # a list crosses into C++ faster than an array
    extractor.input_finished()
    n = extractor.num_frames_ready
    if n == 0:
        return np.zeros((0, n_mels), dtype=np.float32)
    feats = np.stack([extractor.get_frame(i) for i in range(n)])  # copies: the buffers are the extractor's
    if mean_norm:
        feats -= feats.mean(axis=0, keepdims=True)
    return feats
