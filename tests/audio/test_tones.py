"""Tones and music are not speech (issue "Real-world recordings", Signal): ringback of every
tone plan with its rings and connect, the answer inside the off-time, busy tone and DTMF, hold
music and colour ringback; the speech gate measured on the shipped samples' speech. Fixtures
are made here (numpy tones and music, the shipped samples' speech), never read from ../shared."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from callaudit.audio.decode import Audio, decode
from callaudit.audio.tones import PLANS, Ringback, detect_ringback, sound_label
from callaudit.audio.vad import call_regions, speech_regions
from callaudit.metrics.acoustics import Acoustics, measure
from callaudit.metrics.timing import compute, find_silences
from callaudit.records import Region, Utterance
from callaudit.rules.pack import load
from tests.helpers import SAMPLES
from tests.helpers.signals import SR, audio, channel, dtmf, music, overlay, splice, tones, voice

SETTINGS = load().settings
RINGBACK = {p.name: p for p in PLANS if p.kind == "ringback"}


def _demo() -> Audio:
    return decode(str(SAMPLES / "demo_call.wav"))


def _spans(regions: list[Region], channel: int | None = None) -> list[tuple[float, float]]:
    return [(r.start, r.end) for r in regions if channel is None or r.channel == channel]


# --- ringback ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "cut_s"), [("cn", 11.0), ("na", 13.0), ("uk", 6.4), ("eu", 10.5),
                                             ("na", 14.0)])
def test_each_plan_gives_its_rings_and_the_connect(name: str, cut_s: float) -> None:
    """Three rings, the third cut short by the answer (or whole: NA answered at 14.0 s, the
    end of its third 2 s burst); the tone is on the caller's channel."""
    plan = RINGBACK[name]
    cadence = list(zip(plan.cadence[::2], plan.cadence[1::2], strict=True))
    caller = tones(plan.freqs, cadence, 30.0, cut_s=cut_s)
    agent = channel(30.0, [(cut_s + 0.6, cut_s + 4.0)])
    rb = detect_ringback(audio(agent, caller))
    assert rb.plan == f"ringback:{name}" and rb.rings == 3
    assert rb.connect_s == pytest.approx(cut_s, abs=0.06)
    assert [s[2] for s in rb.spans] == [f"ringback:{name}"] * 3 and {s[3] for s in rb.spans} == {1}


def test_a_tone_off_the_plans_is_no_ringback() -> None:
    """440 Hz alone (half of the NA pair), 1 s / 4 s: no plan's frequencies, no rings."""
    caller = tones((440.0,), [(1.0, 4.0)], 20.0, cut_s=11.0)
    assert detect_ringback(audio(channel(20.0, [(12.0, 14.0)]), caller)).rings is None


def test_connect_where_the_line_opens_inside_the_off_time() -> None:
    """Two CN rings (0-1, 5-6 s), answered at 8.0 s in the off-time: the agent's dead line
    carries line noise from then on and the agent speaks at 8.6 s. The answer delay is 0.6 s,
    not 2.6 s from the end of the last ring."""
    caller = tones((450.0,), [(1.0, 4.0)], 20.0, cut_s=7.0)
    rng = np.random.default_rng(3)
    agent = np.zeros(20 * SR, np.float32)
    agent[8 * SR:] = 0.0018 * rng.standard_normal(12 * SR)  # -55 dBFS line noise
    agent = overlay(agent, 8.6, voice(3.0))
    a = audio(agent, caller)
    rb = detect_ringback(a)
    assert rb.rings == 2 and rb.connect_s == pytest.approx(8.0, abs=0.06)
    regs = [r for r in speech_regions(agent, 0) if not rb.overlaps(r.start, r.end)]
    utts = [Utterance(0, r.start, r.end, "您好请问有什么可以帮您", "agent") for r in regs]
    m = compute(measure(a, utts, rb), regs, utts, True, SETTINGS)
    assert m.answer_delay_s == pytest.approx(0.6, abs=0.1) and m.rings == 2


def test_without_a_mark_the_connect_stays_at_the_last_ring() -> None:
    """The same call on a line that is live all along: nothing shows when it was answered, so
    the end of the last ring is kept (the earliest possible connect)."""
    caller = tones((450.0,), [(1.0, 4.0)], 20.0, cut_s=7.0)
    rb = detect_ringback(audio(channel(20.0, [(8.6, 11.6)]), caller))
    assert rb.rings == 2 and rb.connect_s == pytest.approx(6.0, abs=0.06)


# --- busy, DTMF ----------------------------------------------------------------------------
def test_busy_tones_and_dtmf_are_labelled_and_never_speech() -> None:
    """CN and NA busy at the end of a call and key tones in it are labelled on their channel,
    are no ringback, and leave no speech region; the agent's speech is kept."""
    a = _demo()
    agent, caller = a.channels
    caller = overlay(caller, 32.0, dtmf("13800138000#"))
    caller = np.concatenate([caller, tones((480.0, 620.0), [(0.5, 0.5)], 4.0)])
    agent = np.concatenate([agent, tones((450.0,), [(0.35, 0.35)], 4.0)])
    b = audio(agent, caller)
    rb = detect_ringback(b)
    labels = sorted((s[2], s[3]) for s in rb.spans)
    assert rb.rings is None and labels == [("busy:cn", 0), ("busy:na", 1), ("dtmf", 1)]
    got = call_regions(b, [0, 1], rb)
    assert _spans(got) == _spans(call_regions(a, [0, 1], detect_ringback(a)))


# --- music ---------------------------------------------------------------------------------
def test_music_inside_a_hold_adds_no_speech_and_drops_none() -> None:
    """Hold music in the 8 s hold of the demo call (31.54-39.54 s), starting 0.3 s after the
    agent's 请您稍等: the speech regions are those of the call without it, the hold silence is
    still there, and the music is labelled. webrtcvad alone hears the music as speech."""
    a = _demo()
    plain = call_regions(a, [0, 1], detect_ringback(a))
    agent = overlay(a.channels[0], 31.84, music(7.4, amp=0.15))
    b = audio(agent, a.channels[1])
    assert len(speech_regions(agent, 0)) < len(speech_regions(a.channels[0], 0))  # merged
    rb = detect_ringback(b)
    got = call_regions(b, [0, 1], rb)
    assert len(got) == len(plain)
    for g, p in zip(got, plain, strict=True):
        assert (g.channel, g.start) == (p.channel, p.start) and g.end == pytest.approx(p.end,
                                                                                     abs=0.15)
    silence = [(s.start, s.end) for s in find_silences(got, 1.0) if s.duration > 5]
    assert silence == [pytest.approx((31.54, 39.54), abs=0.15)]
    (s, e, label, ch), = [x for x in rb.spans if x[2] == "music"]
    assert ch == 0 and s == pytest.approx(31.84, abs=0.4) and e == pytest.approx(39.24, abs=0.4)
    assert rb.rings is None and rb.connect_s == 0.0  # music after speech is not pre-answer


def test_colour_ringback_is_pre_answer_audio() -> None:
    """Music on the caller's line before the answer (彩铃), then the agent speaks: no rings,
    and the call connects where the music stops."""
    a = _demo()
    caller = splice(a.channels[1], 0.0, music(6.0, amp=0.1, seed=4))
    agent = splice(a.channels[0], 0.0, np.zeros(6 * SR, np.float32))
    b = audio(agent, caller)
    rb = detect_ringback(b)
    regions = call_regions(b, [0, 1], rb)
    assert regions[0].channel == 0 and regions[0].start == pytest.approx(7.0, abs=0.1)
    assert rb.rings is None and rb.connect_s == pytest.approx(6.0, abs=0.3)
    assert [x[2] for x in rb.spans] == ["music"]


def test_music_and_noise_are_told_apart() -> None:
    hiss = 0.01 * np.random.default_rng(0).standard_normal(5 * SR)
    assert sound_label(music(5.0)) == "music" and sound_label(hiss.astype(np.float32)) == "noise"


def test_labelled_spans_reach_the_acoustics_and_old_results_still_load() -> None:
    rb = Ringback(2, 6.0, [(0.0, 1.0), (5.0, 6.0)], "ringback:cn",
                  [(0.0, 1.0, "ringback:cn", 1), (5.0, 6.0, "ringback:cn", 1), (20.0, 30.0, "music", 0)])
    ac = measure(audio(channel(40.0, [(7.0, 9.0)])), [], rb)
    assert ac.ring_plan == "ringback:cn" and ac.not_speech[-1] == (20.0, 30.0, "music", 0)
    old = {"duration_s": 40.0, "rings": 2, "connect_s": 6.0, "agent_level_dbfs": -20.0,
           "agent_clipping_share": 0.0}  # stored before the spans existed (results/rescore.py)
    assert Acoustics(**old).not_speech == [] and Acoustics(**old).ring_plan == ""


# --- the speech gate, measured -------------------------------------------------------------
def _frames(spans: list[tuple[float, float]], n: int) -> np.ndarray:
    out = np.zeros(n, bool)
    for s, e in spans:
        out[int(round(s * 100)):int(round(e * 100))] = True
    return out


def gate_scores() -> dict[str, Any]:
    """Per 10 ms frame precision and recall of "speech" on the shipped samples' speech with
    music, ringback, busy tone and DTMF put into every stretch of 3 s or more without speech
    (the truth: the speech regions of the sample without them), for webrtcvad alone and with
    the gate of call_regions."""
    fill = [music(30.0, amp=0.1, seed=1), music(30.0, amp=0.03, seed=2),
            tones((440.0, 480.0), [(2.0, 4.0)], 30.0), tones((400.0, 450.0), [(0.4, 0.2), (0.4, 2.0)], 30.0),
            music(30.0, amp=0.3, seed=3), tones((450.0,), [(0.35, 0.35)], 30.0), np.tile(dtmf("5"), 150)]
    counts = {k: np.zeros(3) for k in ("webrtcvad", "gate")}  # hits, predicted, truth
    k = 0
    for name in ("demo_call", "bad_call", "ringback_call", "silent_call", "mono_call"):
        a = decode(str(SAMPLES / f"{name}.wav"))
        rb0 = detect_ringback(a)
        for ch in range(len(a.channels)):
            x = a.channels[ch].copy()
            truth = [r for r in speech_regions(x, ch) if not rb0.overlaps(r.start, r.end)]
            bounds = [0.0] + [t for r in truth for t in (r.start, r.end)] + [a.duration]
            for s, e in zip(bounds[::2], bounds[1::2], strict=True):
                if e - s >= 3.0 and not rb0.overlaps(s, e):
                    y = fill[k % len(fill)][:int((e - s - 0.6) * SR)]
                    x = overlay(x, s + 0.3, y)
                    k += 1
            mixed = Audio(a.path, [x], a.source_rate, 1)
            n = int(a.duration * 100) + 1
            t = _frames(_spans(truth), n)
            for key, regs in (("webrtcvad", speech_regions(x, 0)),
                              ("gate", call_regions(mixed, [0], detect_ringback(mixed)))):
                p = _frames([(r.start, r.end) for r in regs if not rb0.overlaps(r.start, r.end)], n)
                counts[key] += [np.sum(p & t), np.sum(p), np.sum(t)]
    return {key: {"precision": c[0] / c[1], "recall": c[0] / c[2], "fills": k}
            for key, c in counts.items()}


@pytest.mark.slow
def test_the_gate_keeps_speech_and_drops_music_and_tones() -> None:
    s = gate_scores()
    assert s["gate"]["recall"] >= 0.99 and s["gate"]["precision"] >= 0.98, s
    assert s["webrtcvad"]["precision"] < 0.9, s  # what the gate is for


# --- the whole audit -----------------------------------------------------------------------
@pytest.mark.model
def test_hold_music_changes_neither_speech_rate_nor_holds(auditor: Any) -> None:
    """The demo call with 8 s of hold music inserted in its hold (1 s of silence either side):
    the agent's speech rate within 5 % and the hold count of the call without it; the hold is
    10 s longer and no utterance lies on the music."""
    a = _demo()
    plain = auditor.audit_audio(_demo()).to_json()
    gap = np.zeros(SR, np.float32)
    at = 35.5  # inside the hold (31.54-39.54 s)
    agent = splice(a.channels[0], at, np.concatenate([gap, music(8.0, amp=0.15, seed=5), gap]))
    caller = splice(a.channels[1], at, np.zeros(10 * SR, np.float32))
    r = auditor.audit_audio(Audio("hold_music.wav", [agent, caller], a.source_rate, 2)).to_json()
    m, m0 = r["metrics"], plain["metrics"]
    assert m["agent_speech_rate_cpm"] == pytest.approx(m0["agent_speech_rate_cpm"], rel=0.05)
    assert len(m["holds"]) == len(m0["holds"]) == 1
    assert m["holds"][0]["duration_s"] == pytest.approx(m0["holds"][0]["duration_s"] + 10, abs=0.3)
    assert not [u for u in r["utterances"] if u["start"] < at + 9 and u["end"] > at + 1]
    assert r["score"] == plain["score"]


def test_the_speech_gate_reads_block_by_block_as_over_the_whole_channel() -> None:
    """speech_probability copies one block at a time (a whole 3-hour channel is 0.7 GB), and
    never writes into the channel (faster-whisper's Silero zeroes the end of its input)."""
    from faster_whisper.vad import get_vad_model

    from callaudit.audio.vad import GATE_RESET, GATE_WARM, GATE_WINDOW, speech_probability

    x = decode(str(SAMPLES / "demo_call.wav")).channels[0][:16000 * 12 + 77]
    kept = x.copy()
    got = speech_probability(x)
    assert np.array_equal(x, kept)
    # as computed before, on a whole-channel copy
    model, whole = get_vad_model(), np.pad(x, (0, -len(x) % GATE_WINDOW))
    n = len(whole) // GATE_WINDOW
    want = np.zeros(n)
    for a in range(0, n, GATE_RESET):
        b, w = min(n, a + GATE_RESET), max(0, a - GATE_WARM)
        want[a:b] = np.asarray(model(whole[w * GATE_WINDOW:b * GATE_WINDOW])).reshape(-1)[a - w:]
    assert np.array_equal(got, want)


@pytest.mark.slow
def test_the_gate_asks_silero_only_near_a_voice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Silero is run only on blocks within GATE_MIN_S of a frame webrtcvad hears as a voice:
    on the demo call with hold music and a minute of line hiss and digital silence added,
    regions and labelled spans are those of asking it everywhere, and the hiss and the
    silence cost it nothing."""
    from callaudit.audio import vad

    a = _demo()
    agent = np.concatenate([overlay(a.channels[0], 31.84, music(7.4, amp=0.15)),
                            (np.random.default_rng(0).standard_normal(60 * SR) * 3e-4)
                            .astype(np.float32), np.zeros(60 * SR, np.float32)])
    b = audio(agent, np.pad(a.channels[1], (0, 120 * SR)))
    asked = []
    real = vad.speech_probability

    def counted(signal: Any, ask: Any = None) -> Any:
        asked.append(ask)
        return real(signal, ask)

    monkeypatch.setattr(vad, "speech_probability", counted)
    rb = detect_ringback(b)
    got, spans = call_regions(b, [0, 1], rb), rb.spans
    monkeypatch.setattr(vad, "speech_probability", lambda signal, ask=None: real(signal))
    rb = detect_ringback(b)
    assert call_regions(b, [0, 1], rb) == got and rb.spans == spans
    tail = asked[0][-(120 * SR) // vad.GATE_WINDOW + int(vad.GATE_MIN_S / vad.GATE_STEP_S) + 1:]
    assert len(tail) > 3700 and not tail.any()  # the last two minutes: never asked


def test_a_block_not_asked_is_not_run() -> None:
    from callaudit.audio.vad import GATE_RESET, speech_probability

    x = decode(str(SAMPLES / "demo_call.wav")).channels[0][:16000 * 12]
    whole = speech_probability(x)
    asked = np.zeros(len(whole), bool)
    asked[GATE_RESET + 5] = True  # the second block only
    got = speech_probability(x, asked)
    assert np.array_equal(got[GATE_RESET:2 * GATE_RESET], whole[GATE_RESET:2 * GATE_RESET])
    assert not got[:GATE_RESET].any() and not got[2 * GATE_RESET:].any()
