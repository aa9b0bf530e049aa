"""Speaker separation of mono calls (issue 11): turns against the truth, a change inside one
speech region, one voice, too little speech, hold music, and what an unsure separation may not
do to the agent's score."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from callaudit.audio.decode import SAMPLE_RATE, decode
from callaudit.audio.vad import speech_regions
from callaudit.records import Region
from callaudit.speech import diarize as diarize_mod
from callaudit.speech.diarize import MfccEmbedder, default_embedder, diarize, pitch
from tests.helpers import DATA, SAMPLES, bench, truth
from tests.helpers.transcripts import BASE, audit, replace

der = bench("der").der

MONO = DATA / "mono"


def _embedders() -> list[Any]:
    out: list[Any] = [MfccEmbedder()]
    strong = default_embedder()
    if strong.name != out[0].name:
        out.append(strong)
    return out


EMBEDDERS = _embedders()


def _separate(x: np.ndarray, embedder: Any) -> Any:
    return diarize(x, speech_regions(x, 0), embedder)


@pytest.mark.parametrize("embedder", EMBEDDERS, ids=lambda e: e.name)
def test_two_voices_of_the_mono_sample(embedder: Any) -> None:
    t = truth("mono_call")
    d = _separate(decode(str(SAMPLES / "mono_call.wav")).channels[0], embedder)
    assert d.speakers == 2 and d.confidence >= 0.5 and d.method == embedder.name
    ref = [(x["start"], x["end"], x["role"]) for x in t["turns"]]
    r = der(ref, [(x.start, x.end, x.speaker) for x in d.turns])
    assert r["der"] <= 0.10, r
    assert r["confusion"] <= 1.0, r
    # the agent spoke first, and the first speaker is speaker 0
    assert r["mapping"]["0"] == "agent"


@pytest.mark.parametrize("embedder", EMBEDDERS, ids=lambda e: e.name)
def test_a_speaker_change_inside_one_region_is_found(embedder: Any) -> None:
    """The customer starts the instant the agent stops: no pause, so the change falls inside
    a VAD region; it is found within half a second of where it is."""
    t = truth("mono_call")
    x = decode(str(SAMPLES / "mono_call.wav")).channels[0]
    cut = [x[int(a["start"] * SAMPLE_RATE):int(a["end"] * SAMPLE_RATE)] for a in t["turns"][:3]]
    y = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), *cut, np.zeros(SAMPLE_RATE // 2)])
    regions = speech_regions(y, 0)
    joins = np.cumsum([len(c) for c in cut])[:2] / SAMPLE_RATE + 0.5
    assert all(any(r.start + 1 < j < r.end - 1 for r in regions) for j in joins)
    d = diarize(y, regions, embedder)
    # a change is where one turn ends and the next begins (the middle of any overlap there)
    changes = [(a.end + b.start) / 2 for a, b in zip(d.turns, d.turns[1:], strict=False)
               if a.speaker != b.speaker]
    assert len(changes) == 2, d.turns
    assert np.abs(np.array(changes) - joins).max() <= 0.75, (changes, joins)
    assert [x.speaker for x in d.turns][:1] == [0]


def test_one_voice_is_one_speaker() -> None:
    x = decode(str(MONO / "one_speaker.wav")).channels[0]
    for emb in EMBEDDERS:
        d = _separate(x, emb)
        assert d.speakers == 1 and "one voice" in d.reason, (emb.name, d.reason)


def test_one_second_call_is_too_short_to_separate() -> None:
    d = _separate(decode(str(MONO / "one_second.wav")).channels[0], MfccEmbedder())
    assert d.speakers == 1 and "too little speech" in d.reason and d.confidence == 0.0


def test_silence_and_no_regions() -> None:
    d = diarize(np.zeros(SAMPLE_RATE * 5, np.float32), [], MfccEmbedder())
    assert d.turns == [] and d.speakers == 1


def test_pitch_of_a_tone() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    for f0 in (110.0, 220.0):
        x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3)).astype(np.float32)
        assert np.median(pitch(x)) == pytest.approx(f0, rel=0.03)


def test_unsure_separation_is_review_not_penalty() -> None:
    """A password request heard from a speaker the separation is unsure of: failed, for a
    person to review, no points taken and no fatal verdict."""
    turns = replace(BASE, 2, "请把您的银行卡密码告诉我，我帮您核实。")
    sure, s_sure, _ = audit(turns)
    assert not sure["ask_secret"].passed and s_sure.fatal
    unsure, s_unsure, _ = audit(turns, unsure=True)
    f = unsure["ask_secret"]
    assert not f.passed and f.review and f.deduction == 0 and f.severity != "fatal"
    assert "needs review" in f.detail and not s_unsure.fatal and s_unsure.passed


@pytest.mark.model
@pytest.mark.parametrize("name", ["one_speaker", "music_hold", "one_second"])
def test_awkward_mono_calls_give_a_result_with_the_reason(auditor: Any, name: str) -> None:
    r = auditor.audit(str(MONO / f"{name}.wav")).to_json()
    sep = r["separation"]
    assert sep is not None and sep["reason"] and sep["method"] in r["roles_reason"] \
        or sep["reason"] in r["roles_reason"]
    assert not r["fatal"]
    if name != "music_hold":
        assert sep["speakers"] == 1
    json.dumps(r)  # serialisable as it is


class _Counting:
    """An embedder that counts the windows it was asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.windows = inner, inner.name, 0

    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        self.windows += len(windows)
        return self.inner.embed(windows)


@pytest.mark.parametrize("embedder", EMBEDDERS, ids=lambda e: e.name)
def test_one_voice_is_settled_on_a_quarter_of_the_windows(embedder: Any) -> None:
    """A minute of one voice: the first pass (every 4th window) calls it one voice well past
    the line, and the other windows are never embedded (issue 37)."""
    x = decode(str(MONO / "one_speaker.wav")).channels[0]
    y = np.concatenate([x] * 4)
    regions = speech_regions(y, 0)
    counting = _Counting(embedder)
    d = diarize(y, regions, counting)
    assert d.speakers == 1 and "one voice" in d.reason, d.reason
    assert len(diarize_mod._first_pass(regions)) >= diarize_mod.FIRST_MIN
    assert counting.windows == len(diarize_mod._first_pass(regions)) <= d.windows / 3


@pytest.mark.parametrize("embedder", EMBEDDERS, ids=lambda e: e.name)
def test_two_voices_embed_only_where_the_speaker_may_change(
        embedder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two voices: the first pass does not settle; the second embeds the windows near a
    change of speaker or a doubt, not those between two sure first-pass windows of one
    speaker (issue 37), and the turns are those of embedding every window in one pass."""
    x = decode(str(SAMPLES / "mono_call.wav")).channels[0]
    regions = speech_regions(x, 0)
    counting = _Counting(embedder)
    two_pass = diarize(x, regions, counting)
    assert two_pass.speakers == 2
    assert counting.windows == two_pass.embedded < 0.8 * two_pass.windows, \
        (counting.windows, two_pass.windows)
    monkeypatch.setattr(diarize_mod, "FIRST_MIN", 10**9)  # one pass, every window
    one_pass = diarize(x, regions, embedder)
    assert one_pass.embedded == one_pass.windows == two_pass.windows
    turns = [(t.start, t.end, t.speaker) for t in two_pass.turns]
    if embedder.name == "mfcc-pitch":  # window by window: the same numbers
        assert turns == [(t.start, t.end, t.speaker) for t in one_pass.turns]
        assert two_pass.overlaps == one_pass.overlaps
    else:  # batched otherwise, onnxruntime's last bits may differ: the same turns within a frame
        r = der([(t.start, t.end, t.speaker) for t in one_pass.turns], turns, collar=0.0)
        assert r["der"] <= 0.01, r


def test_a_region_one_speaker_holds_surely_is_not_embedded_further() -> None:
    """_between_sure on made-up first-pass embeddings, three regions of 13 windows each (first
    pass at 0, 4, 8, 12 / 13, 17, 21, 25 / 26, 30, 34, 38): a region whose first-pass windows
    are all one speaker, all sure, lends each window between two of them the nearer one's
    embedding; a region with a change of speaker (first), or a window halfway between the
    voices (third), is embedded whole, and a region's last windows (after 12, 25, 38) always."""
    length = 0.75 * 12 + diarize_mod.WINDOW_S
    regions = [Region(0, 20.0 * k, 20.0 * k + length) for k in range(3)]
    assert [len(diarize_mod._region_windows(r)) for r in regions] == [13, 13, 13]
    first = diarize_mod._first_pass(regions)
    assert first == [0, 4, 8, 12, 13, 17, 21, 25, 26, 30, 34, 38]
    a, b, doubt = [-1.0, 0.0], [1.0, 0.0], [0.0, 1.0]
    e = diarize_mod._normalise(np.array([a, a, b, b, b, b, b, b, a, a, doubt, a]), "campp")
    labels = np.array([0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    cent = np.stack([e[labels == k].mean(axis=0) for k in (0, 1)])
    filled = diarize_mod._between_sure(regions, first, diarize_mod._scores(e, cent))
    assert filled == {14: 13, 15: 13, 16: 17, 18: 17, 19: 17, 20: 21, 22: 21, 23: 21, 24: 25}
