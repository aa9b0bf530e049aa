"""The caller's raised voice as an upset caller's trigger (metrics/voice.py, empathy's
`trigger: {voice: raised}`): against the caller's own start of the call, louder by
raised_voice_db or higher by raised_pitch_st, twice within 30 s.

The unit tests build utterances by hand; the model tests run the real audit on two
synthesized calls with the same words (tests/data/upset): said calmly, empathy does not
apply; with the caller's last two requests 1.3x higher (`vtl: 1.3`, +4.5 semitones) and
no complaint word, it fails on the voice alone, its evidence the first raised request.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from callaudit.metrics.voice import caller_pitch, raised_voice
from callaudit.records import Utterance
from callaudit.rules.pack import load
from tests import helpers

DATA = helpers.DATA / "upset"
SETTINGS = load().settings


def _caller(start: float, level: float, dur: float = 5.0) -> Utterance:
    """A caller utterance; two of these (10 s) make the baseline (raised_voice_baseline_s)."""
    return Utterance(1, start, start + dur, "我想问一下", "customer", level)


def test_louder_than_the_callers_own_start_is_raised() -> None:
    utts = [_caller(0, -24), _caller(6, -23), _caller(12, -16.5), _caller(18, -20)]
    raised = raised_voice(utts, [], SETTINGS)
    assert [r.utterance.start for r in raised] == [12]
    assert raised[0].db == pytest.approx(7.0) and raised[0].semitones is None


def test_higher_than_the_callers_own_start_is_raised() -> None:
    utts = [_caller(t, -24) for t in (0, 6, 12, 18)]
    pitches = [(0.0, 200.0), (6.0, 210.0), (12.0, 205.0), (18.0, 205 * 2 ** (4.5 / 12))]
    raised = raised_voice(utts, pitches, SETTINGS)
    assert [r.utterance.start for r in raised] == [18]
    assert raised[0].semitones == pytest.approx(4.5, abs=0.2)


def test_a_loud_line_or_a_high_voice_is_not_anger() -> None:
    """The baseline is the caller's own: a caller loud and high from the start is not raised."""
    utts = [_caller(t, -8) for t in (0, 6, 12, 18)]
    assert raised_voice(utts, [(float(t), 320.0) for t in (0, 6, 12, 18)], SETTINGS) == []


def test_no_baseline_no_judgement() -> None:
    """One utterance is no baseline; a 喂 (under raised_voice_min_s) is not judged."""
    assert raised_voice([_caller(0, -30, 12.0), _caller(13, -10)], [], SETTINGS) == []
    utts = [_caller(0, -24), _caller(4, -24, 8.0), _caller(13, -10, 0.5)]
    assert raised_voice(utts, [], SETTINGS) == []


@pytest.mark.parametrize("name", ["upset_call", "calm_call"])
def test_the_voice_alone_makes_an_upset_caller(name: str, auditor: Any) -> None:
    r = auditor.audit(str(DATA / f"{name}.flac")).to_json()
    empathy = next(f for f in r["findings"] if f["rule"] == "empathy")
    truth = json.loads((DATA / f"{name}.truth.json").read_text(encoding="utf-8"))
    caller = [t for t in truth["turns"] if t["role"] == "customer"]
    if name == "calm_call":
        assert r["metrics"]["caller_raised_voice"] == []
        assert not empathy["applicable"]
        return
    raised = r["metrics"]["caller_raised_voice"]
    assert len(raised) >= 2 and all(x["semitones"] >= SETTINGS.raised_pitch_st for x in raised)
    assert not empathy["passed"] and not empathy["review"]
    ev = empathy["evidence"][0]
    assert abs(ev["start"] - caller[2]["start"]) < 1.0  # the first raised request
    assert "st" in ev["category"]


def test_the_pitch_of_each_caller_utterance_is_measured() -> None:
    """Praat's pitch of the fixture's caller turns (truth times): the raised ones are
    4-5 semitones over the first two."""
    import math

    from callaudit.audio.decode import decode

    truth = json.loads((DATA / "upset_call.truth.json").read_text(encoding="utf-8"))
    utts = [Utterance(t["channel"], t["start"], t["end"], t["text"], t["role"])
            for t in truth["turns"]]
    hz = dict(caller_pitch(decode(str(DATA / "upset_call.flac")), utts))
    starts = [round(t["start"], 3) for t in truth["turns"] if t["role"] == "customer"]
    base = (hz[starts[0]] + hz[starts[1]]) / 2
    for s in starts[2:4]:
        assert 3.5 <= 12 * math.log2(hz[s] / base) <= 5.5, (s, hz[s], base)
