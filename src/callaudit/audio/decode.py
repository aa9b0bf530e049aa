"""Decode any recording PyAV can read into 16 kHz float32, one array per channel.

PyAV bundles FFmpeg's decoders, so wav/mp3/m4a/flac/ogg/amr work without a system ffmpeg.
Channels are kept apart: call-center recorders usually put one party on each.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np

from callaudit.audio.samples import Channel, FileSamples
from callaudit.errors import InputError, ScratchError
from callaudit.strings import Detail

SAMPLE_RATE = 16000
MAX_CHANNELS = 2


@dataclass
class Audio:
    path: str
    # float32 in [-1, 1] at SAMPLE_RATE, equal lengths: arrays, or for a long recording
    # FileSamples (audio/samples.py), sliced the same way
    channels: list[Channel]
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
# Decoded samples are kept in blocks of this many per row (2**23: 8.7 min, 32 MB): above
# glibc's largest mmap threshold, so each block is mapped memory that goes back to the
# system when freed, and a block's pages count only once written.
BLOCK = 2**23
# A recording longer than this (samples per channel; 17.5 min) goes to temporary files as it
# decodes (audio/samples.py): shorter ones, most calls, stay in memory (135 MB stereo).
IN_MEMORY_MAX = 2 * BLOCK
GAP_FILL_S = 0.1  # a stream's packets further apart than this leave a gap: filled with silence
# Containers whose header states the length (others, such as mp3 and amr, are estimated
# from the bit rate and may be far off without anything being wrong).
_EXACT_LENGTH = {"flac", "ogg", "matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2"}

# Headerless telephony files: nothing in their bytes says how to read them (FFmpeg guesses
# garbage or refuses), so their format is given: --raw FORMAT:RATE[:CHANNELS].
RAW_SUFFIXES = {".raw", ".ul", ".ulaw", ".al", ".alaw", ".pcm", ".vox", ".sln"}
# Read by their own header: a --raw given for a whole batch leaves them alone.
HEADED_SUFFIXES = {".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".opus", ".amr", ".wma",
                    ".mp4", ".webm", ".mka", ".mkv", ".3gp"}
# FFmpeg's raw demuxer per format; vox (Dialogic ADPCM) has none: read as bytes (u8) and
# decoded by FFmpeg's Dialogic/OKI ADPCM decoder (_codec).
_RAW_DEMUXERS = {"ulaw": "mulaw", "alaw": "alaw", "s16le": "s16le", "u8": "u8", "vox": "u8"}
_RAW_FORMATS = "formats: " + ", ".join(_RAW_DEMUXERS)
_RAW_EXAMPLE = f"e.g. --raw ulaw:8000 ({_RAW_FORMATS})"


@dataclass(frozen=True)
class RawFormat:
    """How to read a headerless file: sample format (a key of _RAW_DEMUXERS), rate in Hz,
    channels (1 or 2, interleaved)."""

    fmt: str
    rate: int
    channels: int = 1


def parse_raw(spec: str) -> RawFormat:
    """"ulaw:8000" or "s16le:8000:2" (FORMAT:RATE[:CHANNELS]) -> RawFormat.

    Raises ValueError with a one-line reason naming what is wrong."""
    parts = spec.strip().lower().split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"not FORMAT:RATE or FORMAT:RATE:CHANNELS, {_RAW_EXAMPLE}")
    fmt, rate, channels = parts[0], parts[1], parts[2] if len(parts) == 3 else "1"
    if fmt not in _RAW_DEMUXERS:
        raise ValueError(f"unknown format '{fmt}' ({_RAW_FORMATS})")
    if not rate.isdigit() or not 2000 <= int(rate) <= 192000:
        raise ValueError(f"the rate '{rate}' is not a number of Hz from 2000 to 192000, e.g. {fmt}:8000")
    if channels not in ("1", "2"):
        raise ValueError(f"the channels '{channels}' are not 1 or 2")
    if fmt == "vox" and channels != "1":
        raise ValueError("vox is mono: give no channels or 1")
    return RawFormat(fmt, int(rate), int(channels))


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
        if cid == b"fmt " and pos + 20 <= len(head):
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


def decode(path: str, max_duration_s: float = 4 * 3600, raw: str | None = None) -> Audio:
    """Read `path` into 16 kHz float32 channels (1 or 2 arrays of samples, equal lengths).

    A file with several audio streams (recorders that write one per party) gives its first
    two as channels 0 and 1, unless its first stream has two channels itself. `raw`
    ("ulaw:8000", "s16le:8000:2"; see parse_raw) reads a headerless file; a file with a known
    audio suffix (.wav, .mp3 ...) is read by its header and ignores it.

    Raises InputError with a one-line reason for anything unusable, a headerless file
    (RAW_SUFFIXES) without `raw` or a malformed `raw` included. A file that decodes only in
    part (truncated, damaged part-way, a WAV header that disagrees with its data) is read as
    far as it goes, with `declared_s` and a warning saying what is missing; a packet the
    decoder refuses is skipped and its length filled with silence, with a warning."""
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if os.path.isdir(path):
        raise InputError(path, "is a directory, not a recording")
    if os.path.getsize(path) == 0:
        raise InputError(path, "empty file (0 bytes)")
    suffix = os.path.splitext(path)[1].lower()
    fmt: RawFormat | None = None
    if raw and suffix not in HEADED_SUFFIXES:
        try:
            fmt = parse_raw(raw)
        except ValueError as e:
            raise InputError(path, f"--raw '{raw}': {e}") from None
    elif suffix in RAW_SUFFIXES:
        raise InputError(path, f"a headerless recording ({suffix}): give its format with "
                               f"--raw FORMAT:RATE, {_RAW_EXAMPLE}")
    try:
        wav = None if fmt else wav_sizes(path)
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
        if fmt:
            container = av.open(_as_file(path), format=_RAW_DEMUXERS[fmt.fmt], options={
                "sample_rate": str(fmt.rate), "ch_layout": "stereo" if fmt.channels == 2 else "mono"})
        else:
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
        streams = _party_streams(container)
        n_src = streams[0].codec_context.channels or 1
        starts = [float(s.start_time * s.time_base) if s.start_time is not None and s.time_base
                  else 0.0 for s in streams]
        # a party's stream that starts later is placed where it starts
        tracks = [_Track(_codec(s, fmt), "stereo" if len(streams) == 1 and n_src >= 2 else "mono",
                         round((t0 - min(starts)) * SAMPLE_RATE))
                  for s, t0 in zip(streams, starts, strict=True)]
        by_index = {s.index: t for s, t in zip(streams, tracks, strict=True)}
        try:
            for packet in container.demux(*streams):
                if packet.size:  # the demuxer's empty end-of-stream packets: flushed below
                    by_index[packet.stream.index].feed(packet)
                if max(t.samples for t in tracks) > max_duration_s * SAMPLE_RATE:
                    raise InputError(
                        path, f"longer than the {max_duration_s / 3600:g} h limit for one call"
                    )
            for t in tracks:
                t.feed(None)
        except av.error.FFmpegError as e:  # before OSError: some of PyAV's errors are both
            # A damaged file decodes up to the damage; refuse only if nothing usable came out.
            if not any(t.samples for t in tracks):
                raise InputError(path, f"audio could not be decoded ({_reason(e)})") from None
            at_s = max(t.samples for t in tracks) / SAMPLE_RATE
            warnings.append(Detail("warn_decode_stopped", {"at_s": round(at_s, 1),
                                                           "reason": _reason(e)}))
        except OSError as e:  # the temporary files (a long recording): no room
            raise _no_room(path, e) from None
        source_rate = fmt.rate if fmt else streams[0].codec_context.sample_rate or SAMPLE_RATE
    if not any(t.samples for t in tracks):
        why = next((t.error for t in tracks if t.error), None)
        raise InputError(path, f"audio could not be decoded ({why})" if why
                         else "contains no audio samples")
    try:
        chans = _assemble(tracks)[:MAX_CHANNELS]
    except OSError as e:
        raise _no_room(path, e) from None
    if len(chans[0]) == 0:
        raise InputError(path, "contains no audio samples (zero length)")
    audio = Audio(path=path, channels=chans, source_rate=source_rate,
                  source_channels=n_src if len(streams) == 1 else len(streams),
                  declared_s=declared_s, warnings=warnings)
    skipped = sum(t.skipped for t in tracks)
    if skipped:
        audio.warnings.append(Detail("warn_frames_skipped", {
            "frames": skipped, "seconds": round(sum(t.skipped_s for t in tracks), 1),
            "reason": next(t.error for t in tracks if t.error)}))
    # the packets' own timeline: what the file holds when no header declares a length (amr,
    # mp3, ...); a raw file's u8 packets for vox count bytes, not samples, and are not used
    spans = [t.span for t in tracks if t.span]
    held_s = max(e for _, e in spans) - min(s for s, _ in spans) if spans and not fmt else None
    if audio.missing_s > LENGTH_TOLERANCE_S:
        audio.warnings.append(Detail("warn_truncated", {"declared_s": round(declared_s or 0, 1),
                                                        "decoded_s": round(audio.duration, 1)}))
    elif declared_s is None and held_s and held_s - audio.duration > LENGTH_TOLERANCE_S:
        audio.warnings.append(Detail("warn_decode_short", {"held_s": round(held_s, 1),
                                                           "decoded_s": round(audio.duration, 1)}))
    return audio


def _party_streams(container: Any) -> list[Any]:
    """The audio streams to decode: the first, or the first two when the first is mono and
    there are more (one stream per party)."""
    audio = list(container.streams.audio)
    if len(audio) < 2 or (audio[0].codec_context.channels or 1) >= 2:
        return audio[:1]
    return audio[:2]


# FFmpeg's own AMR decoders refuse comfort-noise (DTX) frames; the OpenCORE ones that PyAV's
# wheels bundle decode them (f20: 972 refused frames, 0 with OpenCORE).
_PREFERRED_DECODERS = {"amrnb": "libopencore_amrnb", "amrwb": "libopencore_amrwb"}


def _codec(stream: Any, fmt: RawFormat | None) -> Any:
    """The stream's decoder (OpenCORE for AMR when present); for vox (read as u8 bytes:
    FFmpeg has no vox demuxer) FFmpeg's Dialogic/OKI ADPCM decoder."""
    better = _PREFERRED_DECODERS.get(stream.codec_context.name)
    if fmt is None and better in av.codecs_available:
        return _mono_decoder(better, stream.codec_context.sample_rate)
    if fmt is None or fmt.fmt != "vox":
        return stream.codec_context
    return _mono_decoder("adpcm_ima_oki", fmt.rate)


def _mono_decoder(name: str, rate: int) -> Any:
    ctx = av.CodecContext.create(name, "r")
    ctx.sample_rate = rate
    ctx.layout = "mono"
    return ctx


class _Track:
    """One audio stream decoded packet by packet into float32 rows at SAMPLE_RATE.

    A packet the decoder refuses is skipped and its length filled with silence, so what
    follows stays in place, as ffmpeg's own tool goes on past a bad packet. (FFmpeg's AMR-NB
    decoder refuses the comfort-noise frames of AMR with DTX: decoding that stopped there
    lost the whole call after its first pause.)"""

    def __init__(self, ctx: Any, layout: str, offset: int = 0) -> None:
        self.ctx = ctx
        self.rows = 2 if layout == "stereo" else 1
        self.offset = offset  # where its first sample sits in the recording (samples)
        self.blocks: list[np.ndarray | None] = []  # (rows, BLOCK) float32, filled in order
        # a long recording's rows (IN_MEMORY_MAX): each block goes here once full
        self.files: list[FileSamples] | None = None
        self.samples = 0  # decoded so far, at SAMPLE_RATE
        self.skipped = 0  # packets the decoder refused
        self.skipped_s = 0.0  # the silence put in their place
        self.error: str | None = None  # the first refusal's reason
        self.span: tuple[float, float] | None = None  # first and last packet time, seconds
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
        self._like: Any = None  # the last decoded frame: silence is made in its format
        self._owed = 0  # source samples of silence for skipped packets, not yet added
        self._placed = 0  # source samples placed so far (decoded or owed)

    def feed(self, packet: Any) -> None:
        """Decode one packet; None flushes the decoder and the resampler (once, at the end).
        A packet that starts later than what came before it ends (a stream with a gap: a
        party's recorder paused) is placed at its time, the gap filled with silence."""
        rate = self.ctx.sample_rate
        if packet is not None and packet.pts is not None and packet.time_base:
            t0, t1 = (float(t * packet.time_base) for t in (packet.pts, packet.pts + packet.duration))
            if self.span is not None and rate:
                gap = round((t0 - self.span[0]) * rate) - self._placed
                if gap > GAP_FILL_S * rate:
                    self._owed += gap
                    self._placed += gap
            self.span = (t0, t1) if self.span is None else (min(self.span[0], t0), max(self.span[1], t1))
        try:
            frames = self.ctx.decode(packet)
        except av.error.FFmpegError as e:
            frames = []
            if packet is not None:
                n = self._length(packet)
                self.skipped += 1
                self.skipped_s += n / (self.ctx.sample_rate or SAMPLE_RATE)
                self._owed += n
                self._placed += n
                self.error = self.error or _reason(e)
        for frame in frames:
            self._like = frame  # before paying: silence owed from before is made in its format
            self._pay()
            self._resample(frame)
            self._placed += frame.samples
        if packet is None:
            self._pay()
            self._resample(None)

    def _length(self, packet: Any) -> int:
        """A packet's length in source samples (its duration, else the last frame's)."""
        rate = self.ctx.sample_rate
        if packet.duration and packet.time_base and rate:
            return round(packet.duration * packet.time_base * rate)
        return self._like.samples if self._like is not None else self.ctx.frame_size or 0

    def _pay(self) -> None:
        if self._owed and self._like is not None:
            self._resample(_silence(self._like, self._owed))
            self._owed = 0

    def _resample(self, frame: Any) -> None:
        for out in self._resampler.resample(frame):
            arr = out.to_ndarray()
            done = 0
            while done < arr.shape[1]:
                if self.samples == len(self.blocks) * BLOCK:  # the last block is full
                    self.blocks.append(np.empty((self.rows, BLOCK), np.float32))
                at = self.samples % BLOCK
                n = min(arr.shape[1] - done, BLOCK - at)
                self.blocks[-1][:, at:at + n] = arr[:, done:done + n]  # type: ignore[index]
                done += n
                self.samples += n
                if self.samples % BLOCK == 0 and (self.files or self.samples >= IN_MEMORY_MAX):
                    self.spill()

    def spill(self) -> None:
        """Write the blocks decoded so far to the track's files (made on the first call)."""
        if self.files is None:
            self.files = [FileSamples() for _ in range(self.rows)]
        for at, part in self.take():
            for row, f in zip(part, self.files, strict=True):
                f.write(self.offset + at, row)

    def take(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first sample, samples held: (rows, n)) of each block still held, in order, each
        let go once the caller is done with it (a block is mapped memory: returned to the
        system at once)."""
        for i, block in enumerate(self.blocks):
            if block is not None:
                yield i * BLOCK, block[:, :min(BLOCK, self.samples - i * BLOCK)]
                self.blocks[i] = None


def _silence(like: Any, n: int) -> Any:
    """n samples of digital silence in the sample format, layout and rate of frame `like`."""
    frame = av.AudioFrame(format=like.format.name, layout=like.layout.name, samples=n)
    zero = b"\x80" if like.format.name.startswith("u8") else b"\0"  # unsigned 8-bit: 128 is 0
    for plane in frame.planes:
        plane.update(zero * plane.buffer_size)
    frame.sample_rate = like.sample_rate
    return frame


def _assemble(tracks: list[_Track]) -> list[Channel]:
    """The tracks' rows, each from its track's offset, zero-padded to one length: arrays,
    or FileSamples when a track went to files (then every track does). Each block is let go
    once copied: a 3-hour stereo call is 1.4 GB of samples, never held twice."""
    n = max(t.offset + t.samples for t in tracks)
    if any(t.files for t in tracks):
        files: list[Channel] = []
        for t in tracks:
            t.spill()
            for f in t.files or []:
                f.resize(n)
                files.append(f)
        return files
    data = np.zeros((sum(t.rows for t in tracks), n), np.float32)
    row = 0
    for t in tracks:
        for at, part in t.take():
            data[row:row + t.rows, t.offset + at:t.offset + at + part.shape[1]] = part
        row += t.rows
    return list(data)  # rows: contiguous views


def _no_room(path: str, e: OSError) -> ScratchError:
    return ScratchError(path, f"cannot keep the decoded samples in {tempfile.gettempdir()} "
                              f"({e.strerror or e}; TMPDIR names another folder)")


def _as_file(path: str) -> str:
    """FFmpeg reads "name:rest" as protocol "name"; its `file:` protocol takes any path."""
    return "file:" + path if ":" in os.path.basename(path) or ":" in path.split(os.sep)[0] else path


def _reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.split(":")[-1].strip() or type(e).__name__
