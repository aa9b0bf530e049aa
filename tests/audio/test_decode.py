"""Decoding: formats, rates, channel layouts, and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from callaudit.audio.decode import SAMPLE_RATE, decode
from callaudit.errors import InputError
from tests.helpers.audio_util import encode, tone, write_wav


def _stereo(rate: int, seconds: float = 2.0) -> list[np.ndarray]:
    return [tone(440, seconds, rate), tone(1000, seconds, rate, 0.1)]


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_wav_any_rate_to_16k_per_channel(tmp_path: Path, rate: int) -> None:
    a = decode(str(write_wav(tmp_path / "x.wav", _stereo(rate), rate)))
    assert a.source_rate == rate and a.source_channels == 2 and len(a.channels) == 2
    assert a.duration == pytest.approx(2.0, abs=0.02)
    # channels stay apart: left is the loud 440 Hz tone, right the quiet 1 kHz one
    assert np.abs(a.channels[0]).max() == pytest.approx(0.3, abs=0.03)
    assert np.abs(a.channels[1]).max() == pytest.approx(0.1, abs=0.02)


@pytest.mark.parametrize(("suffix", "codec"), [
    ("flac", "flac"), ("mp3", "libmp3lame"), ("m4a", "aac"), ("ogg", "libopus"),
    ("wav", "pcm_mulaw"), ("wav", "pcm_alaw"),
])
def test_compressed_formats(tmp_path: Path, suffix: str, codec: str) -> None:
    rate = {"libopus": 48000, "libmp3lame": 8000, "aac": 16000}.get(codec, 8000)
    path = encode(tmp_path / f"x.{suffix}", _stereo(rate), rate, codec)
    a = decode(str(path))
    assert len(a.channels) == 2
    assert a.duration == pytest.approx(2.0, abs=0.15)  # encoder priming/padding
    assert a.channels[0].std() > a.channels[1].std()


def test_amr_mono(tmp_path: Path) -> None:
    path = encode(tmp_path / "x.amr", [tone(300, 2.0, 8000)], 8000, "libopencore_amrnb")
    a = decode(str(path))
    assert len(a.channels) == 1 and a.duration == pytest.approx(2.0, abs=0.1)


def test_mono_8k(tmp_path: Path) -> None:
    a = decode(str(write_wav(tmp_path / "m.wav", [tone(300, 1.0, 8000)], 8000)))
    assert len(a.channels) == 1 and len(a.channels[0]) == SAMPLE_RATE


def test_path_with_spaces_and_chinese(tmp_path: Path) -> None:
    p = write_wav(tmp_path / "录音 文件 (1).wav", [tone(300, 1.0, 8000)], 8000)
    assert decode(str(p)).duration == pytest.approx(1.0, abs=0.01)


def _error(path: Path | str) -> str:
    with pytest.raises(InputError) as e:
        decode(str(path))
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in _error(tmp_path / "nope.wav")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.wav").write_bytes(b"")
    assert "empty" in _error(tmp_path / "e.wav")


def test_not_audio(tmp_path: Path) -> None:
    (tmp_path / "notes.wav").write_text("这不是录音 " * 100)
    assert "not a readable audio file" in _error(tmp_path / "notes.wav")


def test_directory(tmp_path: Path) -> None:
    assert "directory" in _error(tmp_path)


def test_header_only_wav(tmp_path: Path) -> None:
    p = write_wav(tmp_path / "zero.wav", [np.zeros(0, np.float32)], 8000)
    assert "no audio" in _error(p)


def test_truncated_wav_decodes_what_is_there(tmp_path: Path) -> None:
    p = write_wav(tmp_path / "t.wav", _stereo(8000, 4.0), 8000)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])  # header still claims 4 s
    a = decode(str(p))
    assert a.duration == pytest.approx(2.0, abs=0.05)


def test_truncated_mp3_decodes_what_is_there(tmp_path: Path) -> None:
    p = encode(tmp_path / "t.mp3", _stereo(16000, 4.0), 16000, "libmp3lame")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    assert 1.0 < decode(str(p)).duration < 3.0


def test_too_long(tmp_path: Path) -> None:
    p = write_wav(tmp_path / "long.wav", [np.zeros(8000 * 20, np.float32)], 8000)
    with pytest.raises(InputError, match="longer than"):
        decode(str(p), max_duration_s=10)
