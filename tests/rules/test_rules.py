"""Every enabled rule of the default pack: a call where it passes, one where it fails, one where
it does not apply; timing rules at their thresholds; scoring; mono. Transcript level: no
audio, no model (tests/helpers/transcripts.py builds the call and runs metrics, rules and score)."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from callaudit.metrics.timing import compute
from callaudit.records import Finding, Region, Utterance
from callaudit.rules.context import Context
from callaudit.rules.judge import evaluate
from callaudit.rules.pack import RulePack
from callaudit.rules.score import score
from tests.helpers.transcripts import BASE, DEFAULT_PACK, Turn, audit, findings, replace, utterances, verdict

A, C = "agent", "customer"
GREETING = "您好，这里是客户服务中心，工号001，很高兴为您服务。"
CUSTOMER_ONLY: list[Turn] = [(C, "喂，有人吗，我想问一下我的订单。", {"at": 1.0})]
AGENT_SHORT: list[Turn] = [(A, "您好。", {"at": 1.0})]  # under 5 s of agent speech
# 无声电话: the customer never speaks; the agent greets twice and ends with the script
SILENT_SCRIPT: list[Turn] = [
    (A, GREETING, {"at": 1.0}), (A, "您好，请问能听到吗？", {"gap": 4.0}),
    (A, "抱歉，听不到您的声音，请您稍后再拨，再见。", {"gap": 4.0}),
]
NO_HOLD = BASE[:4] + BASE[6:]  # the 8 s hold (turns 4-5) cut out: no wait, no hold
COMPLAINT = (C, "你们怎么回事，太慢了，我要投诉！")
ABUSIVE = (C, "你们这帮混蛋！")
SUPERVISOR = (C, "我要找你们领导。")
JARGON_PACK = copy.deepcopy(DEFAULT_PACK)
JARGON_PACK.rule("jargon").categories["jargon"] = ["工单号", "二线"]


def without(turns: list[Turn], i: int, old: str, new: str = "") -> list[Turn]:
    assert old in turns[i][1], (old, turns[i][1])
    return replace(turns, i, turns[i][1].replace(old, new))


def add(turns: list[Turn], *extra: Turn, at: int | None = None) -> list[Turn]:
    pos = len(turns) if at is None else at
    return list(turns[:pos]) + list(extra) + list(turns[pos:])


def agents_at(turns: list[Turn], cpm: float) -> list[Turn]:
    """Every agent turn spoken at `cpm` syllables per minute."""
    return [replace(turns, i, cpm=cpm)[i] if t[0] == A else t for i, t in enumerate(turns)]


@dataclass
class Call:
    turns: list[Turn]
    kw: dict[str, Any] = field(default_factory=dict)

    def run(self) -> dict[str, Finding]:
        return findings(self.turns, **self.kw)


def call(turns: list[Turn], **kw: Any) -> Call:
    return Call(turns, kw)


LONG_HOLD = add(BASE[:5], (A, "还在为您查询，请您再稍等。", {"gap": 50.0}),
                (A, "不好意思，还需要一点时间，请您再稍等。", {"gap": 50.0}))  # 150 s with the return
REPEATS = [(A, "不好意思，听不清，请您再说一遍。"), (C, "我说订单。"),
           (A, "请您再说一遍。"), (C, "订单。"), (A, "信号不好，麻烦您再说一遍。"), (C, "订单。")]

# rule: (a call where it passes, one where it fails, one where it does not apply)
CASES: dict[str, tuple[Call, Call, Call]] = {
    # ---- timing and voice: driven by the utterance times
    "answer_delay": (call(BASE), call(replace(BASE, 0, at=5.0)), call(CUSTOMER_ONLY)),
    "speech_rate": (call(BASE), call(agents_at(BASE, 300)), call(AGENT_SHORT)),
    "dead_air": (call(BASE), call(add(BASE[:4], (A, "订单已经发货了。", {"gap": 35.0}))),
                 call([], duration=10.0)),  # nobody spoke
    "hold_reminder": (call(BASE), call(replace(BASE, 5, gap=70.0)), call(NO_HOLD)),
    "hold_apology": (
        call(add(LONG_HOLD, (A, "抱歉让您久等了，您的订单已经发货。", {"gap": 40.0}))),
        call(add(LONG_HOLD, (A, "感谢您的耐心等待，您的订单已经发货。", {"gap": 40.0}))),
        call(BASE)),  # the only hold is 8 s, under the 120 s that needs an apology
    "response_latency": (call(BASE), call(replace(BASE, 2, gap=7.0)), call(SILENT_SCRIPT)),
    "interruption": (call(BASE), call(replace(BASE, 2, gap=-1.5)), call(BASE, stereo=False)),
    "volume": (call(BASE), call(BASE, level=-52.0), call(CUSTOMER_ONLY)),
    # ---- opening
    "greeting": (call(BASE), call(without(BASE, 0, "您好，")), call(CUSTOMER_ONLY)),
    "self_id": (call(BASE), call(replace(BASE, 0, "您好，很高兴为您服务，请问怎么称呼您？")),
                call(CUSTOMER_ONLY)),
    "offer_help": (call(BASE), call(without(BASE, 0, "很高兴为您服务，")), call(CUSTOMER_ONLY)),
    "name_use": (call(BASE), call(without(without(BASE, 0, "请问怎么称呼您？"), 2, "王先生")),
                 call(SILENT_SCRIPT)),
    "casual_opener": (call(BASE), call(replace(BASE, 0, "喂，" + BASE[0][1])), call(CUSTOMER_ONLY)),
    # ---- during the call
    "hold_before": (call(BASE), call(replace(BASE, 4, "好的。")), call(NO_HOLD)),
    "hold_after": (call(BASE), call(without(BASE, 5, "感谢您的耐心等待，")), call(NO_HOLD)),
    "confirm_need": (call(BASE), call(without(BASE, 2, "跟您确认一下，")), call(SILENT_SCRIPT)),
    "confirm_understood": (call(BASE), call(without(BASE, 5, "我这样说您清楚吗？")),
                           call(SILENT_SCRIPT)),
    "verify_numbers": (call(BASE), call(replace(BASE, 2, "王先生您好，好的。")),
                       call(without(BASE, 1, "订单号是2024001。"))),
    "thanks_reply": (call(BASE), call(without(BASE, 9, "不客气，")), call(without(BASE, 8, "，谢谢"))),
    "empathy": (call(add(BASE, COMPLAINT, (A, "非常抱歉给您带来不便，我马上为您加急。"))),
                call(add(BASE, COMPLAINT, (A, "这个要等物流公司处理。"))), call(BASE)),
    "civil_warning": (call(add(BASE, ABUSIVE, (A, "先生，请您使用文明用语。"))),
                      call(add(BASE, ABUSIVE, (A, "好的，我记录一下。"))), call(BASE)),
    "retention": (call(add(BASE, SUPERVISOR, (A, "请问您具体遇到什么问题，由我来为您处理。"))),
                  call(add(BASE, SUPERVISOR, (A, "好的，我给您转接。"))), call(BASE)),
    "vague_words": (call(BASE), call(replace(BASE, 5, "感谢您的耐心等待，大概是明天到吧。")),
                    call(CUSTOMER_ONLY)),
    "absolute_promise": (call(BASE), call(replace(BASE, 5, "感谢您的耐心等待，我保证明天一定送到。")),
                         call(CUSTOMER_ONLY)),
    "jargon": (call(BASE, pack=JARGON_PACK),
               call(replace(BASE, 5, "感谢您的耐心等待，已经给您提了工单号，转二线处理。"),
                    pack=JARGON_PACK),
               call(BASE)),  # the default pack lists no terms: a center adds its own
    # ---- forbidden phrases and compliance
    "forbidden_phrase": (call(BASE), call(replace(BASE, 2, "这是规定，我有什么办法。")),
                         call(CUSTOMER_ONLY)),
    "ask_secret": (call(BASE), call(replace(BASE, 2, "请把您的银行卡密码告诉我，我帮您核实。")),
                   call(CUSTOMER_ONLY)),
    "abuse": (call(BASE), call(replace(BASE, 2, "你是不是傻，听不懂吗？")), call(CUSTOMER_ONLY)),
    # ---- closing and special calls
    "ask_more": (call(BASE), call(replace(BASE, 7, "好的。")), call(SILENT_SCRIPT)),
    "farewell": (call(BASE), call(replace(BASE, 9, "不客气。")), call(SILENT_SCRIPT)),
    "silent_call": (call(SILENT_SCRIPT), call(SILENT_SCRIPT[:2]), call(BASE)),
    "repeat_requests": (call(add(BASE, *REPEATS[:4], at=2)), call(add(BASE, *REPEATS, at=2)),
                        call(CUSTOMER_ONLY)),
}
# Rules that cannot take all three verdicts, each tested on its own below.
SPECIAL = {
    "call_length": "never n/a: every call has a length (test_call_length_never_deducts)",
    "polite_words": "a count without a limit never fails (test_polite_words_counts_never_fails)",
    "mandarin": "manual: always n/a (test_manual_rules_are_left_to_a_reviewer)",
    "leak_other": "manual: always n/a (test_manual_rules_are_left_to_a_reviewer)",
}


def test_every_enabled_rule_is_covered() -> None:
    enabled = {r.id for r in DEFAULT_PACK.enabled_rules}
    assert enabled == set(CASES) | set(SPECIAL)
    assert not set(CASES) & set(SPECIAL)
    assert {r.id for r in DEFAULT_PACK.rules if not r.enabled} == {"survey"}


@pytest.mark.parametrize("rule", list(CASES))
def test_rule_passes_fails_and_does_not_apply(rule: str) -> None:
    good, bad, na = CASES[rule]
    want = DEFAULT_PACK.rule(rule)
    for name, case, expected in (("pass", good, "pass"), ("fail", bad, "fail"), ("n/a", na, "n/a")):
        f = case.run()[rule]
        assert verdict(f) == expected, (name, f.detail, f.evidence)
        assert f.deduction == (want.deduction if expected == "fail" else 0)
        assert f.section == want.section and f.message == want.text("en", DEFAULT_PACK.settings)
        if expected == "fail":
            assert f.evidence, "a failure shows what it is based on"
            assert all(e.end >= e.start >= 0 for e in f.evidence)
        if expected == "n/a":
            assert f.passed and not f.evidence and f.detail  # says why it does not apply


def test_the_base_call_is_clean() -> None:
    f, s, _ = audit(BASE)
    assert s.score == 100 and s.passed and not s.fatal
    assert not [r for r, x in f.items() if verdict(x) == "fail"]


# ---- timing rules at their thresholds (explicit start/end times) ---------------------------
def opening(start: float) -> list[Turn]:
    return [(A, start, start + 6.0, GREETING), (C, start + 6.5, start + 10.0, "我想查一下我的订单。")]


@pytest.mark.parametrize(("start", "rings", "connect", "want"), [
    (1.0, None, 0.0, "pass"), (3.0, None, 0.0, "pass"), (3.1, None, 0.0, "fail"),
    (1.0, 3, 0.0, "pass"), (1.0, 4, 0.0, "fail"),  # ringback recorded: at most 3 rings
    (12.0, 2, 10.0, "pass"), (13.5, 2, 10.0, "fail"),  # delay counts from the last ring
])
def test_answer_delay(start: float, rings: int | None, connect: float, want: str) -> None:
    f = findings(opening(start), rings=rings, connect=connect)["answer_delay"]
    assert verdict(f) == want, f.detail


@pytest.mark.parametrize(("cpm", "want"), [(150, "fail"), (179, "fail"), (181, "pass"), (200, "pass"),
                                           (219, "pass"), (221, "fail"), (300, "fail")])
def test_speech_rate_band(cpm: float, want: str) -> None:
    f, _, m = audit(agents_at(BASE, cpm))
    assert m.agent_speech_rate_cpm == pytest.approx(cpm, rel=1e-3)
    assert verdict(f["speech_rate"]) == want


def after_agent(text: str, gap: float, next_role: str = A) -> list[Turn]:
    """Opening, then the agent says `text` (ending at 17.0), then `gap` s of silence."""
    then = "好的，您的订单已经发货了。" if next_role == A else "我找到了，就是这个。"
    return opening(1.0) + [(A, 11.5, 17.0, text), (next_role, 17.0 + gap, 21.0 + gap, then)]


HOLD = "好的，请您稍等，我为您查询一下。"


@pytest.mark.parametrize(("text", "gap", "next_role", "want"), [
    ("好的。", 30.0, A, "pass"),  # a silence must be over 30 s
    ("好的。", 30.5, A, "fail"),
    (HOLD, 45.0, A, "pass"),  # an announced hold is not dead air ...
    (HOLD, 61.0, A, "fail"),  # ... until it runs past the 60 s reminder interval
    # NORMS: "silence (neither side speaking) > 30 s is a violation", whoever is silent
    ("请问您的订单号是多少？", 31.0, C, "fail"),
])
def test_dead_air(text: str, gap: float, next_role: str, want: str) -> None:
    f = findings(after_agent(text, gap, next_role))["dead_air"]
    assert verdict(f) == want, f.detail


@pytest.mark.parametrize(("text", "gap", "next_role", "want"), [
    ("好的。", 4.9, A, "n/a"),  # under hold_min_s: needs nothing
    ("好的。", 5.0, A, "fail"),
    ("好的。", 20.0, A, "fail"),
    (HOLD, 20.0, A, "pass"),
    ("请稍等片刻。", 20.0, A, "pass"),
    ("您方便稍等一下吗？我帮您查一下。", 20.0, A, "pass"),
    ("请问您的订单号是多少？", 20.0, C, "n/a"),  # the caller took the time, not the agent
])
def test_hold_before(text: str, gap: float, next_role: str, want: str) -> None:
    f = findings(after_agent(text, gap, next_role))["hold_before"]
    assert verdict(f) == want, f.detail


def reminders(*gaps: float, back: str = "感谢您的耐心等待，您的订单已经发货。") -> list[Turn]:
    """A hold announced at 17.0, agent reminders after each gap but the last, then return."""
    turns = opening(1.0) + [(A, 11.5, 17.0, HOLD)]
    t = 17.0
    for g in gaps[:-1]:
        turns.append((A, t + g, t + g + 3.0, "还在为您查询，请您再稍等。"))
        t += g + 3.0
    return turns + [(A, t + gaps[-1], t + gaps[-1] + 5.0, back)]


@pytest.mark.parametrize(("gaps", "want"), [
    ((59.0,), "pass"), ((61.0,), "fail"), ((50.0, 50.0, 50.0), "pass"), ((50.0, 65.0), "fail"),
])
def test_hold_reminder(gaps: tuple[float, ...], want: str) -> None:
    f, _, m = audit(reminders(*gaps))
    assert len(m.holds) == 1  # reminders continue the same hold
    assert verdict(f["hold_reminder"]) == want, f["hold_reminder"].detail
    assert verdict(f["hold_after"]) == "pass"


@pytest.mark.parametrize(("gaps", "back", "want"), [
    ((50.0, 50.0), "感谢您的耐心等待。", "n/a"),  # 103 s: under the 120 s apology limit
    ((50.0, 50.0, 50.0), "抱歉让您久等了，您的订单已经发货。", "pass"),
    ((50.0, 50.0, 50.0), "非常抱歉，感谢您的耐心等待。", "pass"),
    ((50.0, 50.0, 50.0), "感谢您的耐心等待，您的订单已经发货。", "fail"),
])
def test_hold_apology(gaps: tuple[float, ...], back: str, want: str) -> None:
    f = findings(reminders(*gaps, back=back))
    assert verdict(f["hold_apology"]) == want, f["hold_apology"].detail
    assert verdict(f["hold_reminder"]) == "pass"


@pytest.mark.parametrize(("gap", "want"), [(0.6, "pass"), (5.0, "pass"), (5.5, "fail"), (9.0, "fail")])
def test_response_latency(gap: float, want: str) -> None:
    turns = opening(1.0) + [(A, 11.0 + gap, 16.0 + gap, "好的，我来为您查询订单。")]
    assert verdict(findings(turns)["response_latency"]) == want


def test_response_latency_excludes_an_announced_hold() -> None:
    turns = opening(1.0) + [(A, 11.5, 15.0, HOLD), (C, 15.5, 16.0, "好的。"),
                            (A, 36.0, 40.0, "感谢您的耐心等待，订单已经发货了。")]
    assert verdict(findings(turns)["response_latency"]) == "pass"


CUSTOMER_TALKS = [(A, 1.0, 7.0, GREETING),
                  (C, 7.5, 15.0, "我上周买的东西到现在还没有收到，物流也一直没有更新。")]


@pytest.mark.parametrize(("agent", "want"), [
    ((A, 14.1, 18.0, "好的，我来为您查询。"), "pass"),  # 0.9 s overlap: under the 1 s limit
    ((A, 14.0, 18.0, "好的，我来为您查询。"), "fail"),  # 1.0 s
    ((A, 10.0, 18.0, "您先别急，我来为您查询。"), "fail"),
    ((A, 10.0, 10.8, "好的，我来查询。"), "pass"),  # shorter than backchannel_max_s
    ((A, 10.0, 11.5, "嗯。"), "pass"),  # backchannel words, any length
    ((A, 10.0, 11.5, "嗯，好的。"), "pass"),
    ((A, 10.0, 11.5, "对对对。"), "pass"),
    ((A, 10.0, 11.5, "好的好的。"), "pass"),
    ((A, 10.0, 11.5, "对的。"), "pass"),
])
def test_interruption(agent: Turn, want: str) -> None:
    f = findings(CUSTOMER_TALKS + [agent])["interruption"]
    assert verdict(f) == want, f.detail


def test_caller_talking_over_the_agent_is_not_an_interruption() -> None:
    turns = [(A, 1.0, 9.0, GREETING + "请问怎么称呼您？"), (C, 6.0, 9.5, "我姓王，我想查订单。")]
    assert verdict(findings(turns)["interruption"]) == "pass"


@pytest.mark.parametrize(("level", "clipping", "want"), [
    (-20.0, 0.0, "pass"), (-40.0, 0.0, "pass"), (-41.0, 0.0, "fail"), (-8.0, 0.0, "pass"),
    (-5.0, 0.0, "fail"), (-20.0, 0.01, "pass"), (-20.0, 0.05, "fail"),
])
def test_volume_band_and_clipping(level: float, clipping: float, want: str) -> None:
    f = findings(BASE, level=level, clipping=clipping)["volume"]
    assert verdict(f) == want, f.detail
    if want == "fail" and clipping == 0.0:  # the utterances out of band are the evidence
        assert f.evidence and all(e.role == A for e in f.evidence)


def test_volume_on_a_silent_recording() -> None:
    # The helper's audio path: metrics.measure on zeros finds the agent at -100 dBFS.
    f, _, m = audit(BASE, audio=True)
    assert m.agent_level_dbfs == -100.0 and m.agent_clipping_share == 0.0
    assert verdict(f["volume"]) == "fail"
    assert {r: verdict(x) for r, x in f.items() if r != "volume"} == \
        {r: verdict(x) for r, x in audit(BASE)[0].items() if r != "volume"}


# ---- rules that cannot take every verdict ------------------------------------------------
def test_call_length_never_deducts() -> None:
    f, s, _ = audit(BASE, duration=300.0)
    assert verdict(f["call_length"]) == "pass"
    f, s, _ = audit(BASE, duration=301.0)
    assert verdict(f["call_length"]) == "fail" and f["call_length"].severity == "info"
    assert f["call_length"].deduction == 0 and s.score == 100 and s.passed
    # never n/a: even a recording where nobody spoke has a length
    assert verdict(findings([], duration=10.0)["call_length"]) == "pass"


def test_polite_words_counts_never_fails() -> None:
    f = findings(BASE)["polite_words"]
    assert verdict(f) == "pass" and f.deduction == 0 and f.detail.startswith("7 times")
    # no `max_count`: even an agent who never says a polite word does not fail it (info)
    f = findings([(A, "喂，说吧，什么事。", {"at": 1.0}), (C, "我想查订单。")])["polite_words"]
    assert verdict(f) == "pass" and f.detail.startswith("0 times")
    assert verdict(findings(CUSTOMER_ONLY)["polite_words"]) == "n/a"


@pytest.mark.parametrize("rule", ["mandarin", "leak_other"])
def test_manual_rules_are_left_to_a_reviewer(rule: str) -> None:
    # check: manual: never measured, so never passed or failed, whatever was said
    for turns in (BASE, CUSTOMER_ONLY, add(BASE, (A, "另一位客户张三的电话是13812345678。"))):
        f = findings(turns)[rule]
        assert verdict(f) == "n/a" and f.deduction == 0 and "human" in f.detail


def test_disabled_survey_rule_is_absent() -> None:
    assert "survey" not in findings(BASE)


# ---- behaviour the norms ask for (regressions) --------------------------------------------
def test_hold_acknowledged_by_the_caller_is_still_a_hold() -> None:
    # 请您稍等 -> 好的 -> 40 s of checking -> thanks: the usual hold; the caller's 好的
    # between the announcement and the silence must not turn it into an unannounced wait.
    turns = opening(1.0) + [(A, 11.5, 15.0, HOLD), (C, 15.5, 16.0, "好的。"),
                            (A, 56.0, 60.0, "感谢您的耐心等待，订单已经发货了。")]
    f, _, m = audit(turns)
    assert [h.kind for h in m.waits] == ["hold"]
    for rule in ("hold_before", "hold_after", "dead_air", "response_latency", "hold_reminder"):
        assert verdict(f[rule]) == "pass", (rule, f[rule].detail)


def test_repeat_requests_count_requests_not_phrases() -> None:
    # "At most twice": two requests pass although the first says 听不清 and 请您再说一遍
    f = findings(add(BASE, *REPEATS[:4], at=2))["repeat_requests"]
    assert verdict(f) == "pass" and "2 turns" in f.detail
    # a request the VAD split in two utterances is still one request
    split = [(A, "不好意思，听不清，"), (A, "请您再说一遍。", {"gap": 0.5}), (C, "订单。")]
    f = findings(add(BASE, *split, *REPEATS[2:4], at=2))["repeat_requests"]
    assert verdict(f) == "pass", f.detail
    f = findings(add(BASE, *REPEATS, at=2))["repeat_requests"]
    assert verdict(f) == "fail" and "3 turns" in f.detail and f.deduction == 0


@pytest.mark.parametrize(("said", "want"), [
    ("我是2023年买的，花了1500块，订单号是2024001。", "pass"),  # only the order number is read back
    ("我的手机号是138 1234 5678。", "fail"),
    ("我的手机号是一三八一二三四五六七八。", "fail"),
    ("我是二零二三年买的。", "n/a"),
])
def test_verify_numbers_is_about_numbers_to_read_back(said: str, want: str) -> None:
    f = findings(replace(BASE, 1, said))["verify_numbers"]
    assert verdict(f) == want, f.detail


def test_readback_in_chinese_digits() -> None:
    turns = replace(replace(BASE, 1, "我的手机号是13812345678。"), 2,
                    "王先生，跟您确认一下，手机号是一三八一二三四五六七八，对吗？")
    assert verdict(findings(turns)["verify_numbers"]) == "pass"


def test_thanks_reply_needs_an_answer_to_each_thanks() -> None:
    twice = add(BASE, (C, "好的，谢谢你。"), (A, "好的。"), at=4)
    f = findings(twice)["thanks_reply"]
    assert verdict(f) == "fail" and len(f.evidence) == 1 and "谢谢" in f.evidence[0].text


def test_empathy_must_come_within_30_s() -> None:
    late = add(BASE, COMPLAINT, (A, "这个要等物流处理。"), (A, "非常抱歉给您带来不便。", {"gap": 31.0}))
    assert verdict(findings(late)["empathy"]) == "fail"


def test_greeting_must_be_in_the_first_15_s_of_agent_speech() -> None:
    late = [(A, "这里是客户服务中心，工号001。", {"at": 1.0}), (C, "喂？"),
            (A, "您好，请问有什么可以帮您？", {"at": 17.0})]
    assert verdict(findings(late)["greeting"]) == "fail"
    assert verdict(findings(replace(late, 2, at=15.5))["greeting"]) == "pass"


def test_failed_findings_carry_evidence_with_time_role_and_words() -> None:
    f = findings(replace(BASE, 2, "这是规定，我有什么办法。"))
    ev = f["forbidden_phrase"].evidence
    assert len(ev) == 1 and ev[0].role == A and ev[0].category == "shirking"
    assert ev[0].match == "这是规定，我有什么办法" and (ev[0].start, ev[0].end) == (18.7, 21.7)
    f = findings(without(BASE, 0, "您好，"))
    assert f["greeting"].evidence and f["greeting"].evidence[0].text.startswith("这里是")


def test_every_occurrence_of_a_forbidden_phrase_is_evidence() -> None:
    turns = add(replace(BASE, 2, "我不知道。"), (A, "真烦人，我也没办法。"))
    ev = findings(turns)["forbidden_phrase"].evidence
    assert [(e.match, e.category) for e in ev] == [
        ("我不知道", "shirking"), ("真烦人", "complaining"), ("我也没办法", "shirking")]


def test_the_customer_may_say_what_the_agent_must_not() -> None:
    turns = replace(BASE, 1, "你好，我也没办法，你是不是傻，你们真烦人，我的密码是多少来着？")
    f = findings(turns)
    for rule in ("forbidden_phrase", "abuse", "ask_secret"):
        assert verdict(f[rule]) == "pass"


# ---- scoring -----------------------------------------------------------------------------
def test_score_is_100_minus_deductions_and_sections_add_up() -> None:
    turns = replace(replace(BASE, 2, "这是规定，我有什么办法。"), 9, "不客气。")
    f, s, _ = audit(turns)
    failed = {r: x.deduction for r, x in f.items() if verdict(x) == "fail"}
    # turn 2 also carried the read-back and the confirmation
    assert failed == {"forbidden_phrase": 15, "farewell": 10, "verify_numbers": 3, "confirm_need": 2}
    assert s.score == 100 - 30 and not s.passed and not s.fatal  # 70 < pass mark 80
    assert s.sections == {"professional": 3, "communication": 25, "care": 2, "resolution": 0}
    assert sum(s.sections.values()) == sum(x.deduction for x in f.values())


def test_not_applicable_and_passed_findings_deduct_nothing() -> None:
    for good, _bad, na in CASES.values():
        for case in (good, na):
            assert all(x.deduction == 0 for x in case.run().values() if verdict(x) != "fail")


@pytest.mark.parametrize(("rule", "text"), [
    ("ask_secret", "请把您的银行卡密码告诉我，我帮您核实。"), ("abuse", "你是不是傻，听不懂吗？"),
])
def test_fatal_fails_the_call_even_at_a_high_score(rule: str, text: str) -> None:
    pack = copy.deepcopy(DEFAULT_PACK)
    pack.rule(rule).deduction = 1  # so the score stays high
    turns = add(BASE, (A, text), at=3)
    f, s, _ = audit(turns, pack=pack)
    assert verdict(f[rule]) == "fail" and f[rule].severity == "fatal"
    assert s.score == 99 and s.score >= pack.settings.pass_mark
    assert s.fatal and not s.passed
    f, s, _ = audit(turns)  # the default deduction of 100 empties the score too
    assert s.score == 0 and s.fatal and not s.passed


def test_pass_mark_comes_from_the_settings() -> None:
    turns = replace(BASE, 9, "不客气。")  # farewell: -10 -> 90
    pack = copy.deepcopy(DEFAULT_PACK)
    for mark, passed in ((80, True), (90, True), (90.5, False), (95, False)):
        pack.settings = dataclasses.replace(pack.settings, pass_mark=mark)
        s = audit(turns, pack=pack)[1]
        assert s.score == 90 and s.passed is passed, mark


def test_score_floors_at_zero_but_sections_keep_every_point() -> None:
    turns = add(replace(BASE, 2, "这是规定，我有什么办法，请把密码告诉我。"), (A, "你是不是傻？"))
    f, s, _ = audit(turns)
    lost = sum(x.deduction for x in f.values())
    assert lost > 200 and s.score == 0 and sum(s.sections.values()) == lost


def test_score_of_hand_made_findings() -> None:
    def fd(rule: str, section: str, deduction: float, severity: str = "minor") -> Finding:
        return Finding(rule, section, severity, True, deduction == 0, deduction, "")  # type: ignore[arg-type]

    s = score([fd("a", "care", 2.5), fd("b", "care", 0), fd("c", "professional", 5)],
              ["professional", "communication", "care", "resolution"], 80)
    assert s.score == 92.5 and s.passed and not s.fatal
    assert s.sections == {"professional": 5, "communication": 0, "care": 2.5, "resolution": 0}
    na = Finding("d", "care", "fatal", False, True, 0, "")
    assert not score([na], ["care"], 80).fatal  # a fatal rule that did not apply


# ---- mono --------------------------------------------------------------------------------
def mono_context(turns: list[Turn], pack: RulePack = DEFAULT_PACK) -> list[Finding]:
    utts = utterances(turns, stereo=False)
    assert {u.role for u in utts} == {"unknown"}
    regions = [Region(0, u.start, u.end, u.level_dbfs) for u in utts]
    from callaudit.metrics.acoustics import Acoustics

    m = compute(Acoustics(utts[-1].end + 2, None, 0.0, None, None), regions, utts, False,
                pack.settings)
    return evaluate(pack, Context(utts, m, pack.settings, mono=True, lang="en"))


def test_mono_unknown_speaker_is_never_fatal() -> None:
    turns = replace(BASE, 2, "请把您的银行卡密码告诉我。")
    f = {x.rule: x for x in mono_context(turns)}
    sec = f["ask_secret"]
    assert verdict(sec) == "fail" and sec.severity == "major" and "needs review" in sec.detail
    assert sec.deduction == 0  # not blamed on the agent: a reviewer decides
    s = score(list(f.values()), list(DEFAULT_PACK.sections), 80)
    assert not s.fatal
    f, s, _ = audit(turns, stereo=False)  # the same through the helper
    assert not s.fatal and f["ask_secret"].severity == "major"
    f, s, _ = audit(turns)  # the same words on the agent's channel of a stereo call: fatal
    assert f["ask_secret"].severity == "fatal" and s.fatal and not s.passed


def test_mono_abuse_is_downgraded_too_but_an_agent_labelled_utterance_is_not() -> None:
    f, s, _ = audit(add(BASE, (A, "你是不是傻？")), stereo=False)
    assert f["abuse"].severity == "major" and not s.fatal
    # on mono, roles.apply_mono labels an utterance `agent` from its words; then it is fatal
    turns = add(BASE, (A, "你是不是傻？", {"mono_role": "agent"}))
    f, s, _ = audit(turns, stereo=False)
    assert f["abuse"].severity == "fatal" and s.fatal


def test_mono_has_no_interruptions_and_blames_no_unknown_speaker() -> None:
    f, score, m = audit(replace(BASE, 2, gap=-1.5), stereo=False)
    assert m.interruptions is None and verdict(f["interruption"]) == "n/a"
    # the script was said by someone unknown: a required phrase is neither credited (it may be
    # the caller's) nor blamed: needs review, no points ...
    assert f["ask_more"].review and f["ask_more"].deduction == 0
    assert f["ask_more"].review_id == "review_unknown_speaker"
    assert verdict(f["thanks_reply"]) == "pass"  # a reply rule: whoever thanked was answered
    assert score.score == 100.0
    # ... but rules that need to know the agent spoke do not apply
    assert verdict(f["greeting"]) == "n/a" and verdict(f["answer_delay"]) == "n/a"


def test_a_callers_greeting_heard_as_nin_hao_does_not_credit_the_agent_on_mono() -> None:
    """Issue 20 (bench_06, mono, one voice): the agent opened 喂，什么问题？ and the caller's
    你好 came back as 您好，我家的宽带…; labelled from its words it was the agent's, and the
    agent was credited with a greeting they never said. 您好 alone does not make an agent."""
    from callaudit.speech.roles import apply_mono

    said = ["喂，什么问题？", "您好，我家的宽带从昨天开始就上不了网了。", "好的，请您稍等，我为您查询一下。",
            "您好，这里是客户服务中心，工号001，很高兴为您服务。"]
    utts = [Utterance(0, 5.0 * k, 5.0 * k + 4, t) for k, t in enumerate(said)]
    apply_mono(utts)
    assert [u.role for u in utts] == ["agent", "unknown", "agent", "agent"]
    f, _, _ = audit([("agent", said[0], {"at": 1.0, "mono_role": "agent"}),
                     ("customer", said[1], {"mono_role": utts[1].role}),
                     *[t for t in BASE[2:]]], stereo=False)
    assert verdict(f["greeting"]) != "pass" and f["greeting"].deduction == 0
