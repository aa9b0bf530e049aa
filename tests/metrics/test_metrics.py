"""Metrics on constructed signals with exact expected values (VAD -> metrics, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from callaudit.audio.tones import Ringback, detect_ringback
from callaudit.audio.vad import speech_regions
from callaudit.metrics.acoustics import measure
from callaudit.metrics.timing import compute as compute_metrics
from callaudit.records import Region, Utterance
from callaudit.rules.pack import load
from tests.helpers.signals import SR, audio, channel, ring

SETTINGS = load().settings
AGENT_TEXT = "您好这里是客户服务中心请问有什么可以帮您"


def _utts(regions: list[Region], roles: dict[int, str], text: str = AGENT_TEXT,
          ) -> list[Utterance]:
    return [Utterance(r.channel, r.start, r.end, text, roles[r.channel], level_dbfs=r.level_dbfs)
            for r in regions]


def compute(a, regs: list[Region], utts: list[Utterance], stereo: bool,  # type: ignore[no-untyped-def]
            settings: dict, rb: Ringback | None = None):
    return compute_metrics(measure(a, utts, rb), regs, utts, stereo, settings)


def _regions(a) -> list[Region]:  # type: ignore[no-untyped-def]
    out: list[Region] = []
    for ch, sig in enumerate(a.channels):
        out += speech_regions(sig, ch)
    return sorted(out, key=lambda r: r.start)


def test_vad_boundaries_within_0_1_s() -> None:
    bursts = [(1.0, 3.5), (5.0, 6.2), (9.3, 11.0)]
    regs = speech_regions(channel(12.0, bursts), 0)
    assert len(regs) == 3
    for r, (s, e) in zip(regs, bursts, strict=True):
        assert r.start == pytest.approx(s, abs=0.1) and r.end == pytest.approx(e, abs=0.1)


def test_silences_answer_delay_and_talk_ratio() -> None:
    a = audio(channel(20.0, [(2.0, 5.0), (12.0, 15.0)]), channel(20.0, [(6.0, 9.0)], seed=2,
                                                                  f0=210))
    regs = _regions(a)
    m = compute(a, regs, _utts(regs, {0: "agent", 1: "customer"}), True, SETTINGS)
    assert m.answer_delay_s == pytest.approx(2.0, abs=0.1)
    assert m.rings is None and m.connect_s == 0.0
    assert [(round(s.start, 1), round(s.end, 1)) for s in m.silences] == [(5.0, 6.0), (9.0, 12.0)]
    assert m.max_silence_s == pytest.approx(3.0, abs=0.1)
    assert m.talk_ratio["agent"] == pytest.approx(6 / 20, abs=0.02)
    assert m.talk_ratio["silence"] == pytest.approx(11 / 20, abs=0.02)
    assert m.interruptions == []


def test_speech_rate_from_known_count_and_time() -> None:
    a = audio(channel(12.0, [(1.0, 4.0), (6.0, 9.0)]), channel(12.0, [], seed=2))
    regs = _regions(a)
    text = "请问有什么可以帮您的"  # 10 syllables
    m = compute(a, regs, _utts(regs, {0: "agent", 1: "customer"}, text), True, SETTINGS)
    # 2 utterances x 10 syllables over 6 s of speaking time = 200 per minute
    assert m.agent_speech_rate_cpm == pytest.approx(200, rel=0.05)
    assert m.customer_spoke is False and m.customer_speech_rate_cpm is None


def test_ringback_counted_and_connect_after_last_ring() -> None:
    cust = np.zeros(SR * 16, np.float32)
    for k in range(2):  # two rings: 1 s on, 4 s off
        cust[k * 5 * SR:k * 5 * SR + SR] = ring()
    agent = channel(16.0, [(11.5, 14.0)])
    a = audio(agent, cust)
    rb = detect_ringback(a)
    assert rb.rings == 2 and rb.connect_s == pytest.approx(6.0, abs=0.06)
    regs = [r for r in _regions(a) if not rb.overlaps(r.start, r.end)]
    assert [r.channel for r in regs] == [0]  # the tone is not taken for the caller's speech
    m = compute(a, regs, _utts(regs, {0: "agent"}), True, SETTINGS, rb)
    # the third ring was due at 10.0 and not heard: answered by then, so the agent, who spoke
    # at 11.5, is charged from 10.0, not from the end of the last ring (6.0)
    assert m.connect_s == pytest.approx(10.0, abs=0.06) and m.rings == 2
    assert m.answer_delay_s == pytest.approx(1.5, abs=0.2)


def test_tone_later_in_the_call_is_not_ringback() -> None:
    late = np.zeros(SR * 30, np.float32)
    late[20 * SR:21 * SR] = ring()
    assert detect_ringback(audio(channel(30.0, [(1.0, 3.0)]), late)).rings is None


def test_interruption_counted_once_and_backchannel_ignored() -> None:
    cust = channel(20.0, [(1.0, 6.0), (10.0, 14.0)], seed=2, f0=210)
    agent = channel(20.0, [(4.5, 8.0), (12.0, 12.6)])  # 1.5 s overlap; then a 0.6 s "嗯"
    a = audio(agent, cust)
    regs = _regions(a)
    utts = _utts(regs, {0: "agent", 1: "customer"})
    m = compute(a, regs, utts, True, SETTINGS)
    assert m.interruptions is not None and len(m.interruptions) == 1
    assert m.interruptions[0].start == pytest.approx(4.5, abs=0.1)
    mono = compute(a, regs, utts, False, SETTINGS)
    assert mono.interruptions is None


def test_dead_air_hold_and_wait() -> None:
    agent = channel(100.0, [(1.0, 3.0), (10.0, 12.0), (50.0, 52.0), (60.0, 62.0)])
    cust = channel(100.0, [(4.0, 6.0), (55.0, 57.0)], seed=2, f0=210)
    a = audio(agent, cust)
    regs = _regions(a)
    texts = {1.0: "您好请问有什么可以帮您", 10.0: "好的请您稍等我为您查询一下",
             50.0: "感谢您的耐心等待已经查到了", 60.0: "好的还有什么可以帮您"}
    utts = [Utterance(r.channel, r.start, r.end,
                      texts.get(round(r.start), "我想查一下订单") if r.channel == 0
                      else "我想查一下订单", "agent" if r.channel == 0 else "customer")
            for r in regs]
    m = compute(a, regs, utts, True, SETTINGS)
    assert len(m.holds) == 1 and m.holds[0].start == pytest.approx(12.0, abs=0.1)
    assert m.holds[0].end == pytest.approx(50.0, abs=0.1)
    assert m.dead_air == []  # 38 s, but announced and under the 60 s reminder limit
    assert m.max_silence_s == pytest.approx(38.0, abs=0.1)
    # the same silence unannounced is dead air and an unannounced wait
    for u in utts:
        u.text = u.text.replace("请您稍等我为您查询一下", "嗯")
    m2 = compute(a, regs, utts, True, SETTINGS)
    assert m2.holds == [] and len(m2.dead_air) == 1
    assert [w.kind for w in m2.waits] == ["wait"]


def test_no_speech_at_all() -> None:
    a = audio(channel(10.0, []), channel(10.0, [], seed=2))
    regs = _regions(a)
    assert regs == []
    m = compute(a, regs, [], True, SETTINGS)
    assert m.answer_delay_s is None and m.agent_speech_rate_cpm is None
    assert m.silences == [] and m.max_silence_s == 0.0
    assert not m.agent_spoke and not m.customer_spoke


def test_speech_on_one_channel_only() -> None:
    a = audio(channel(10.0, [(1.0, 4.0)]), channel(10.0, [], seed=2))
    regs = _regions(a)
    assert {r.channel for r in regs} == {0}
    m = compute(a, regs, _utts(regs, {0: "agent", 1: "customer"}), True, SETTINGS)
    assert m.agent_spoke and not m.customer_spoke and m.interruptions == []


def test_volume_level_and_clipping() -> None:
    loud = channel(6.0, [(1.0, 4.0)])
    loud[int(2 * SR):int(2.2 * SR)] = 1.0  # 0.2 s pinned at full scale
    a = audio(loud, channel(6.0, [], seed=2))
    regs = _regions(a)
    m = compute(a, regs, _utts(regs, {0: "agent"}), True, SETTINGS)
    assert m.agent_clipping_share == pytest.approx(0.2 / 3.0, rel=0.15)
    assert -30 < (m.agent_level_dbfs or -99) < 0


@pytest.mark.parametrize("name", ["demo_call", "bad_call", "ringback_call"])
def test_synthesized_call_timing_matches_truth(name: str) -> None:
    """VAD on the shipped TTS calls against their truth files (no model): silence
    boundaries within 0.1 s, answer delay within 0.2 s, interruptions exact, and the
    agent's speech rate within 5 % when the truth text is put on the measured regions."""
    import json

    from callaudit.audio.decode import decode
    from tests.helpers import SAMPLES

    t = json.loads((SAMPLES / f"{name}.truth.json").read_text(encoding="utf-8"))
    a = decode(str(SAMPLES / f"{name}.wav"))
    rb = detect_ringback(a)
    regs = [r for r in _regions(a) if not rb.overlaps(r.start, r.end)]
    roles = {0: "agent", 1: "customer"} if t["agent_channel"] == "left" else \
        {0: "customer", 1: "agent"}
    utts = []
    for r in regs:  # each region gets the text of the truth turn it lies in, shared by time
        turn = next(x for x in t["turns"] if x["channel"] == r.channel and
                    x["start"] - 0.1 <= r.start and r.end <= x["end"] + 0.1)
        share = (r.end - r.start) / sum(g.end - g.start for g in regs if g.channel == r.channel
                                        and turn["start"] - 0.1 <= g.start <= turn["end"])
        utts.append(Utterance(r.channel, r.start, r.end, "字" * round(turn["chars"] * share),
                              roles[r.channel], level_dbfs=r.level_dbfs))
    m = compute(a, regs, utts, True, SETTINGS, rb)
    got = [(s.start, s.end) for s in m.silences]
    want = [(s["start"], s["end"]) for s in t["silences"]]
    assert len(got) == len(want)
    for (gs, ge), (ws, we) in zip(got, want, strict=True):
        assert gs == pytest.approx(ws, abs=0.1) and ge == pytest.approx(we, abs=0.1)
    first = min(x["start"] for x in t["turns"] if x["role"] == "agent")
    connect = (t["ringback"] or {}).get("connect_s", 0.0)
    assert m.answer_delay_s == pytest.approx(first - connect, abs=0.2)
    assert m.agent_speech_rate_cpm == pytest.approx(t["speech_rate_cpm"]["agent"], rel=0.05)
    agent = [x for x in t["turns"] if x["role"] == "agent"]
    cust = [x for x in t["turns"] if x["role"] == "customer"]
    overlaps = sum(1 for x in agent for c in cust
                   if c["start"] < x["start"] < c["end"] and min(x["end"], c["end"]) - x["start"] >= 1)
    assert m.interruptions is not None and len(m.interruptions) == overlaps


def test_each_party_level_on_speech_only_and_noise_floor_off_it() -> None:
    """Issue 15: a channel's level, clipping and noise floor per party: the level over the
    party's speech only (a loud line does not lift it), the noise floor between the words."""
    rng = np.random.default_rng(3)
    agent = channel(12.0, [(1.0, 4.0)])
    cust = channel(12.0, [(5.0, 9.0)], seed=2, f0=210) * 0.3  # a quiet caller
    cust += (10 ** (-50 / 20) * rng.standard_normal(cust.size)).astype(np.float32)  # a hissy line
    a = audio(agent, cust)
    regs = _regions(a)
    utts = _utts(regs, {0: "agent", 1: "customer"})
    m = compute(a, regs, utts, True, SETTINGS)
    assert m.customer_level_dbfs is not None and m.agent_level_dbfs is not None
    assert m.customer_level_dbfs < m.agent_level_dbfs - 8  # ~10 dB quieter, measured on speech
    assert m.customer_noise_floor_dbfs == pytest.approx(-50, abs=3)
    assert m.agent_noise_floor_dbfs is not None and m.agent_noise_floor_dbfs < -55
    assert m.to_json(SETTINGS)["customer_noise_floor_dbfs"] == pytest.approx(-50, abs=3)
