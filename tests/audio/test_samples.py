"""A long recording's samples live in temporary files (audio/samples.py): every stage reads
them a slice at a time and decides exactly as it does on samples held in memory."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callaudit.audio import decode as decode_mod
from callaudit.audio.condition import channel_layout, remove_offset
from callaudit.audio.decode import Audio, decode
from callaudit.audio.levels import frame_db, rms
from callaudit.audio.opus import opus_bytes
from callaudit.audio.samples import FileSamples, blocks
from callaudit.audio.tones import detect_ringback
from callaudit.audio.vad import call_regions
from callaudit.errors import InputError, ScratchError
from callaudit.metrics.acoustics import measure
from tests.helpers import SAMPLES
from tests.helpers.audio_util import write_wav


def _file(x: np.ndarray) -> FileSamples:
    f = FileSamples()
    f.write(0, x)
    return f


def _in_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every recording of more than 2000 samples goes to files, in blocks of 1000."""
    monkeypatch.setattr(decode_mod, "BLOCK", 1000)
    monkeypatch.setattr(decode_mod, "IN_MEMORY_MAX", 2000)


def test_file_samples_slice_like_an_array() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(10_007).astype(np.float32)
    f = _file(x)
    assert len(f) == len(x) and f.dtype == np.float32
    for key in (slice(None), slice(0, 10), slice(5000, 20_000), slice(-300, None), slice(20, 10),
                slice(3, 9001, 2), slice(None, -5), slice(10_007, None)):
        got = f[key]
        assert np.array_equal(got, x[key]), key
        got[:] = 0  # a slice is a copy of its own: writing into it changes nothing
    assert np.array_equal(f[:], x)
    f[100:200] = np.ones(100, np.float32)
    x[100:200] = 1
    f[-10:] = 0.5
    x[-10:] = 0.5
    assert np.array_equal(f[:], x)
    with pytest.raises(TypeError):
        f[3]  # noqa: B018 - indexing is the test
    with pytest.raises(ValueError):
        f[::-1]  # noqa: B018


def test_file_samples_grow_with_zeros_and_copy() -> None:
    f = FileSamples(5)
    assert np.array_equal(f[:], np.zeros(5, np.float32))
    f.write(8, np.array([1, 2], np.float32))  # past the end: the gap reads as 0
    assert len(f) == 10
    assert np.array_equal(f[:], np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 2], np.float32))
    f.resize(12)
    g = f.copy()
    g[0:1] = 7
    assert np.array_equal(g[:], np.array([7, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0], np.float32))
    assert f[0:1][0] == 0


def test_blocks_sweep_the_whole_channel_once() -> None:
    x = np.arange(10_001, dtype=np.float32)
    for ch in (x, _file(x)):
        got = list(blocks(ch, 3000))
        assert [a for a, _ in got] == [0, 3000, 6000, 9000]
        assert np.array_equal(np.concatenate([b for _, b in got]), x)
        assert np.array_equal(np.concatenate([b for _, b in blocks(ch, 3000, stop=7000)]), x[:7000])


def test_levels_in_blocks_equal_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from callaudit.audio import levels

    x = np.random.default_rng(2).standard_normal(50_000).astype(np.float32) * 0.1
    whole_rms, whole_db = rms(x), frame_db(x, 320)
    monkeypatch.setattr(levels, "SWEEP", 4096)  # rms: 13 blocks; frame_db: blocks of 12 frames
    assert rms(_file(x)) == pytest.approx(whole_rms, rel=1e-12)
    assert np.allclose(frame_db(_file(x), 320), whole_db, rtol=0, atol=1e-9)
    assert len(frame_db(_file(x), 320)) == 50_000 // 320


def test_no_room_for_the_samples_is_one_clear_error(tmp_path: Path, tmpfs: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "long.wav"
    write_wav(path, np.zeros((2, 8000 * 60), np.float32), 8000)  # 60 s: 7.7 MB at 16 kHz
    _in_files(monkeypatch)
    monkeypatch.setattr(tempfile, "tempdir", str(tmpfs))  # 1 MB
    with pytest.raises(ScratchError) as e:
        decode(str(path))
    assert str(path) in str(e.value) and "cannot keep the decoded samples" in str(e.value)
    assert "TMPDIR" in str(e.value)
    assert not isinstance(e.value, InputError)  # not the recording's fault


def test_a_batch_leaves_a_call_without_room_to_its_next_run(monkeypatch: pytest.MonkeyPatch,
                                                            ) -> None:
    """A full temporary folder is the worker's problem, not the file's: nothing is stored
    for the call (a failure would be stored and skipped on the next run)."""
    from callaudit.batch import worker

    class NoRoom:
        def audit(self, path: str, raw: str | None = None, agent_channel: str | None = None,
                  on_decoded: object = None) -> None:
            raise ScratchError(path, "cannot keep the decoded samples in /tmp (No space left)")

    monkeypatch.setitem(worker._AUDITORS, "local", NoRoom())
    out = worker.audit_job({"file": "/calls/a.wav"})
    assert out["transient"] is True and "result" not in out
    assert out["error"].startswith("/calls/a.wav: cannot keep the decoded samples")


def _signal_stages(audio: Audio) -> dict[str, Any]:
    remove_offset(audio)
    layout = channel_layout(audio)
    ringback = detect_ringback(audio)
    regions = call_regions(audio, layout.channels, ringback)
    return {"layout": layout.to_json("en"), "ringback": vars(ringback),
            "regions": [r.to_json() for r in regions],
            "samples": [np.asarray(c[:]) for c in audio.channels]}


@pytest.mark.parametrize("name", ["demo_call.wav", "mono_call.wav", "ringback_call.wav"])
def test_signal_stages_decide_the_same_on_files(name: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Offset removal (written back block by block), layout, tones and VAD on samples in
    files: the same samples and decisions as in memory."""
    whole = _signal_stages(decode(str(SAMPLES / name)))
    _in_files(monkeypatch)
    audio = decode(str(SAMPLES / name))
    files = _signal_stages(audio)
    for a, b in zip(whole.pop("samples"), files.pop("samples"), strict=True):
        assert np.array_equal(a, b)
    assert files == whole


def test_offset_removal_across_blocks_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DC offset and rumble over three of remove_offset's blocks (1 M samples each): the
    block edges leave no trace, in memory or in a file."""
    n = 3 * (1 << 20) + 12_345
    t = np.arange(n) / 16000
    rng = np.random.default_rng(3)
    x = (0.05 + 0.02 * np.sin(2 * np.pi * 7 * t) + 0.01 * rng.standard_normal(n)).astype(np.float32)
    ref = x.copy()
    remove_offset(Audio("x.wav", [ref], 16000, 1))
    f = _file(x)
    remove_offset(Audio("x.wav", [f], 16000, 1))
    assert np.array_equal(f[:], ref)
    assert abs(float(np.mean(ref))) < 1e-3  # and the offset is gone


@pytest.mark.model
def test_levels_and_page_audio_the_same_on_files(auditor: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """measure (levels, noise floors, syllables, pitch) and the page's audio read the
    samples a stretch at a time."""
    whole = decode(str(SAMPLES / "demo_call.wav"))
    r = auditor.audit_audio(whole)
    _in_files(monkeypatch)
    files = decode(str(SAMPLES / "demo_call.wav"))
    utts = r.utterances
    assert measure(files, utts) == measure(whole, utts)
    assert np.array_equal(_played(opus_bytes(files)), _played(opus_bytes(whole)))


def _played(ogg: bytes) -> np.ndarray:
    """What a page's Opus plays (the Ogg stream's serial number is random: bytes differ)."""
    import io

    import av

    with av.open(io.BytesIO(ogg)) as c:
        return np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)


@pytest.mark.model
@pytest.mark.parametrize("name", ["demo_call.wav", "mono_call.wav"])
def test_a_call_audited_from_files_is_audited_the_same(auditor: Any, name: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole audit (separation of a mono call included) on samples kept in files gives
    the result it gives in memory: same words, findings and score."""
    def result(path: str) -> dict[str, Any]:
        d = auditor.audit(path).to_json()
        d.pop("timing_s")
        if d.get("separation"):
            d["separation"].pop("timing_s")
        return d

    whole = result(str(SAMPLES / name))
    _in_files(monkeypatch)
    assert result(str(SAMPLES / name)) == whole
