"""Helpers to write test recordings in any format with PyAV (no ffmpeg binary needed)."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np


def write_wav(path: Path, channels: list[np.ndarray], rate: int) -> Path:
    x = np.stack(channels, axis=1) if len(channels) > 1 else channels[0][:, None]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(x.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def encode(path: Path, channels: list[np.ndarray], rate: int, codec: str) -> Path:
    """Encode float channels with `codec` into the container named by path's suffix."""
    layout = "stereo" if len(channels) == 2 else "mono"
    x = np.stack(channels).astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        fmt = stream.codec_context.format.name if stream.codec_context.format else "fltp"
        frame_len = 1024
        for i in range(0, x.shape[1], frame_len):
            chunk = x[:, i : i + frame_len]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp",
                                               layout=layout)
            frame.sample_rate = rate
            if fmt != "fltp":
                frame = av.AudioResampler(format=fmt, layout=layout, rate=rate).resample(frame)[0]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def tone(freq: float, seconds: float, rate: int, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def distinct_calls(dst: Path, n: int, first: int = 0) -> list[Path]:
    """n distinct good calls named {date}_{agent}_{call} (the silent-call sample at different
    gains: different content, so different identities in the database)."""
    from callaudit.audio.decode import decode
    from tests.helpers import SAMPLES

    a = decode(str(SAMPLES / "silent_call.wav"))
    out = []
    for i in range(first, first + n):
        gain = 1.0 - 0.05 * i
        out.append(write_wav(dst / f"2026-11-22_A{i % 2 + 1:03d}_call{i}.wav",
                             [c * gain for c in a.channels], 16000))
    return out
