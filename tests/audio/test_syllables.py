"""Syllables counted from the sound (audio/syllables.py), and the speech-rate verdict when
the transcript and the sound disagree (rules/measures/speech_rate.py, rules/doubt.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from callaudit.audio.decode import decode
from callaudit.audio.syllables import count, nuclei
from tests.helpers import DATA, SAMPLES, stored_result, truth
from tests.helpers.transcripts import BASE, audit

SR = 16000


def syllable_train(n: int, per_s: float, voiced: bool = True, seed: int = 0) -> np.ndarray:
    """n syllable-like bursts per_s a second: a raised-cosine envelope over 150 Hz harmonics
    (a vowel), or over white noise (a fricative, unvoiced)."""
    period = 1 / per_s
    t = np.arange(int(SR * period)) / SR
    on = 0.65 * period
    env = np.where(t < on, np.sin(np.pi * np.clip(t / on, 0, 1)) ** 2, 0.0)
    rng = np.random.default_rng(seed)
    one = []
    for _ in range(n):
        src = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 15)) if voiced \
            else rng.standard_normal(len(t))
        one.append(0.3 * env * src / np.abs(src).max())
    return np.concatenate(one).astype(np.float32)


@pytest.mark.parametrize("per_s", [3.0, 4.0, 5.5, 6.5])  # 180 .. 390 syllables a minute
def test_voiced_bursts_are_counted_at_any_rate(per_s: float) -> None:
    assert abs(len(nuclei(syllable_train(30, per_s))) - 30) <= 1


def test_noise_bursts_are_not_syllables() -> None:
    assert len(nuclei(syllable_train(20, 4.0, voiced=False))) <= 2
    assert nuclei(np.zeros(SR, np.float32)) == []
    assert nuclei(np.zeros(100, np.float32)) == []


@pytest.mark.parametrize("name", ["demo_call", "bad_call", "ringback_call"])
def test_the_acoustic_rate_of_the_samples_is_near_the_truth(name: str) -> None:
    """The synthesized agents speak at 210-250 characters a minute (the truth files); the
    nuclei over the agent's utterances give it within 12 % (measured: -5 %, -10 %, +6 %)."""
    audio = decode(str(SAMPLES / f"{name}.wav"))
    agent = [u for u in stored_result(name)["result"]["utterances"] if u["role"] == "agent"]
    secs = sum(u["end"] - u["start"] for u in agent)
    heard = count(audio.channels, [(u["channel"], u["start"], u["end"]) for u in agent]) * 60 / secs
    want = truth(name)["speech_rate_cpm"]["agent"]
    assert abs(heard - want) <= 0.12 * want, (heard, want)


def agent_chars_and_seconds() -> tuple[int, float]:
    _, _, m = audit(BASE)
    return round(m.agent_speech_rate_cpm * m.agent_speaking_s / 60), m.agent_speaking_s


def test_rate_verdict_when_words_and_sound_agree_or_disagree() -> None:
    chars, secs = agent_chars_and_seconds()
    assert 180 <= chars * 60 / secs <= 220  # BASE speaks at 200
    # the sound agrees: as before
    f, _, m = audit(BASE, nuclei=chars)
    assert f["speech_rate"].passed and m.agent_speech_rate_acoustic_cpm == pytest.approx(200, abs=5)
    # Whisper dropped syllables of a fast agent: 200 by the words, 300 by the sound
    f, score, _ = audit(BASE, nuclei=round(chars * 1.5))
    sr = f["speech_rate"]
    assert not sr.passed and sr.review and sr.deduction == 0 and sr.review_id == "review_rate_disagree"
    assert sr.detail_id == "rate_disagree" and score.score == 100
    # both say too fast: deducted
    fast = [(t[0], t[1], {**(t[2] if len(t) > 2 else {}), "cpm": 300}) if t[0] == "agent" else t
            for t in BASE]
    f, _, _ = audit(fast, nuclei=chars)  # the same syllables in less time
    assert not f["speech_rate"].passed and f["speech_rate"].deduction > 0
    # a small gap (under 15 %) across the edge is no disagreement: the words decide
    f, _, _ = audit(BASE, nuclei=round(chars * 1.12))
    assert f["speech_rate"].passed and not f["speech_rate"].review


def test_older_results_without_nuclei_are_judged_by_the_words() -> None:
    r = json.loads((DATA / "results" / "bad_call.json").read_text("utf-8"))
    assert "agent_nuclei" not in r["acoustics"]
    f, _, m = audit(BASE)
    assert m.agent_speech_rate_acoustic_cpm is None and f["speech_rate"].passed


@pytest.mark.model
def test_a_fast_agent_is_fast_by_the_words_and_by_the_sound(auditor: object) -> None:
    """A synthesized agent at about 330 characters a minute (tests/data/fast: its script and
    truth); both rates put them far over the norm, so the deduction stands."""
    call = DATA / "fast"
    want = json.loads((call / "fast_call.truth.json").read_text("utf-8"))["speech_rate_cpm"]["agent"]
    r = auditor.audit(str(call / "fast_call.flac")).to_json()  # type: ignore[attr-defined]
    m = r["metrics"]
    assert abs(m["agent_speech_rate_acoustic_cpm"] - want) <= 0.15 * want
    assert abs(m["agent_speech_rate_cpm"] - want) <= 0.2 * want  # Whisper may drop syllables
    f = next(f for f in r["findings"] if f["rule"] == "speech_rate")
    assert not f["passed"] and f["deduction"] > 0 and not f["review"]


def test_a_slow_agent_by_the_words_whom_the_sound_hears_within_the_norm_is_reviewed() -> None:
    """Whisper also loses syllables of slow speech (misheard or unheard words), and the sound
    over-counts it (bench/pace: +22 % on a 148 chars/min agent): when the two disagree by
    more than 15 % across the norm's edge either way, a person listens; nobody is deducted.
    Within 15 % the words decide."""
    chars, _ = agent_chars_and_seconds()
    slow = [(t[0], t[1], {**(t[2] if len(t) > 2 else {}), "cpm": 150}) if t[0] == "agent" else t
            for t in BASE]
    f, score, m = audit(slow, nuclei=round(chars * 1.24))  # the sound: 186
    assert 180 <= m.agent_speech_rate_acoustic_cpm <= 220 and m.agent_speech_rate_cpm < 180
    sr = f["speech_rate"]
    assert sr.review and sr.deduction == 0 and sr.review_id == "review_rate_disagree"
    f, _, _ = audit(slow, nuclei=round(chars * 1.1))  # the sound: 165, slow too: deducted
    assert not f["speech_rate"].passed and not f["speech_rate"].review
    assert f["speech_rate"].deduction > 0
    # within by the words (200), slow by the sound (140): a person listens
    f, _, m = audit(BASE, nuclei=round(chars * 0.7))
    assert m.agent_speech_rate_acoustic_cpm < 180 and f["speech_rate"].review
