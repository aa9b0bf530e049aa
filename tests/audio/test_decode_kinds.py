"""Kinds of input that decoded wrong without an error: AMR with DTX frames the decoder refuses,
containers with one audio stream per party, headerless telephony files (--raw)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from callaudit.audio import decode as decode_mod
from callaudit.audio.decode import SAMPLE_RATE, decode
from callaudit.audio.samples import FileSamples
from callaudit.batch.jobs import BatchOptions, discover, pending
from callaudit.errors import AuditError, InputError
from callaudit.results.store import connect
from tests.helpers import ROOT, SAMPLES
from tests.helpers.audio_util import write_wav

AUDIT = [sys.executable, "-m", "callaudit.cli"]


def _rms(x: np.ndarray, start_s: float, end_s: float) -> float:
    seg = x[int(start_s * SAMPLE_RATE):int(end_s * SAMPLE_RATE)]
    return float(np.sqrt(np.mean(seg.astype(np.float64) ** 2)))


def _peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * SAMPLE_RATE / len(x))


# --- AMR-NB with DTX ------------------------------------------------------------------------
# talk 2 s, pause 3 s, talk 2 s, pause 3 s, talk 2 s: each pause is comfort-noise (SID) and
# NO_DATA frames, which FFmpeg's own AMR-NB decoder refuses ("not yet implemented")
_TALK = [(0.0, 2.0), (5.0, 7.0), (10.0, 12.0)]
_AMR_S = 12.0


def _speechlike(rate: int) -> np.ndarray:
    t = np.arange(int(_AMR_S * rate)) / rate
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))  # a voiced buzz
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)  # 4 syllables a second
    x = 0.15 * voice * syllables
    talk = np.zeros_like(t, dtype=bool)
    for a, b in _TALK:
        talk |= (t >= a) & (t < b)
    return np.where(talk, x, 0.0).astype(np.float32)


def _amr_dtx(path: Path) -> Path:
    if "libopencore_amrnb" not in av.codecs_available:
        pytest.skip("this PyAV has no AMR-NB encoder")
    x = (_speechlike(8000) * 32767).astype(np.int16)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libopencore_amrnb", rate=8000, layout="mono", options={"dtx": "1"})
        stream.bit_rate = 12200
        for i in range(0, len(x), 160):
            frame = av.AudioFrame.from_ndarray(x[None, i:i + 160], format="s16", layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _refused_frames(path: Path) -> int:
    """Packets FFmpeg's AMR-NB decoder refuses, counted the slow way."""
    n = 0
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        for packet in c.demux(s):
            try:
                s.codec_context.decode(packet) if packet.size else None
            except av.error.FFmpegError:
                n += 1
    return n


def test_amr_with_dtx_decodes_whole_with_opencore(tmp_path: Path) -> None:
    """OpenCORE's AMR decoder (in PyAV's wheels) reads the comfort-noise frames FFmpeg's refuses."""
    p = _amr_dtx(tmp_path / "dtx.amr")
    assert _refused_frames(p) > 50
    a = decode(str(p))
    assert a.duration == pytest.approx(_AMR_S, abs=0.05) and a.warnings == []
    x = a.channels[0]
    for start, end in _TALK:
        assert _rms(x, start + 0.2, end - 0.2) > 0.03
    for start, end in [(2.3, 4.7), (7.3, 9.7)]:
        assert _rms(x, start, end) < 0.005


def test_refused_frames_are_skipped_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any decoder that refuses a packet (here FFmpeg's own AMR decoder on DTX frames) costs
    that packet, filled with silence of its length, not the rest of the call."""
    monkeypatch.setattr(decode_mod, "_PREFERRED_DECODERS", {})
    p = _amr_dtx(tmp_path / "dtx.amr")
    refused = _refused_frames(p)
    assert refused > 50  # the fixture does have DTX frames the decoder refuses
    a = decode(str(p))
    assert a.duration == pytest.approx(_AMR_S, abs=0.05)  # was 0.x s: stopped at the first pause
    assert [w.key for w in a.warnings] == ["warn_frames_skipped"]
    assert a.warnings[0].args["frames"] == refused
    assert f"{refused} frames" in a.warnings[0].text("en")
    x = a.channels[0]
    for start, end in _TALK:  # each talk spell where it was: the pauses kept their length
        assert _rms(x, start + 0.2, end - 0.2) > 0.03
    for start, end in [(2.3, 4.7), (7.3, 9.7)]:
        assert _rms(x, start, end) < 0.005


def test_packet_times_keep_the_length_when_a_frame_length_is_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused packet whose length is unknown still leaves its place: the next packet's time
    says where the audio goes on."""
    p = _amr_dtx(tmp_path / "dtx.amr")
    monkeypatch.setattr(decode_mod, "_PREFERRED_DECODERS", {})
    monkeypatch.setattr(decode_mod._Track, "_length", lambda self, packet: 0)
    a = decode(str(p))
    assert a.duration == pytest.approx(_AMR_S, abs=0.1)
    assert [w.key for w in a.warnings] == ["warn_frames_skipped"]


def test_a_gap_in_a_party_stream_stays_a_gap(tmp_path: Path) -> None:
    """One stream per party, the caller's with no packets from 2 s to 5 s: its sound after
    the gap stays at 5 s, not pulled back to 2 s."""
    rate = 8000
    path = tmp_path / "gap.mka"
    t = np.arange(10 * rate) / rate
    agent = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    caller = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    with av.open(str(path), "w") as out:
        sa, sc = (out.add_stream("pcm_s16le", rate=rate, layout="mono") for _ in range(2))
        for stream, x, skip in ((sa, agent, None), (sc, caller, (2 * rate, 5 * rate))):
            for i in range(0, len(x), 800):
                if skip and skip[0] <= i < skip[1]:
                    continue
                frame = av.AudioFrame.from_ndarray((x[None, i:i + 800] * 32767).astype(np.int16),
                                                   format="s16", layout="mono")
                frame.sample_rate, frame.pts = rate, i
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    a = decode(str(path))
    c = a.channels[1]
    assert a.duration == pytest.approx(10.0, abs=0.1)
    assert _rms(c, 0.2, 1.8) > 0.1 and _rms(c, 2.2, 4.8) < 0.01 and _rms(c, 5.2, 9.8) > 0.1


# --- one audio stream per party -------------------------------------------------------------
def _write_streams(path: Path, chans: list[np.ndarray], rate: int, codec: str) -> Path:
    """One mono stream per array, in the container named by path's suffix."""
    with av.open(str(path), "w") as out:
        streams = [out.add_stream(codec, rate=rate, layout="mono") for _ in chans]
        for stream, x in zip(streams, chans, strict=True):
            size = stream.codec_context.frame_size or 1024
            to = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate)
            for i in range(0, len(x), size):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[None, i:i + size]),
                                                   format="flt", layout="mono")
                frame.sample_rate = rate
                for f in to.resample(frame):
                    for packet in stream.encode(f):
                        out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
    return path


@pytest.mark.parametrize(("suffix", "codec", "rate"), [("mka", "libopus", 48000),
                                                       ("mkv", "pcm_s16le", 8000),
                                                       ("mp4", "aac", 16000)])
def test_one_stream_per_party_gives_two_channels(tmp_path: Path, suffix: str, codec: str,
                                                 rate: int) -> None:
    t = np.arange(3 * rate) / rate
    agent = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    caller = (0.3 * np.sin(2 * np.pi * 1000 * t[: 2 * rate])).astype(np.float32)  # hangs up at 2 s
    a = decode(str(_write_streams(tmp_path / f"call.{suffix}", [agent, caller], rate, codec)))
    assert len(a.channels) == 2 and a.source_channels == 2 and a.warnings == []
    assert a.duration == pytest.approx(3.0, abs=0.1)
    assert len(a.channels[0]) == len(a.channels[1])
    assert _peak_hz(a.channels[0][8000:24000]) == pytest.approx(440, abs=2)  # channel 0: stream 0
    assert _peak_hz(a.channels[1][8000:24000]) == pytest.approx(1000, abs=2)
    assert _rms(a.channels[1], 0.2, 1.8) > 0.15 and _rms(a.channels[1], 2.2, 2.9) < 1e-4  # padded


# --- headerless telephony files --------------------------------------------------------------
def _mulaw(x: np.ndarray) -> bytes:
    """G.711 mu-law bytes of float samples (ITU-T G.711, as FFmpeg's pcm_mulaw encodes)."""
    s = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int32)
    mag = np.minimum(np.abs(s), 32635) + 0x84
    exp = np.floor(np.log2(mag)).astype(np.int32) - 7
    code = ((s < 0).astype(np.int32) << 7) | (exp << 4) | ((mag >> (exp + 3)) & 0x0F)
    return (~code & 0xFF).astype(np.uint8).tobytes()


_OKI_STEPS = [16, 17, 19, 21, 23, 25, 28, 31, 34, 37, 41, 45, 50, 55, 60, 66, 73, 80, 88, 97, 107,
              118, 130, 143, 157, 173, 190, 209, 230, 253, 279, 307, 337, 371, 408, 449, 494, 544,
              598, 658, 724, 796, 876, 963, 1060, 1166, 1282, 1411, 1552]


def _vox(x: np.ndarray) -> bytes:
    """Dialogic (OKI) 4-bit ADPCM of float samples, two a byte, high nibble first."""
    pred, idx, nibbles = 0, 0, []
    for v in np.round(x * 2047).astype(int):
        step, diff = _OKI_STEPS[idx], int(v) - pred
        delta = int(np.clip(round(4 * abs(diff) / step - 0.5), 0, 7))
        q = ((2 * delta + 1) * step) >> 3
        pred = int(np.clip(pred - q if diff < 0 else pred + q, -2048, 2047))
        idx = int(np.clip(idx + (-1 if delta < 4 else 2 * (delta - 3)), 0, 48))
        nibbles.append(delta | (8 if diff < 0 else 0))
    return bytes((a << 4) | b for a, b in zip(nibbles[::2], nibbles[1::2], strict=True))


def _reference(tmp_path: Path, chans: list[np.ndarray], rate: int) -> list[np.ndarray]:
    """The same signal through a WAV file: what a correct raw decode gives, within the codec."""
    return decode(str(write_wav(tmp_path / "ref.wav", chans, rate))).channels


def _tone(freq: float, seconds: float, rate: int, amp: float = 0.4) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def test_ulaw_with_its_format_decodes_right(tmp_path: Path) -> None:
    x = _tone(440, 3.0, 8000)
    p = tmp_path / "call.ul"
    p.write_bytes(_mulaw(x))
    a = decode(str(p), raw="ulaw:8000")
    ref = _reference(tmp_path, [x], 8000)[0]
    assert a.duration == pytest.approx(3.0, abs=0.01) and a.source_rate == 8000
    assert len(a.channels) == 1 and a.warnings == []
    n = min(len(ref), len(a.channels[0]))
    assert np.max(np.abs(a.channels[0][:n] - ref[:n])) < 0.02  # mu-law's step at 0.4 is 1/64


def test_alaw_s16le_stereo_u8_and_vox(tmp_path: Path) -> None:
    x, y = _tone(440, 2.0, 8000), _tone(700, 2.0, 8000, amp=0.2)
    alaw = tmp_path / "a.al"
    with av.open(str(alaw), "w", format="alaw") as out:  # FFmpeg's own G.711 A-law
        s = out.add_stream("pcm_alaw", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray((x * 32767).astype(np.int16)[None, :], format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        for packet in [*s.encode(frame), *s.encode(None)]:
            out.mux(packet)
    (tmp_path / "b.pcm").write_bytes((np.stack([x, y], 1) * 32767).astype("<i2").tobytes())
    (tmp_path / "c.raw").write_bytes(np.round(x * 127 + 128).astype(np.uint8).tobytes())
    (tmp_path / "d.vox").write_bytes(_vox(_tone(440, 2.0, 6000)))
    ref, ref6 = _reference(tmp_path, [x, y], 8000), _reference(tmp_path, [_tone(440, 2.0, 6000)], 6000)
    for name, raw, want, tol in [("a.al", "alaw:8000", ref[:1], 0.03),
                                 ("b.pcm", "s16le:8000:2", ref, 1e-3),
                                 ("c.raw", "u8:8000", ref[:1], 0.01),
                                 ("d.vox", "vox:6000", ref6, 0.05)]:
        a = decode(str(tmp_path / name), raw=raw)
        assert len(a.channels) == len(want) and a.duration == pytest.approx(2.0, abs=0.01), name
        for got, w in zip(a.channels, want, strict=True):
            n = min(len(got), len(w))
            assert np.sqrt(np.mean((got[:n] - w[:n]) ** 2)) < tol, name


@pytest.mark.parametrize("suffix", [".raw", ".ul", ".ulaw", ".al", ".alaw", ".pcm", ".vox", ".sln"])
def test_headerless_refused_without_its_format(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"call{suffix}"
    p.write_bytes(_mulaw(_tone(440, 1.0, 8000)))
    with pytest.raises(InputError) as e:
        decode(str(p))
    assert str(e.value) == (f"{p}: a headerless recording ({suffix}): give its format with --raw "
                            "FORMAT:RATE, e.g. --raw ulaw:8000 (formats: ulaw, alaw, s16le, u8, vox)")


@pytest.mark.parametrize(("raw", "says"), [("ulaw", "not FORMAT:RATE"), ("ulaw:8k", "the rate '8k'"),
                                           ("ulaw:8000:3", "the channels '3'"),
                                           ("gsm:8000", "unknown format 'gsm'"),
                                           ("vox:8000:2", "vox is mono")])
def test_malformed_raw_named(tmp_path: Path, raw: str, says: str) -> None:
    p = tmp_path / "call.ul"
    p.write_bytes(_mulaw(_tone(440, 1.0, 8000)))
    with pytest.raises(InputError, match=f"--raw '{raw}': {says}") as e:
        decode(str(p), raw=raw)
    assert "\n" not in str(e.value)


def test_raw_leaves_files_with_a_header_alone(tmp_path: Path) -> None:
    """A batch's --raw is for its headerless files: a WAV beside them is read by its header."""
    p = write_wav(tmp_path / "call.wav", [_tone(440, 1.0, 8000)], 8000)
    assert decode(str(p), raw="ulaw:8000").duration == pytest.approx(1.0, abs=0.01)


@pytest.mark.slow
def test_check_cli_headerless_one_line(tmp_path: Path) -> None:
    p = tmp_path / "call.ul"
    p.write_bytes(_mulaw(_tone(440, 1.0, 8000)))
    for extra, says in [([], "give its format with --raw FORMAT:RATE"),
                        (["--raw", "ulaw:fast"], "the rate 'fast' is not a number of Hz")]:
        r = subprocess.run([*AUDIT, "check", str(p), *extra], capture_output=True, text=True,
                           cwd=ROOT, timeout=120)
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and says in r.stderr and str(p) in r.stderr


def test_manifest_raw_column_and_batch_default(tmp_path: Path) -> None:
    man = tmp_path / "calls.csv"
    for name in ("a.ul", "b.al", "c.wav"):
        (tmp_path / name).write_bytes(name.encode())  # distinct content: distinct hashes
    with man.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "call_id", "raw"])
        w.writerows([["a.ul", "A", ""], ["b.al", "B", "alaw:8000"], ["c.wav", "C", ""]])
    opts = BatchOptions(db=str(tmp_path / "r.sqlite"), raw="ulaw:8000")
    jobs = list(pending(discover(str(man)).jobs, connect(opts.db), opts))
    assert [j["raw"] for j in jobs] == ["ulaw:8000", "alaw:8000", "ulaw:8000"]  # wav: decode ignores
    with man.open("a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow(["d.ul", "D", "ulaw"])
    with pytest.raises(AuditError, match=r"line 5: raw 'ulaw': not FORMAT:RATE"):
        discover(str(man))
    with pytest.raises(AuditError, match=r"^--raw 'ulaw:0': the rate '0'"):
        BatchOptions(db="x", raw="ulaw:0")


def test_a_headerless_ulaw_call_is_audited(auditor: Any, tmp_path: Path) -> None:
    a = decode(str(SAMPLES / "demo_call.wav"))  # 62.87 s, stereo
    src = [np.interp(np.arange(0, len(c), 2), np.arange(len(c)), c) for c in a.channels]  # 8 kHz
    p = tmp_path / "demo.ul"
    p.write_bytes(_mulaw(np.stack(src, 1).ravel()))
    result = auditor.audit(str(p), raw="ulaw:8000:2")
    assert result.duration_s == pytest.approx(62.87, abs=0.05) and result.channels == 2


# --- memory: samples kept in blocks -----------------------------------------------------------
@pytest.mark.parametrize("store", ["memory", "files"])
@pytest.mark.parametrize("name", ["demo_call.wav", "mono_call.wav", "streams.mkv"])
def test_samples_across_block_edges_are_the_same(tmp_path: Path, name: str, store: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoded samples are kept in blocks (decode.BLOCK, 8.7 min) freed one by one as the
    channels are assembled, or past IN_MEMORY_MAX written to temporary files block by block
    (audio/samples.py); with blocks of 1000 samples every edge case is crossed (a frame
    split over two blocks, a stream that ends inside one, a party's stream shorter)."""
    if name == "streams.mkv":
        t = np.arange(3 * 8000) / 8000
        agent = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        caller = (0.2 * np.sin(2 * np.pi * 900 * t[:17000])).astype(np.float32)  # shorter
        path = _write_streams(tmp_path / name, [agent, caller], 8000, "pcm_s16le")
    else:
        path = SAMPLES / name
    whole = decode(str(path))
    monkeypatch.setattr(decode_mod, "BLOCK", 1000)
    if store == "files":
        monkeypatch.setattr(decode_mod, "IN_MEMORY_MAX", 2000)
    blocks = decode(str(path))
    assert len(blocks.channels) == len(whole.channels)
    assert all(isinstance(c, FileSamples if store == "files" else np.ndarray)
               for c in blocks.channels)
    assert blocks.duration == whole.duration
    for a, b in zip(whole.channels, blocks.channels, strict=True):
        assert np.array_equal(a, b[:])
