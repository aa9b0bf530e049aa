"""No words without speech (issue 31): what Whisper writes on a sound that holds no voice (a
click of the headset, a burst of line noise) is nobody's words, and text denser than its
speech can hold is doubted (speech/filters.unsupported, audio/voicing.py, speech/asr.py,
rules/doubt.rests_on_dense). The last test runs the real model."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE, Audio, decode
from callaudit.audio.vad import speech_regions
from callaudit.audio.voicing import voiced_s
from callaudit.records import Region, Utterance
from callaudit.rules.context import Context, Outcome
from callaudit.rules.doubt import rests_on_dense
from callaudit.speech.asr import AsrOptions, Transcriber
from callaudit.speech.filters import MIN_VOICED_S, unsupported
from callaudit.speech.text import spoken_units
from callaudit.strings import DETAILS, Detail
from tests.helpers import DATA, cer
from tests.helpers.transcripts import DEFAULT_PACK, audit, utterances

MAX_RATE = 9.0  # speech/asr.AsrOptions.max_syllables_per_s


def noise(seconds: float, seed: int = 1) -> np.ndarray:
    """Band-limited noise (300-3400 Hz), as tools/synth_calls.noise_burst makes it."""
    n = int(seconds * SAMPLE_RATE)
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spec[(f < 300) | (f > 3400)] = 0
    x = np.fft.irfft(spec, n)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def vowel(seconds: float, f0: float = 120.0, level: float = 0.5) -> np.ndarray:
    """A sustained voiced sound: harmonics of `f0` under two formant-like peaks."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k *
            (1 + 3 * np.exp(-((k * f0 - 700) / 200) ** 2) + 2 * np.exp(-((k * f0 - 1200) / 250) ** 2))
            for k in range(1, 25))
    return (level * x / np.abs(x).max()).astype(np.float32)


def test_noise_holds_no_voice_and_a_vowel_does_at_any_level() -> None:
    for seed in range(8):
        assert voiced_s(noise(0.5, seed)) < MIN_VOICED_S
    assert voiced_s(vowel(0.3)) >= 0.2
    # voicing does not depend on the level: a quiet vowel (-50 dBFS) is voiced as a loud one
    assert voiced_s(vowel(0.3, level=0.003)) >= 0.2
    # a vowel in a burst of noise: the region holds voice
    mixed = noise(1.0)
    mixed[4000:8800] += vowel(0.3)
    assert voiced_s(mixed) >= 0.15
    assert voiced_s(np.zeros(8000, np.float32)) == 0.0 and voiced_s(np.zeros(10, np.float32)) == 0.0


def test_text_the_audio_cannot_hold_is_dropped_or_doubted() -> None:
    # 试试 written on 0.5 s of noise (measured, tests/data/words/hold_noise): no voice, dropped
    assert unsupported(2, 0.5, 0.0, MAX_RATE) == "no_voice"
    # a quiet meeting turn with no syllable nucleus but some voice (realzh, 0.10 s) is speech
    assert unsupported(4, 0.69, 0.10, MAX_RATE) == ""
    # 为什么时候 on a 0.4 s 喂: faster than anybody speaks, kept but doubted
    assert unsupported(5, 0.4, 0.15, MAX_RATE, -24.0) == "too_dense"
    # ... but not in quiet far speech, whose VAD regions hold a part of what was said (realzh's
    # meeting clip: 12 real characters in a 0.69 s region at -41 dBFS)
    assert unsupported(12, 0.69, 0.10, MAX_RATE, -41.1) == ""
    # a fast agent (390 characters/minute) is not too dense; nor a short 好的 in a short region
    assert unsupported(13, 2.0, 1.2, MAX_RATE) == ""
    assert unsupported(2, 0.15, 0.1, MAX_RATE) == ""
    assert unsupported(0, 0.5, 0.0, MAX_RATE) == ""  # no text: nothing to judge


CHARS = "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜"


def words_everywhere(monkeypatch: Any, audio: Audio, regions: list[Region], step: float) -> Any:
    """The recognizer's bookkeeping with a decoder that writes a word every `step` s of every
    window (so every region gets words, whatever its sound), and hears nothing alone."""
    t = Transcriber.__new__(Transcriber)
    t.opts, t.stage_s = AsrOptions(), {"alone": 0.0}

    def decode(packed: Any, windows: list[dict[str, float]]) -> Any:
        for k, w in enumerate(windows):
            times = np.arange(w["start"], w["end"] - step, step)
            yield k, [SimpleNamespace(no_speech_prob=0.1, avg_logprob=-0.3, compression_ratio=1.2,
                                      words=[SimpleNamespace(word=CHARS[i % len(CHARS)], start=a,
                                                             end=a + 0.1, probability=0.9)
                                             for i, a in enumerate(times)])]

    monkeypatch.setattr(t, "_decode", decode)
    monkeypatch.setattr(t, "_alone", lambda audio, todo: {})
    return t.transcribe_all(audio, regions)


def test_words_written_on_a_sound_without_voice_are_dropped(monkeypatch: Any) -> None:
    x = np.zeros(5 * SAMPLE_RATE, np.float32)
    x[SAMPLE_RATE:2 * SAMPLE_RATE] = vowel(1.0, level=0.3)
    x[3 * SAMPLE_RATE:int(3.5 * SAMPLE_RATE)] = noise(0.5)
    audio = Audio("", [x], SAMPLE_RATE, 1)
    speech, burst = Region(0, 1.0, 2.0, -15.0), Region(0, 3.0, 3.5, -12.0)
    got = words_everywhere(monkeypatch, audio, [speech, burst], 0.4)
    assert [(u.start, u.end) for u in got.utterances] == [(1.0, 2.0)]  # the burst: no words
    assert got.unheard == [] and not any(u.dense for u in got.utterances)  # ... nor unheard
    # 0.4 s of a vowel written as 10 syllables a second, loud: kept, and marked dense
    short = Region(0, 1.0, 1.4, -15.0)
    got = words_everywhere(monkeypatch, audio, [short], 0.1)
    assert len(got.utterances) == 1 and got.utterances[0].dense
    assert spoken_units(got.utterances[0].text) > 9 * 0.4
    assert Utterance.from_json(got.utterances[0].to_json()).dense  # kept in the result


def rate_turns(dense: bool) -> list[tuple[Any, ...]]:
    """An agent at 200 characters/minute, the caller, and (`dense`) the agent's short 喂 heard
    as 为什么时候 in 0.4 s, which moves the rate by the words over the norm."""
    a1, a2 = "您好，这里是客户服务中心，很高兴为您服务。", "好的，请您稍等，我帮您查一下。"
    d1, d2 = (spoken_units(t) * 60 / 200 for t in (a1, a2))
    turns = [("agent", 1.0, 1.0 + d1, a1), ("customer", 1.5 + d1, 4.0 + d1, "我想查一下我的快递。"),
             ("agent", 4.5 + d1, 4.5 + d1 + d2, a2)]
    if dense:
        turns.append(("agent", 6.0 + d1 + d2, 6.4 + d1 + d2, "为什么时候"))
    return turns


def test_a_rate_resting_on_dense_text_is_for_review() -> None:
    rule = DEFAULT_PACK.rule("speech_rate")
    findings, _, metrics = audit(rate_turns(dense=True))
    assert metrics.agent_speech_rate_cpm > DEFAULT_PACK.settings.speech_rate_max_cpm
    assert not findings["speech_rate"].passed  # without the mark it is deducted
    utts = utterances(rate_turns(dense=True))
    ctx = Context(utts, metrics, DEFAULT_PACK.settings, mono=False, lang="en")
    failed = Outcome(True, False, [], Detail("speech_rate", {}))
    dense = [u for u in utts if u.text == "为什么时候"]
    assert rests_on_dense(rule, failed, ctx, dense)
    assert not rests_on_dense(rule, failed, ctx, [])
    # a rate over the norm without the dense words too stands
    fast = [(r, a, b, t + "。对" * 6 if r == "agent" and t != "为什么时候" else t)
            for r, a, b, t in rate_turns(dense=True)]
    utts = utterances(fast)
    ctx = Context(utts, audit(fast)[2], DEFAULT_PACK.settings, mono=False, lang="en")
    assert not rests_on_dense(rule, failed, ctx, [u for u in utts if u.text == "为什么时候"])
    # a phrase found only in the dense utterance rests on it; found elsewhere it does not
    forbid = DEFAULT_PACK.rule("vague_words")
    quoted = Outcome(True, False, [_evidence(dense[0])], Detail("found", {}))
    ctx = Context(utterances(rate_turns(dense=True)), metrics, DEFAULT_PACK.settings, mono=False)
    assert rests_on_dense(forbid, quoted, ctx, [u for u in ctx.utterances if u.text == "为什么时候"])
    other = Outcome(True, False, [_evidence(ctx.utterances[0])], Detail("found", {}))
    assert not rests_on_dense(forbid, other, ctx, [u for u in ctx.utterances if u.text == "为什么时候"])
    assert DETAILS["zh"]["review_dense"] and DETAILS["en"]["review_dense"]


def test_the_audit_sends_a_rate_resting_on_dense_text_to_review() -> None:
    """The mark carried by the utterance reaches the verdict: review, no points."""
    marked = [t if t[3] != "为什么时候" else ("agent", t[1], t[2], t[3], {"dense": True})
              for t in rate_turns(dense=True)]
    f = audit(rate_turns(dense=True))[0]["speech_rate"]
    assert not f.passed and f.deduction > 0 and not f.review  # unmarked: deducted
    f = audit(marked)[0]["speech_rate"]
    assert not f.passed and f.deduction == 0 and f.review_id == "review_dense"


def _evidence(u: Any) -> Any:
    from callaudit.records import Evidence

    return Evidence(u.start, u.end, u.role, u.text, u.text[:2])


def test_no_agent_words_on_a_burst_of_noise(auditor: Any) -> None:
    """tests/data/words/hold_noise: during a hold, 0.5 s of line noise on the agent's channel
    (nobody speaks). Whisper base writes 试试 on it (on the machine that made it). The agent's
    text holds no word there, the noise is no unheard speech either, and the agent's real
    turns keep their words."""
    path = DATA / "words" / "hold_noise.flac"
    truth = json.loads(path.with_suffix(".truth.json").read_text(encoding="utf-8"))
    result = auditor.audit(str(path))
    for s in truth["sounds"]:
        on_it = [u for u in result.utterances + result.unheard
                 if u.channel == s["channel"] and u.start < s["end"] and u.end > s["start"]]
        assert on_it == [], on_it
    said = "".join(t["text"] for t in truth["turns"] if t["role"] == "agent")
    heard = "".join(u.text for u in result.utterances if u.role == "agent")
    assert cer(said, heard) <= 0.3, heard
    # the recognizer alone, on the agent's channel: the noise's region is neither words nor
    # unheard speech
    audio = decode(str(path))
    regions = speech_regions(audio.channels[0], 0)
    noisy = [r for r in regions for s in truth["sounds"] if r.start < s["end"] and r.end > s["start"]]
    got = auditor.transcriber.transcribe_all(audio, regions)
    assert not [u for u in got.utterances + got.unheard for r in noisy
                if u.start < r.end and u.end > r.start]
