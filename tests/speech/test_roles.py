"""Who is the agent on a two-sided call (speech/roles.py): agent phrases decide, speaking first
breaks a tie, and weak phrases (a 您好, which callers say too and Whisper writes for a caller's
你好) do not overturn who spoke first: that decision is unsure, and the failures that depend on
who spoke go to a person (rules/judge.py), in a fresh audit, a re-judged one and the 抽检
sample alike."""

from __future__ import annotations

from dataclasses import replace

import pytest

from callaudit.metrics.acoustics import measure
from callaudit.parts import Reason, Separation, roles_sure
from callaudit.records import Region, Utterance
from callaudit.rules.judge import judge, speakers_unsure
from callaudit.rules.pack import load
from callaudit.speech.diarize import Diarization
from callaudit.speech.roles import CUE_MARGIN, assign_roles, decide_stereo
from callaudit.strings import Detail
from tests.helpers import stored
from tests.helpers.transcripts import silent_audio


def _call(first: list[str], second: list[str]) -> tuple[list[Utterance], list[Region]]:
    """Channel 0 says `first` from 1 s, channel 1 `second` from 4 s, turn by turn, 6 s apart."""
    utts = [Utterance(0, 1.0 + 6 * i, 3.0 + 6 * i, t) for i, t in enumerate(first)]
    utts += [Utterance(1, 4.0 + 6 * i, 6.0 + 6 * i, t) for i, t in enumerate(second)]
    utts.sort(key=lambda u: u.start)
    return utts, [Region(u.channel, u.start, u.end) for u in utts]


def test_the_agent_script_decides_even_when_the_agent_speaks_second() -> None:
    # an outbound call: the customer answers, the agent introduces themselves
    utts, regions = _call(["喂？", "对，是我"],
                          ["您好，这里是客户服务中心，我的工号是一二三四", "请您核实一下"])
    d = decide_stereo(utts, regions)
    assert d.agent_channel == 1 and d.sure and d.why.key == "roles_cues"


def test_a_weak_greeting_from_the_second_side_does_not_overturn_speaking_first() -> None:
    # the agent answers without a script; the caller's 你好 was heard as 您好 (score 1 to 0)
    utts, regions = _call(["说吧，什么事？", "查到了，明天到"], ["您好，时间", "好的"])
    d = decide_stereo(utts, regions)
    assert d.agent_channel == 0 and not d.sure and d.why.key == "roles_unsure"
    assert d.why.args["score"] - d.why.args["own"] < CUE_MARGIN
    assert "右声道" in d.why.text("zh") and "左声道" in d.why.text("zh")
    assert "unsurely" in d.why.text("en")


def test_cues_by_exactly_the_margin_decide_surely() -> None:
    utts, regions = _call(["说吧，什么事？"], ["为您查询"])  # 为您查询: 1.5 to 0
    d = decide_stereo(utts, regions)
    assert d.agent_channel == 1 and d.sure and d.why.key == "roles_cues"
    assert d.why.args["score"] - d.why.args["other"] == CUE_MARGIN


def test_a_first_speaker_who_sounds_like_a_caller_is_surely_not_the_agent() -> None:
    # an outbound call: the customer picks up with a request of their own (score -1 to 0)
    utts, regions = _call(["喂，帮我查一下"], ["好的，查到了"])
    d = decide_stereo(utts, regions)
    assert d.agent_channel == 1 and d.sure and d.why.key == "roles_cues"


def test_weak_cues_that_agree_with_speaking_first_are_sure() -> None:
    utts, regions = _call(["您好", "查到了，明天到"], ["我想问一下快递", "好的"])
    d = decide_stereo(utts, regions)
    assert d.agent_channel == 0 and d.sure and d.why.key == "roles_cues"


def test_no_cues_at_all_speaking_first_decides_surely() -> None:
    utts, regions = _call(["说吧", "明天到"], ["快递没到", "好的"])
    d = decide_stereo(utts, regions)
    assert d.agent_channel == 0 and d.sure and d.why.key == "roles_first"


def test_forced_side_is_sure() -> None:
    utts, regions = _call(["说吧"], ["您好"])
    assert decide_stereo(utts, regions, forced="right").sure


def _separated() -> Diarization:
    return Diarization([], [], "campp", 0.9, 2, Detail("sep_two_voices", {"why": "", "windows": 9}))


def test_a_separated_mono_call_carries_the_unsure_decision() -> None:
    utts, regions = _call(["说吧，什么事？"], ["您好，时间"])
    d = assign_roles(utts, regions, [0, 1], separation=_separated())
    assert d.label == "mono" and d.agent_channel == 0 and not d.sure
    assert d.why.key == "roles_separated" and d.why.args["agent"].key == "roles_unsure"
    utts, regions = _call(["您好，工号一二三四"], ["我想问一下"])
    assert assign_roles(utts, regions, [0, 1], separation=_separated()).sure


def test_stored_reasons_tell_whether_the_decision_was_sure() -> None:
    utts, regions = _call(["说吧，什么事？"], ["您好，时间"])
    stored = assign_roles(utts, regions, [0, 1]).why.to_json()
    assert not roles_sure(Reason.from_json(stored))
    assert roles_sure(Reason("roles_cues", {"side": "left", "score": 4.0, "other": 0.0}))
    assert roles_sure(None)  # results stored before roles_why was kept
    # a separated mono call keeps the agent's decision inside its own reason, as stored
    stored = assign_roles(utts, regions, [0, 1], separation=_separated()).why.to_json()
    assert isinstance(stored["args"]["agent"], dict)
    assert not roles_sure(Reason.from_json(stored))
    sure = Detail("roles_separated", {"method": "campp", "reason": "", "confidence": 0.9,
                                      "agent": Detail("roles_first", {"side": "speaker_1"})})
    assert roles_sure(Reason.from_json(sure.to_json()))


def test_unsure_roles_send_the_agents_failures_to_review() -> None:
    pack = load(None)
    utts, regions = _call(["说吧，什么事？", "明天到"], ["您好，时间", "好的"])
    d = assign_roles(utts, regions, [0, 1])
    assert [u.role for u in utts if u.channel == 0] == ["agent", "agent"]
    ac = measure(silent_audio(14.0, 2), utts)
    why = speakers_unsure(None, d.sure, pack.settings)
    assert why == "review_roles"
    unsure = {f.rule: f for f in judge(pack, ac, regions, utts, True, "en", why).findings}
    sure = {f.rule: f for f in judge(pack, ac, regions, utts, True, "en", "").findings}
    g = unsure["greeting"]  # the agent greeted nobody: failed either way
    assert not g.passed and g.review and g.deduction == 0
    assert "which side is the agent is unsure" in g.detail
    assert not sure["greeting"].passed and sure["greeting"].deduction > 0
    assert speakers_unsure(None, True, pack.settings) == ""
    # a low-confidence separation names itself first
    low = Separation("campp", 2, 0.2, Reason("sep_two_voices"))
    assert speakers_unsure(low, False, pack.settings) == "review_separation"
    assert speakers_unsure(replace(low, confidence=0.9), False, pack.settings) == "review_roles"
    assert speakers_unsure(replace(low, confidence=0.9), True, pack.settings) == ""


@pytest.mark.parametrize("name", ["bad_call", "ringback_call"])
def test_rejudged_and_sampled_calls_keep_unsure_roles(name: str) -> None:
    from callaudit.results.rescore import rejudge
    from callaudit.review.sampling import low_confidence

    pack = load(None)
    result = stored(name)
    assert not low_confidence(result, pack.settings)
    why = result.roles_why
    assert why is not None and roles_sure(why)
    unsure_why = Detail("roles_unsure", {"side": "left", "cue_side": "right", "score": 1.0,
                                         "own": 0.0})
    unsure = replace(result, roles_why=replace(why, key="roles_unsure",
                                               args=unsure_why.to_json()["args"]))
    assert low_confidence(unsure, pack.settings)
    before = rejudge(pack, result, "en")
    after = rejudge(pack, unsure, "en")
    assert before.score < 100 and after.score == 100  # every failure here depends on who spoke
    failed = [f for f in after.findings if f.applicable and not f.passed]
    assert failed and all(f.review and f.deduction == 0 for f in failed)
    assert all("which side is the agent is unsure" in f.detail for f in failed)
    # the same failures, the same rules: only who is blamed changed
    assert {f.rule for f in failed} == {f.rule for f in before.findings
                                        if f.applicable and not f.passed}
