"""Decode any recording PyAV can read into 16 kHz float32, one array per channel.

PyAV bundles FFmpeg's decoders, so wav/mp3/m4a/flac/ogg/amr work without a system ffmpeg.
Channels are kept apart: call-center recorders usually put one party on each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av
import numpy as np

from audit.errors import InputError

SAMPLE_RATE = 16000
MAX_CHANNELS = 2


@dataclass
class Audio:
    path: str
    channels: list[np.ndarray]  # float32 in [-1, 1] at SAMPLE_RATE, equal lengths
    source_rate: int
    source_channels: int

    @property
    def duration(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE if self.channels else 0.0


def decode(path: str, max_duration_s: float = 4 * 3600) -> Audio:
    """Read `path`; raise InputError with a one-line reason for anything unusable."""
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if os.path.isdir(path):
        raise InputError(path, "is a directory, not a recording")
    if os.path.getsize(path) == 0:
        raise InputError(path, "empty file (0 bytes)")
    try:
        container = av.open(path, metadata_errors="ignore")
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as e:
        raise InputError(path, f"not a readable audio file ({_reason(e)})") from None
    with container:
        if not container.streams.audio:
            raise InputError(path, "contains no audio stream")
        stream = container.streams.audio[0]
        n_src = stream.codec_context.channels or 1
        layout = "stereo" if n_src >= 2 else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray()
                    chunks.append(arr)
                    total += arr.shape[1]
                if total > max_duration_s * SAMPLE_RATE:
                    raise InputError(
                        path, f"longer than the {max_duration_s / 3600:g} h limit for one call"
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.error.FFmpegError as e:
            # A truncated file decodes up to the damage; refuse only if nothing usable came out.
            if not chunks:
                raise InputError(path, f"audio could not be decoded ({_reason(e)})") from None
        source_rate = stream.codec_context.sample_rate or SAMPLE_RATE
    if not chunks:
        raise InputError(path, "contains no audio samples")
    data = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    del chunks  # a 3-hour call is 1.4 GB of samples: keep one copy, not three
    if data.shape[1] == 0:
        raise InputError(path, "contains no audio samples (zero length)")
    chans = [data[i] for i in range(min(data.shape[0], MAX_CHANNELS))]  # rows: contiguous views
    return Audio(path=path, channels=chans, source_rate=source_rate, source_channels=n_src)


def _reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.split(":")[-1].strip() or type(e).__name__
