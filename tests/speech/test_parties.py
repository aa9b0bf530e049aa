"""Who is speaking (issue 30): sound on a party's channel that is not that party speaking.

Carrier announcements on a call that never connected, IVR prompts before the agent, the
agent's echo on the caller's channel, a TV behind the caller, ringback after a stretch of
silence. Fixtures: tests/data/parties (synthesized, README there) and variants made here
from the shipped samples; the field recordings g05, g07 and g13 are these kinds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callaudit import cli
from callaudit.audio.decode import SAMPLE_RATE, Audio, decode
from callaudit.audio.echo import cancel, cancel_echoes, find_echo
from callaudit.audio.tones import Ringback, detect_ringback
from callaudit.audio.vad import VadOptions, background_spans, frame_decisions, speech_regions
from callaudit.records import NotParty, Utterance
from callaudit.rules.pack import load
from callaudit.settings import problems
from callaudit.speech.connection import exchange, not_connected
from callaudit.speech.system import find_system
from tests.helpers import DATA, ROOT, SAMPLES
from tests.helpers.audio_util import write_wav

PARTIES = DATA / "parties"
AUDIT = [sys.executable, "-m", "callaudit.cli"]
SETTINGS = load(None).settings


def _truth(name: str) -> dict[str, Any]:
    return json.loads((PARTIES / f"{name}.truth.json").read_text("utf-8"))


def _with_echo(src: Audio, delay_s: float, loss_db: float, taps: np.ndarray | None = None,
               ) -> list[np.ndarray]:
    """The call with the agent's (left) voice on the caller's channel, `delay_s` late and
    `loss_db` down, through `taps` (a hybrid's filtering) when given."""
    agent, caller = src.channels
    echo = agent if taps is None else np.convolve(agent, taps)[:len(agent)].astype(np.float32)
    d = int(delay_s * SAMPLE_RATE)
    out = caller.copy()
    out[d:] += 10 ** (-loss_db / 20) * echo[:len(echo) - d]
    return [agent.copy(), out]


def _speech_s(regions: list[Any]) -> float:
    return sum(r.duration for r in regions)


# --- echo ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("delay_s", "loss_db", "filtered"), [
    (0.06, 18.0, False),  # the others (~6 s each) are slow: `make test` runs them
    *(pytest.param(*p, marks=pytest.mark.slow)
      for p in ((0.03, 12.0, False), (0.15, 25.0, False), (0.25, 18.0, False), (0.06, 18.0, True)))])
def test_echo_is_found_and_cancelled(delay_s: float, loss_db: float, filtered: bool) -> None:
    """The agent's voice on the caller's channel, at several delays and levels (and through
    a hybrid's low-pass): found with its delay and loss, and after cancelling, the caller's
    channel holds as much speech as without the echo."""
    clean = decode(str(SAMPLES / "demo_call.wav"))
    taps = np.array([0.5, 0.3, 0.15, 0.05]) if filtered else None
    a = decode(str(SAMPLES / "demo_call.wav"))
    a.channels = _with_echo(clean, delay_s, loss_db, taps)
    path = find_echo(a, 0, 1)
    assert path is not None
    assert path.delay_s == pytest.approx(delay_s, abs=0.003)
    assert path.loss_db == pytest.approx(loss_db + (4.0 if filtered else 0.0), abs=4.0)
    assert find_echo(a, 1, 0) is None  # the caller's voice is not on the agent's channel
    with_echo = _speech_s(speech_regions(a.channels[1], 1))
    cancel(a, path)
    want = _speech_s(speech_regions(clean.channels[1], 1))
    assert with_echo > 1.5 * want  # the echo was heard as the caller's speech ...
    assert _speech_s(speech_regions(a.channels[1], 1)) == pytest.approx(want, rel=0.1)  # ... no more


@pytest.mark.parametrize("name", ["demo_call", "bad_call", "silent_call", "ringback_call"])
def test_no_echo_no_change(name: str) -> None:
    """Stereo calls without echo are not touched."""
    a = decode(str(SAMPLES / f"{name}.wav"))
    before = [c.copy() for c in a.channels]
    assert cancel_echoes(a, True, VadOptions()) == []
    assert all(np.array_equal(x, y) for x, y in zip(before, a.channels, strict=True))


# --- background voices ---------------------------------------------------------------------
def _covered(spans: list[tuple[float, float]], a: float, b: float) -> float:
    return sum(max(0.0, min(e, b) - max(s, a)) for s, e in spans)


def test_background_voice_is_not_the_caller() -> None:
    """A newsreader 20 dB under the caller, through the whole call and the hold: most of it
    is background, none of the caller's own turns is."""
    t = _truth("background_tv")
    x = decode(str(PARTIES / "background_tv.flac")).channels[1]
    opts = VadOptions()
    spans = background_spans(x, frame_decisions(x, opts), opts)
    turns = [(u["start"], u["end"]) for u in t["turns"] if u["role"] == "customer"]
    for a, b in turns:
        assert _covered(spans, a + 0.3, b - 0.3) == 0.0, (a, b, spans)
    tv = [(s["start"], s["end"]) for s in t["background"]["spans"]]
    tv_only = sum(e - s for s, e in tv) - sum(_covered(tv, a, b) for a, b in turns)
    assert sum(e - s for s, e in spans) > 0.6 * tv_only
    control = decode(str(PARTIES / "background_tv_control.flac")).channels[1]
    assert background_spans(control, frame_decisions(control, opts), opts) == []


@pytest.mark.parametrize("name", ["demo_call", "bad_call", "ringback_call"])
def test_no_background_in_clean_calls(name: str) -> None:
    opts = VadOptions()
    for x in decode(str(SAMPLES / f"{name}.wav")).channels:
        assert background_spans(x, frame_decisions(x, opts), opts) == []


# --- ringback after silence ----------------------------------------------------------------
@pytest.mark.parametrize("lead_s", [0.0, 8.0, 25.0, 70.0])
def test_ringback_found_after_leading_silence(lead_s: float) -> None:
    """A recorder started at dial: the same rings, found wherever they start."""
    a = decode(str(SAMPLES / "ringback_call.wav"))
    first = detect_ringback(a)
    pad = np.zeros(int(lead_s * SAMPLE_RATE), np.float32)
    a.channels = [np.concatenate([pad, c]) for c in a.channels]
    r = detect_ringback(a)
    assert r.rings == first.rings == 2
    assert r.connect_s == pytest.approx(first.connect_s + lead_s, abs=0.06)


# --- machine speech, from the words --------------------------------------------------------
def _u(text: str, start: float, channel: int = 1, end: float | None = None) -> Utterance:
    return Utterance(channel, start, start + 2.0 if end is None else end, text)


def test_announcements_and_prompts_told_by_sound() -> None:
    utts = [_u("喂，您好？", 0.5, 0), _u("您播打地电话与关机。", 2.9), _u("请稍后再播", 5.1),
            _u("名播打地电话与关系", 9.8), _u("请稍后再拨", 12.3)]
    found = find_system(utts, SETTINGS)
    assert [n.label for n in found] == ["announcement:powered_off", "announcement",
                                           "announcement:powered_off", "announcement"]
    machine = {(n.start, n.channel) for n in found}
    assert not exchange([u for u in utts if (u.start, u.channel) not in machine], True, SETTINGS)
    prompt = [_u("你好，欢迎这店客户服务中心，本次通话可能会被录音。", 0.0, 0),
              _u("正在为您转接人工服务，请稍后。", 7.6, 0)]
    assert [n.label for n in find_system(prompt, SETTINGS)] == ["prompt", "prompt"]
    human = [_u("我现在为您转接到售后部门，请您稍等。", 3.0, 0),  # an agent transferring
             _u("请稍后再拨", 5.0),  # a tail with no announcement before it
             _u("您好，这里是客户服务中心，工号一零二四，很高兴为您服务。", 8.0, 0)]
    assert find_system(human, SETTINGS) == []


def test_english_announcement_matched_as_written() -> None:
    u = _u("Sorry, the subscriber you dialed is power off. Please redial later.", 1.0)
    assert [n.label for n in find_system([u], SETTINGS)] == ["announcement:powered_off"]


def test_a_caller_quoting_an_announcement_is_the_caller() -> None:
    """Heard once amid other words: a party quoting the network, not the network."""
    quote = _u("喂，我打你们电话一直提示您拨打的电话正在通话中", 4.0)
    assert find_system([quote], SETTINGS) == []
    call = [_u("您好，请问有什么可以帮您？", 1.0, 0), quote, _u("好的，我帮您看一下。", 8.0, 0)]
    assert find_system(call, SETTINGS) == []
    assert not_connected([], call, _no_tones(), True, SETTINGS) is None
    network = _u("您拨打的电话正在通话中，请稍后再拨。", 4.0)  # once, and nothing else
    assert [n.label for n in find_system([network], SETTINGS)] == ["announcement:busy"]


def test_an_agent_is_not_taken_for_a_prompt() -> None:
    """Agents say words prompts say; a prompt says little else."""
    first = _u("您好，这里是客户服务中心，请问有什么可以帮您？", 0.5, 0)
    for i, said in enumerate(["好的，正在为您转接售后部门，请您稍等", "好的我这边正在为您接通技术人员",
                              "目前正在排队处理您的订单", "您前面还有两个工单",
                              "我现在为您转接到售后部门，请您稍等。"]):
        assert find_system([first, _u(said, 10.0 + 5 * i, 0)], SETTINGS) == [], said
    busy_agent = _u("不好意思，刚才坐席正忙，让您久等了，您好，工号一零二四很高兴为您服务", 0.5, 0)
    assert find_system([busy_agent], SETTINGS) == []  # the agent's first words


def test_exchange_needs_both_parties() -> None:
    agent = [_u("喂？您好？喂？听得到吗？", 1.0, 0)]
    assert not exchange(agent, True, SETTINGS)
    assert not exchange(agent + [_u("喂？", 4.0, 1)], True, SETTINGS)
    call = [_u("您好，请问有什么可以帮您？", 1.0, 0), _u("你好，我想查一下我的快递。", 4.0, 1)]
    assert exchange(call, True, SETTINGS)
    assert not exchange(agent, False, SETTINGS)
    assert exchange(call, False, SETTINGS)  # one mix: the words of both, together


def _no_tones() -> Ringback:
    return Ringback(None, 0.0)


def test_busy_tone_and_unanswered_rings_are_not_connected() -> None:
    busy = Ringback(None, 0.0, spans=[(3.0, 8.0, "busy:cn", 1)])
    assert not_connected([], [], busy, True, SETTINGS).key == "not_connected_busy"
    assert not_connected([], [_u("喂，您好？", 1.0, 0)], busy, True, SETTINGS).key == \
        "not_connected_busy"
    # a terse call the caller hung up on, the line's busy tone after it: a call
    terse = [_u("您好，我们这边有一个新的流量套餐，您需要了解一下吗？", 0.5, 0), _u("不需要，谢谢。", 6.0, 1)]
    dropped = Ringback(None, 0.0, spans=[(9.0, 14.0, "busy:cn", 1)])
    assert not_connected([], terse, dropped, True, SETTINGS) is None
    rings = Ringback(3, 11.0, [(0.0, 1.0), (5.0, 6.0), (10.0, 11.0)], "ringback:cn")
    assert not_connected([], [_u("喂？", 3.0, 0)], rings, True, SETTINGS).key == \
        "not_connected_no_answer"
    # the agent's 喂？您好？ after the ringing stopped, and nobody else: no answer either
    assert not_connected([], [_u("喂？您好？", 12.0, 0)], rings, True, SETTINGS).key == \
        "not_connected_no_answer"
    queue = [NotParty(0, 0.0, 8.0, "system", "prompt", "您的来电正在排队，请稍候")]
    assert not_connected(queue, [], _no_tones(), True, SETTINGS).key == "not_connected_queue"
    answered = [_u("您好，这里是客户服务中心，工号一零二四。", 11.5, 0),
                _u("你好，我想问一下我的订单。", 15.0, 1)]
    assert not_connected([], answered, rings, True, SETTINGS) is None


def test_settings_of_machine_speech_are_checked() -> None:
    values = {**SETTINGS.to_json(), "carrier_announcements": ["您拨打的电话已关机"],
              "system_threshold": 1.5}
    out = problems(values)
    assert any("carrier_announcements" in p and "map names to lists" in p for p in out)
    assert any("system_threshold" in p for p in out)


# --- whole audits with the model -----------------------------------------------------------
@pytest.mark.model
@pytest.mark.parametrize(("name", "kind"), [
    ("announce_powered_off", "powered_off"), ("announce_vacant_mono", "vacant"),
    ("announce_busy_right", "busy"), ("announce_unreachable", "unreachable")])
def test_a_call_that_never_connected_is_never_scored(auditor, name: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    r = auditor.audit(str(PARTIES / f"{name}.flac"))
    assert r.outcome == "not_connected" and r.score is None and r.passed is False
    assert r.findings == [] and r.outcome_why.key == "not_connected_announcement"
    assert r.outcome_why.args["kind"] == kind
    assert any(n.kind == "system" and n.label == f"announcement:{kind}" for n in r.not_party)


@pytest.mark.model
def test_a_caller_quoting_an_announcement_is_a_call(auditor) -> None:  # type: ignore[no-untyped-def]
    r = auditor.audit(str(PARTIES / "mentions_announcement.flac"))
    assert r.outcome == "audited" and r.passed
    assert not [n for n in r.not_party if n.kind == "system"]
    assert any("通话" in u.text for u in r.utterances if u.role == "customer")


@pytest.mark.model
def test_an_ivr_prompt_is_not_the_agent(auditor) -> None:  # type: ignore[no-untyped-def]
    """Its 您好 and 客户服务中心 credit nothing; the answer delay runs from its end."""
    t = _truth("ivr_prompt")
    prompt = next(u for u in t["turns"] if u["role"] == "system")
    agent = next(u for u in t["turns"] if u["role"] == "agent")
    r = auditor.audit(str(PARTIES / "ivr_prompt.flac"))
    verdict = {f.rule: f.passed for f in r.findings}
    assert verdict["greeting"] is False and verdict["self_id"] is False
    assert r.metrics.answer_delay_s == pytest.approx(agent["start"] - prompt["end"], abs=0.5)
    assert r.metrics.connect_s == pytest.approx(prompt["end"], abs=0.5)
    assert all(u.start >= prompt["end"] - 0.5 for u in r.utterances if u.role == "agent")
    system = [n for n in r.not_party if n.kind == "system"]
    assert system and all(n.label == "prompt" for n in system)
    assert sum(n.end - n.start for n in system) > 0.7 * (prompt["end"] - prompt["start"])


@pytest.mark.model
def test_a_prompt_with_an_agent_id_credits_only_when_the_pack_says_so(auditor, tmp_path: Path,
                                                                        ) -> None:  # type: ignore[no-untyped-def]
    from callaudit.metrics.acoustics import Acoustics
    from callaudit.rules.judge import judge

    r = auditor.audit(str(PARTIES / "ivr_prompt_id.flac"))
    assert {f.rule: f.passed for f in r.findings}["self_id"] is False  # never by accident
    prompts = [n for n in r.not_party if n.label == "prompt"]
    said = next(u for u in _truth("ivr_prompt_id")["turns"] if u["role"] == "system")
    assert prompts and prompts[0].start == pytest.approx(said["start"], abs=0.6)
    assert not [u for u in r.utterances if u.start < said["end"] - 0.3]  # nobody's words
    center = tmp_path / "center.yaml"
    center.write_text("settings:\n  system_credits: [self_id]\n", "utf-8")
    pack = load(str(center))
    # the prompt's words as said (Whisper base hears its 工号 as 孤号 on this voice: the
    # credit needs the words, and what it credits is the subject here)
    system = [Utterance(n.channel, n.start, n.end, said["text"], "agent") for n in prompts]
    acoustics = Acoustics(**r.acoustics)
    j = judge(pack, acoustics, r.regions, r.utterances, True, system=system)
    verdict = {f.rule: f.passed for f in j.findings}
    assert verdict["self_id"] is True  # explicitly credited
    plain = judge(load(None), acoustics, r.regions, r.utterances, True, system=system)
    assert {f.rule: f.passed for f in plain.findings}["self_id"] is False  # only if listed
    assert {f.rule: f.passed for f in plain.findings}["greeting"] == \
        {f.rule: f.passed for f in j.findings}["greeting"]  # and it credits nothing else


@pytest.mark.model
def test_the_agents_echo_is_not_the_caller(auditor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The kind of g07: the demo call with the agent's voice on the caller's channel, 18 dB
    down and 60 ms late, audits as the demo call does."""
    clean = auditor.audit(str(SAMPLES / "demo_call.wav"))
    wav = write_wav(tmp_path / "echo.wav", _with_echo(decode(str(SAMPLES / "demo_call.wav")),
                                                     0.06, 18.0), SAMPLE_RATE)
    r = auditor.audit(str(wav))
    assert r.score == pytest.approx(clean.score, abs=2) and r.passed == clean.passed
    assert r.metrics.talk_ratio["customer"] == pytest.approx(
        clean.metrics.talk_ratio["customer"], abs=0.03)
    assert {f.rule: f.passed for f in r.findings if f.rule in ("farewell", "ask_more", "thanks_reply")} \
        == {f.rule: f.passed for f in clean.findings if f.rule in ("farewell", "ask_more", "thanks_reply")}
    agent_starts = [u.start for u in r.utterances if u.role == "agent"]
    echoes = [u for u in r.utterances if u.role == "customer"
              and any(abs(u.start - s - 0.06) < 0.15 for s in agent_starts)]
    assert echoes == []  # no agent line again as the caller's
    assert any(n.kind == "echo" for n in r.not_party)


@pytest.mark.model
def test_a_tv_behind_the_caller_is_not_the_caller(auditor) -> None:  # type: ignore[no-untyped-def]
    r = auditor.audit(str(PARTIES / "background_tv.flac"))
    control = auditor.audit(str(PARTIES / "background_tv_control.flac"))
    assert r.metrics.agent_interruptions == 0
    assert len(r.metrics.holds) == len(control.metrics.holds) == 1
    assert r.score == pytest.approx(control.score, abs=2)
    said = "".join(u.text for u in r.utterances if u.role == "customer")
    assert not any(w in said for w in ("天气", "垃圾", "咨询", "气温"))
    assert any(n.kind == "background" for n in r.not_party)


@pytest.mark.model
def test_rings_after_silence_then_answer(auditor) -> None:  # type: ignore[no-untyped-def]
    t = _truth("silence_then_ringback")
    r = auditor.audit(str(PARTIES / "silence_then_ringback.flac"))
    assert r.metrics.rings == 2
    first = next(u for u in t["turns"] if u["role"] == "agent")
    assert r.metrics.answer_delay_s == pytest.approx(0.6, abs=0.4)
    assert r.metrics.connect_s == pytest.approx(first["start"] - 0.6, abs=0.4)
    assert {f.rule: f.passed for f in r.findings}["answer_delay"] is True


@pytest.mark.model
def test_not_connected_in_check_batch_and_summary(tmp_path: Path) -> None:
    """Its own exit status, batch status and count per agent, never a pass."""
    src = PARTIES / "announce_powered_off.flac"
    p = subprocess.run([*AUDIT, "check", str(src), "--lang", "en"], capture_output=True,
                       text=True, cwd=ROOT, timeout=300)
    assert p.returncode == cli.EXIT_NOT_CONNECTED, p.stderr
    assert "NOT CONNECTED" in p.stdout and "powered_off" in p.stdout
    night = tmp_path / "night"
    night.mkdir()
    (night / "2026-12-06_A007_out1.flac").write_bytes(src.read_bytes())
    db = tmp_path / "r.sqlite"
    p = subprocess.run([*AUDIT, "batch", str(night), "--db", str(db), "--workers", "1",
                        "--pattern", "{date}_{agent_id}_{call_id}"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == cli.EXIT_PASS, p.stderr
    assert "1 never connected" in p.stdout
    s = subprocess.run([*AUDIT, "summary", "--db", str(db), "--format", "json"],
                       capture_output=True, text=True, cwd=ROOT, check=True)
    agent = json.loads(s.stdout)[0]
    assert agent["agent"] == "A007" and agent["calls"] == 0 and agent["not_connected"] == 1


def _tones(freq: float, on_s: float, off_s: float, count: int, lead_s: float = 0.5,
           tail_s: float = 1.0) -> np.ndarray:
    """`count` bursts of `freq` in an on/off cadence, at 8 kHz, over line noise."""
    rate = 8000
    burst = np.concatenate([0.2 * np.sin(2 * np.pi * freq * np.arange(int(on_s * rate)) / rate),
                            np.zeros(int(off_s * rate))])
    x = np.concatenate([np.zeros(int(lead_s * rate)), np.tile(burst, count),
                        np.zeros(int(tail_s * rate))])
    return (x + 10 ** (-62 / 20) * np.random.default_rng(30).standard_normal(x.size)).astype(np.float32)


def _hello(length: int, at_s: float) -> np.ndarray:
    """The agent's 喂，您好？ (from announce_powered_off's agent channel, 1.0-2.6 s) at `at_s`."""
    a = decode(str(PARTIES / "announce_powered_off.flac"))
    said = a.channels[0][int(1.0 * SAMPLE_RATE):int(2.6 * SAMPLE_RATE)]
    said = said[::2]  # 16 kHz -> 8 kHz (the speech is band-limited already)
    out = (10 ** (-62 / 20) * np.random.default_rng(31).standard_normal(length)).astype(np.float32)
    i = int(at_s * 8000)
    out[i:i + len(said)] += said
    return out


@pytest.mark.model
@pytest.mark.parametrize("hello", [False, True])
def test_ringing_nobody_answered_is_not_connected(auditor, tmp_path: Path, hello: bool) -> None:  # type: ignore[no-untyped-def]
    """Five Chinese rings, then the agent hangs up (saying 喂，您好？ into the ringing or not):
    not connected, no answer; not a recording without speech, and never a pass."""
    far = _tones(450.0, 1.0, 4.0, 5)
    near = _hello(far.size, 11.0) if hello else \
        (10 ** (-62 / 20) * np.random.default_rng(32).standard_normal(far.size)).astype(np.float32)
    r = auditor.audit(str(write_wav(tmp_path / "rings.wav", [near, far], 8000)))
    assert r.outcome == "not_connected" and r.score is None and not r.passed
    assert r.outcome_why.key == "not_connected_no_answer"
    assert r.outcome_why.args["rings"] == 5


@pytest.mark.model
def test_busy_tone_is_not_connected(auditor, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The agent says 喂，您好？, the far leg plays the busy tone: not connected, busy."""
    far = _tones(450.0, 0.35, 0.35, 12, lead_s=3.0)
    r = auditor.audit(str(write_wav(tmp_path / "busy.wav", [_hello(far.size, 0.5), far], 8000)))
    assert r.outcome == "not_connected" and r.score is None
    assert r.outcome_why.key == "not_connected_busy"


def test_a_caller_gone_quiet_is_still_the_caller() -> None:
    """A caller 18 dB quieter from the middle of the call on (a speakerphone, a step back):
    still taking turns with the agent, so no background voice."""
    a = decode(str(SAMPLES / "demo_call.wav"))
    caller = a.channels[1].copy()
    opts = VadOptions()
    voiced = np.flatnonzero(frame_decisions(caller, opts))
    half = int(voiced[len(voiced) // 2] * opts.frame_ms / 1000 * SAMPLE_RATE)  # half its speech
    caller[:half] *= 10 ** (10 / 20)  # 18 dB between the halves
    caller[half:] *= 10 ** (-8 / 20)
    flags = frame_decisions(caller, opts)
    assert background_spans(caller, flags, opts) != []  # by level alone it would be cut ...
    assert background_spans(caller, flags, opts, frame_decisions(a.channels[0], opts)) == []


@pytest.mark.slow
def test_echo_spans_leave_the_ringback_alone() -> None:
    """Echo on a leg that also carries the ringback: the rings stay rings, not echo."""
    from callaudit.audio.condition import channel_layout
    from callaudit.audio.vad import call_regions
    from callaudit.pipeline import _echo

    clean = decode(str(SAMPLES / "ringback_call.wav"))
    a = decode(str(SAMPLES / "ringback_call.wav"))
    a.channels = _with_echo(clean, 0.06, 18.0)
    layout = channel_layout(a)
    assert layout.kind == "stereo"
    paths = cancel_echoes(a, True, VadOptions())
    assert [(p.source, p.leg) for p in paths] == [(0, 1)]
    rb = detect_ringback(a)
    regions = call_regions(a, [0, 1], rb, VadOptions(), party_channels=True)
    spans = _echo(paths, regions, rb)
    assert spans and all(_covered(rb.bursts, n.start, n.end) == 0.0 for n in spans)


def test_machine_words_are_masked_too() -> None:
    """A number only the machine said is masked under --redact like a party's."""
    from callaudit.privacy.mask import redact

    result = {"utterances": [], "not_party": [
        {"channel": 0, "start": 0.0, "end": 5.0, "kind": "system", "label": "prompt",
         "text": "您的通话可能会被录音，请回拨13812345678", "why": {}}],
        "outcome_why": {"key": "x", "args": {"text": "请回拨13812345678"}}}
    out = redact(result, load(None))
    assert "13812345678" not in json.dumps(out, ensure_ascii=False)
    assert "通话可能会被录音" in out["not_party"][0]["text"]


def test_system_credits_name_rules(tmp_path: Path) -> None:
    from callaudit.errors import RulePackError

    bad = tmp_path / "bad.yaml"
    bad.write_text("settings:\n  system_credits: [self_idd]\n", "utf-8")
    with pytest.raises(RulePackError, match="names no rule `self_idd`"):
        load(str(bad))
