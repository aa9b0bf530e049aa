"""Decode any recording PyAV can read into 16 kHz float32, one array per channel.

PyAV bundles FFmpeg's decoders, so wav/mp3/m4a/flac/ogg/amr work without a system ffmpeg.
Channels are kept apart: call-center recorders usually put one party on each.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field

import av
import numpy as np

from audit.errors import InputError
from audit.strings import Detail

SAMPLE_RATE = 16000
MAX_CHANNELS = 2


@dataclass
class Audio:
    path: str
    channels: list[np.ndarray]  # float32 in [-1, 1] at SAMPLE_RATE, equal lengths
    source_rate: int
    source_channels: int
    # What the file's header declares, when it says (None: it does not); compared with what
    # decoded, so a truncated or damaged file is never audited as if it were whole.
    declared_s: float | None = None
    warnings: list[Detail] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE if self.channels else 0.0

    @property
    def missing_s(self) -> float:
        """Seconds the header declares beyond what decoded (0 when complete or unknown)."""
        return max(0.0, self.declared_s - self.duration) if self.declared_s else 0.0


# Declared and decoded lengths may differ by a frame or a resampler's tail; more is a fault.
LENGTH_TOLERANCE_S = 1.0
# Containers whose header states the length (others, such as mp3 and amr, are estimated
# from the bit rate and may be far off without anything being wrong).
_EXACT_LENGTH = {"flac", "ogg", "matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2"}


@dataclass
class WavSizes:
    """Where a RIFF WAV file's samples are and how much its header says there is."""

    data_offset: int
    declared_bytes: int | None  # None: the size field is 0 or 0xFFFFFFFF (never filled in)
    present_bytes: int  # what the file holds from data_offset to its end
    byte_rate: int

    @property
    def declared_s(self) -> float | None:
        return self.declared_bytes / self.byte_rate if self.declared_bytes is not None else None

    @property
    def present_s(self) -> float:
        return self.present_bytes / self.byte_rate


def wav_sizes(path: str) -> WavSizes | None:
    """The `data` chunk of a RIFF WAV file (None for anything else, RF64 included).

    Recorders that crash or are still writing leave size fields at 0 or 0xFFFFFFFF, or
    shorter than the samples; a copy cut short leaves them longer (RIFF: Microsoft/IBM
    Multimedia Programming Interface and Data Specifications 1.0, 1991)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        size = os.fstat(f.fileno()).st_size
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        cid, n = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if cid == b"fmt " and pos + 16 <= len(head):
            byte_rate = struct.unpack("<I", head[pos + 16:pos + 20])[0]
        elif cid == b"data":
            if byte_rate <= 0:
                return None
            present = size - (pos + 8)
            if n not in (0, 0xFFFFFFFF) and n < present and _chunk_follows(path, pos + 8 + n):
                present = n  # a well-formed file with chunks after its samples (LIST, id3)
            return WavSizes(pos + 8, None if n in (0, 0xFFFFFFFF) else n, present, byte_rate)
        pos += 8 + n + (n & 1)  # chunks are padded to an even length
    return None


def _chunk_follows(path: str, at: int) -> bool:
    with open(path, "rb") as f:
        f.seek(at + (at & 1))
        head = f.read(4)
    return len(head) == 4 and all(32 <= c < 127 for c in head)


class _SizedWav(io.RawIOBase):
    """A WAV file read with its data size field set to 0 ("to the end of the file"), so the
    decoder reads every sample there is, not only the count a stale header gives. The file
    itself is never modified."""

    def __init__(self, path: str, size_field_at: int) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed with this object
        self._at = size_field_at

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        start = self._f.tell()
        n = self._f.readinto(b)
        lo, hi = max(start, self._at), min(start + n, self._at + 4)
        for i in range(lo, hi):  # the 4 bytes of the size field read as zeros
            b[i - start] = 0
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


def decode(path: str, max_duration_s: float = 4 * 3600) -> Audio:
    """Read `path` into 16 kHz float32 channels.

    Raises InputError with a one-line reason for anything unusable. A file that decodes
    only in part (truncated, damaged part-way, a WAV header that disagrees with its data) is
    read as far as it goes, with `declared_s` and a warning saying what is missing."""
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if os.path.isdir(path):
        raise InputError(path, "is a directory, not a recording")
    if os.path.getsize(path) == 0:
        raise InputError(path, "empty file (0 bytes)")
    try:
        wav = wav_sizes(path)
    except OSError as e:
        raise InputError(path, f"cannot read ({e.strerror or e})") from None
    warnings: list[Detail] = []
    source: str | io.RawIOBase = path
    if wav and (wav.declared_bytes is None or wav.declared_bytes < wav.present_bytes - wav.byte_rate):
        # A size field left at 0/0xFFFFFFFF, or short of the samples (a recorder that
        # stopped before fixing its header): read to the end of the file, and say so.
        if wav.declared_bytes is not None:
            source = _SizedWav(path, wav.data_offset - 4)
        key = "warn_wav_size_unset" if wav.declared_bytes is None else "warn_wav_size_short"
        warnings.append(Detail(key, {"declared_s": round(wav.declared_s or 0, 1),
                                     "present_s": round(wav.present_s, 1)}))
    try:
        # a path, never a URL: "call-10:32:05.wav" is a file name, not protocol "call-10"
        container = av.open(source if not isinstance(source, str) else _as_file(source),
                            metadata_errors="ignore")
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as e:
        raise InputError(path, f"not a readable audio file ({_reason(e)})") from None
    declared_s = wav.declared_s if wav else None
    with container:
        if declared_s is None and container.duration and container.format.name in _EXACT_LENGTH:
            declared_s = container.duration / 1e6
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
            # A damaged file decodes up to the damage; refuse only if nothing usable came out.
            if not chunks:
                raise InputError(path, f"audio could not be decoded ({_reason(e)})") from None
            warnings.append(Detail("warn_decode_stopped", {"at_s": round(total / SAMPLE_RATE, 1),
                                                           "reason": _reason(e)}))
        source_rate = stream.codec_context.sample_rate or SAMPLE_RATE
    if not chunks:
        raise InputError(path, "contains no audio samples")
    data = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    del chunks  # a 3-hour call is 1.4 GB of samples: keep one copy, not three
    if data.shape[1] == 0:
        raise InputError(path, "contains no audio samples (zero length)")
    chans = [data[i] for i in range(min(data.shape[0], MAX_CHANNELS))]  # rows: contiguous views
    audio = Audio(path=path, channels=chans, source_rate=source_rate, source_channels=n_src,
                  declared_s=declared_s, warnings=warnings)
    if audio.missing_s > LENGTH_TOLERANCE_S:
        audio.warnings.append(Detail("warn_truncated", {"declared_s": round(declared_s or 0, 1),
                                                        "decoded_s": round(audio.duration, 1)}))
    return audio


def _as_file(path: str) -> str:
    """FFmpeg reads "name:rest" as protocol "name"; its `file:` protocol takes any path."""
    return "file:" + path if ":" in os.path.basename(path) or ":" in path.split(os.sep)[0] else path


def _reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.split(":")[-1].strip() or type(e).__name__
