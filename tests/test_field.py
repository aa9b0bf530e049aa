"""Recordings of the kinds that break call auditors in the field (../shared/field/README.md),
each kind on a fixture made here: a fresh clone has no ../shared."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from callaudit import cli
from tests.helpers import DATA, ROOT, SAMPLES, cer, truth
from tests.helpers.audio_util import write_wav

AUDIT = [sys.executable, "-m", "callaudit.cli"]
RATE = 8000


def hiss(seconds: float = 30.0, seed: int = 16) -> list[np.ndarray]:
    """Line hiss and 50 Hz hum on both channels, nobody speaking (the kind of f16)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    hum = 0.02 * np.sin(2 * np.pi * 50 * t) + 0.008 * np.sin(2 * np.pi * 150 * t)
    return [(hum + 0.01 * rng.standard_normal(t.size)).astype(np.float32) for _ in range(2)]


@pytest.mark.model
def test_no_speech_is_never_a_passing_call(tmp_path: Path) -> None:
    """Hiss and hum only: a distinct outcome with its reason, no score, exit 5; in a batch a
    status and a count of its own, not re-audited by the next run."""
    wav = write_wav(tmp_path / "2026-11-22_A001_abandoned.wav", hiss(), RATE)
    out = tmp_path / "r.json"
    p = subprocess.run([*AUDIT, "check", str(wav), "--json", str(out), "--lang", "en"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == cli.EXIT_NO_SPEECH, p.stderr
    assert "NO SPEECH" in p.stdout and "not audited as a call" in p.stdout
    r = json.loads(out.read_text("utf-8"))
    assert r["outcome"] == "no_speech" and r["score"] is None and r["passed"] is False
    assert r["outcome_why"]["key"] in ("no_speech_none", "no_speech_no_words")
    assert r["findings"] == []

    db = tmp_path / "r.sqlite"
    for _ in range(2):
        p = subprocess.run([*AUDIT, "batch", str(tmp_path), "--db", str(db), "--workers", "1",
                            "--pattern", "{date}_{agent_id}_{call_id}"],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert p.returncode == cli.EXIT_PASS, p.stderr
    assert "0 audited" in p.stdout and "1 already in" in p.stdout  # the second run
    rows = sqlite3.connect(db).execute("SELECT status, score, passed FROM calls").fetchall()
    assert rows == [("no_speech", None, None)]
    s = subprocess.run([*AUDIT, "summary", "--db", str(db), "--format", "json"],
                       capture_output=True, text=True, cwd=ROOT, check=True)
    agent = json.loads(s.stdout)[0]
    assert agent["agent"] == "A001" and agent["calls"] == 0 and agent["no_speech"] == 1


def test_offset_and_rumble_are_removed_speech_kept() -> None:
    from callaudit.audio.condition import remove_offset
    from tests.helpers.signals import audio, voice

    v = np.concatenate([np.zeros(8000, np.float32), voice(2.0, amp=0.1)])
    t = np.arange(v.size) / 16000
    rumble = (0.05 + 0.03 * np.sin(2 * np.pi * 5 * t)).astype(np.float32)  # DC + 5 Hz
    a = audio(v + rumble, v.copy())
    remove_offset(a)
    assert abs(float(a.channels[0][8000:].mean())) < 1e-3
    assert float(np.abs(a.channels[0][640:7000]).max()) < 0.01  # the silence is silent again
    speech = slice(8000 + 800, v.size - 800)
    err = a.channels[0][speech] - v[speech]
    assert float(np.sqrt(np.mean(err ** 2))) < 0.1 * float(np.sqrt(np.mean(v[speech] ** 2)))
    assert np.array_equal(a.channels[1], v)  # a clean channel is not touched


@pytest.mark.model
def test_dc_offset_changes_nothing(auditor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The kind of f09: +0.05 full scale on both channels lost the greeting and failed a
    good call."""
    from callaudit.audio.decode import decode

    src = decode(str(SAMPLES / "demo_call.wav"))
    shifted = write_wav(tmp_path / "dc.wav", [c + 0.05 for c in src.channels], 16000)
    clean, dc = auditor.audit(str(SAMPLES / "demo_call.wav")), auditor.audit(str(shifted))
    assert dc.score == pytest.approx(clean.score, abs=2) and dc.passed == clean.passed
    assert dc.metrics.answer_delay_s == pytest.approx(clean.metrics.answer_delay_s, abs=0.15)
    ok = {f.rule: f.passed for f in clean.findings}
    assert {f.rule: f.passed for f in dc.findings if f.rule in ("greeting", "self_id")} == \
        {r: ok[r] for r in ("greeting", "self_id")}


@pytest.mark.model
def test_real_words_like_subtitle_credits_are_kept(auditor) -> None:  # type: ignore[no-untyped-def]
    """The kind of f15 (a 13.5 s cut of it, shipped): the caller cancels a subscription (订阅)
    and the agent answers with a forbidden phrase. Whisper's credit-line filter dropped both
    utterances, and the forbidden phrase with them."""
    said = {"customer": "我想取消我订阅的视频会员每个月都在扣钱",
            "agent": "你订阅的东西你自己去取消这不关我的事"}
    # the cut starts after the greeting that tells
    r = auditor.audit(str(DATA / "field" / "subscribe_call.ogg"), agent_channel="left")
    heard = {u.role: u.text for u in r.utterances}
    assert set(heard) == {"customer", "agent"}
    for role, text in said.items():
        assert cer(text, heard[role]) < 0.35, (role, heard[role])
    assert {f.rule: f.passed for f in r.findings}["forbidden_phrase"] is False


def _demo_mix() -> np.ndarray:
    from callaudit.audio.decode import decode

    a = decode(str(SAMPLES / "demo_call.wav"))
    return (a.channels[0] + a.channels[1]) * 0.7


def test_layout_by_correlation_not_equality() -> None:
    """Two copies of one mix, at different gain and a few ms apart, are one mix (the kind
    of f05); a one-sided channel beside a dead one is one live channel (f06); a two-party
    stereo call stays stereo."""
    from callaudit.audio.condition import channel_layout
    from tests.helpers.signals import audio

    mix = _demo_mix()
    quieter = np.concatenate([np.zeros(32, np.float32), mix[:-32]]) * 10 ** (-3 / 20)  # 2 ms, -3 dB
    same = channel_layout(audio(mix, quieter))
    assert same.kind == "same_mix" and same.channels == [0] and same.why.args["corr"] > 0.9
    rng = np.random.default_rng(0)
    for dead in (np.zeros_like(mix), (10 ** (-62 / 20) * rng.standard_normal(mix.size)).astype(np.float32)):
        one = channel_layout(audio(dead, mix))
        assert one.kind == "one_live" and one.channels == [1], one
    from callaudit.audio.decode import decode

    demo = decode(str(SAMPLES / "demo_call.wav"))
    assert channel_layout(demo).kind == "stereo"
    # the whole call decides, not its first minute: a caller who says one word in the first
    # minute and speaks later, or whose channel carries the agent's echo until they speak
    agent, caller = demo.channels
    hush = np.zeros_like(caller)
    hush[int(48.5 * 16000):int(49.5 * 16000)] = caller[int(48.5 * 16000):int(49.5 * 16000)]
    late = audio(np.concatenate([agent, agent]), np.concatenate([hush, caller]))
    echo = audio(np.concatenate([agent, agent]), np.concatenate([agent * 0.1, caller + agent * 0.1]))
    assert channel_layout(late).kind == channel_layout(echo).kind == "stereo"


@pytest.mark.model
@pytest.mark.parametrize("kind", ["same_mix", "one_live"])
def test_one_mix_on_two_channels_is_audited_as_mono(auditor, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    """Every word once, roles from the mix, and no "silent caller" blamed on the agent."""
    mix = _demo_mix()
    right = mix * 10 ** (-3 / 20) if kind == "same_mix" else np.zeros_like(mix)
    r = auditor.audit(str(write_wav(tmp_path / f"{kind}.wav", [mix, right], 16000)))
    assert r.layout is not None and r.layout.kind == kind
    assert r.agent_channel == "mono" and r.metrics.customer_spoke is True
    said = sum(len(t["text"]) for t in truth("demo_call")["turns"])
    assert 0.7 * said < sum(len(u.text) for u in r.utterances) < 1.3 * said  # every word once
    silent = {f.rule: f for f in r.findings}["silent_call"]
    assert silent.passed or not silent.applicable
