"""A speech region never ends without a transcript attempt of its own (speech/asr.py): a
region the batched decode left without a word is decoded again alone; what is still
unheard is recorded, with its role, for the rules (rules/doubt.py). Real model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import SAMPLES
from rapidfuzz.distance import Levenshtein

from audit.audio.decode import decode
from audit.audio.vad import speech_regions
from audit.speech.asr import is_credit_line

pytestmark = pytest.mark.model


def test_a_region_the_batch_dropped_is_decoded_alone(auditor: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    t = auditor.transcriber
    audio = decode(str(SAMPLES / "demo_call.wav"))
    regions = speech_regions(audio.channels[0], 0)  # the agent's channel
    full = t.transcribe_all(audio, regions)
    assert full.unheard == [] and len(full.utterances) >= 4
    original = t._decode

    calls = []

    def dropping(packed: np.ndarray, windows: list[dict[str, float]]) -> Any:
        # Whisper's failure, imitated: in the packed batch (the first decode of the call) the
        # last window comes back without a single word; the regions' own windows are heard
        calls.append(len(windows))
        for k, segs in original(packed, windows):
            if len(calls) == 1 and k == len(windows) - 1:
                for s in segs:
                    s.words = []
            yield k, segs

    monkeypatch.setattr(t, "_decode", dropping)
    alone_before = t.stage_s["alone"]
    got = t.transcribe_all(audio, regions)
    assert t.stage_s["alone"] > alone_before and len(calls) == 2  # decoded again, alone
    assert got.unheard == []
    assert [(u.start, u.end) for u in got.utterances] == [(u.start, u.end) for u in full.utterances]
    said = "".join(u.text for u in full.utterances)
    again = "".join(u.text for u in got.utterances)
    assert Levenshtein.distance(said, again) <= 0.25 * len(said), (said, again)
    assert all(u.confidence is not None and 0 < u.confidence <= 1 for u in got.utterances)


def test_speech_with_no_word_in_it_is_recorded_as_unheard(auditor: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the recognizer makes of hum differs between CPUs; what is tested is the
    bookkeeping: no word in the batch, none alone -> the region is unheard, not dropped."""
    t = auditor.transcriber
    audio = decode(str(SAMPLES / "demo_call.wav"))
    regions = speech_regions(audio.channels[0], 0)
    original = t._decode

    def dropping(packed: np.ndarray, windows: list[dict[str, float]]) -> Any:
        for k, segs in original(packed, windows):
            for s in segs:
                s.words = []
            yield k, segs

    monkeypatch.setattr(t, "_decode", dropping)
    monkeypatch.setattr(t, "_alone", lambda audio, lost: {})
    got = t.transcribe_all(audio, regions)
    assert got.utterances == []
    assert got.unheard == [r for r in regions if r.duration >= t.opts.min_alone_s]
    assert got.unheard


def test_a_lyrics_credit_is_not_speech() -> None:
    # what Whisper says of a 50 Hz hum (seen here): a credit line, not a caller's words
    assert is_credit_line("作词作曲") and is_credit_line("作词 作曲 编曲")
    assert not is_credit_line("我想问一下作曲的事") and not is_credit_line("作曲")
