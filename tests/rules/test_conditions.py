"""Rules written as conditions (rules/conditions.py, kinds/condition.py), per-rule metric
parameters, and the center pack of examples/center.yaml: what a QA lead writes without Python."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from callaudit.errors import RulePackError
from callaudit.metrics.acoustics import Acoustics
from callaudit.records import Region, Utterance
from callaudit.rules.examples import BUCKETS, examples_of, parse
from callaudit.rules.judge import judge
from callaudit.rules.pack import RulePack, load
from callaudit.rules.selftest import check_examples, run, verdict
from tests.helpers import ROOT

CENTER = ROOT / "examples" / "center.yaml"


@pytest.fixture(scope="module")
def center() -> RulePack:
    return load(str(CENTER))


def test_the_center_pack_proves_every_rule_by_its_examples(center: RulePack) -> None:
    assert check_examples(center) == []
    for rid in ("refund_time", "early_dont_know", "speech_rate", "opening_pace", "repeated_apology"):
        ex = center.rule(rid).examples
        assert ex.get("pass") and ex.get("fail"), rid


def test_a_rule_of_its_own_band_leaves_the_default_alone(center: RulePack) -> None:
    """The sales line's 200-240 band is its speech_rate rule's; the pack settings (every other
    rule, the default's 180-220) are unchanged, and the message cites the rule's own band."""
    rule = center.rule("speech_rate")
    assert rule.own_settings == {"speech_rate_min_cpm": 200, "speech_rate_max_cpm": 240}
    assert center.settings.speech_rate_max_cpm == 220
    assert "200–240" in rule.text("zh", center.settings)
    line = "A (cpm=230): 您好，这里是幸福银行信用卡中心，我是客户经理小王，今天来电向您介绍分期活动。"
    assert verdict(run(center, "speech_rate", line)) == "pass"
    assert verdict(run(load(), "speech_rate", line)) == "fail"


def _write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "pack.yaml"
    p.write_text(text, encoding="utf-8")
    return str(p)


RULE = """rules:
  - id: r
    section: care
    severity: minor
    deduction: 1
    message: {{zh: 测试, en: test}}
    check: {check}
{body}
"""


def _problems(tmp_path: Path, body: str, check: str = "condition") -> str:
    with pytest.raises(RulePackError) as e:
        load(_write(tmp_path, RULE.format(check=check, body=body)))
    return str(e.value)


@pytest.mark.parametrize(("body", "expected"), [
    ("    forbid: {sayd: {phrases: [对不起]}}", "did you mean `said`?"),
    ("    forbid: {said: {phrases: [对不起], whoo: agent}}", "did you mean `who`?"),
    ("    forbid: {said: {who: agent}}", "needs a matcher"),
    ("    forbid: {said: {phrases: [对不起], repeat: {times: 1, within: 5}}}", "repeat must be"),
    ("    forbid: {said: {phrases: [对不起], in: {first_share: 2}}}", "share of the call in (0, 1]"),
    ("    forbid: {said: {regex: '(a)\\1'}}", "forbid.said.regex"),
    ("    require: {said: {phrases: [好]}}\n    forbid: {said: {phrases: [不]}}", "one of `require`"),
    ("    require: {said: {phrases: [好]}}\n    window: {after: 2}", "`window` goes with `each`"),
    ("    each: {said: {phrases: [退款]}}\n    require: {said: {phrases: [好]}}\n"
     "    window: {afterr: 2}", "did you mean `after`?"),
    ("    require: {metric: {name: speech_rate, above: 3}}", "did you mean `agent_speech_rate_cpm`?"),
    ("    require: {said: {phrases: [好], within: {utterances: 2}}}", "within goes with after"),
])
def test_a_condition_problem_is_named_with_its_line_and_the_nearest_key(
        tmp_path: Path, body: str, expected: str) -> None:
    msg = _problems(tmp_path, body)
    # the line of the condition that is wrong (the rule's, 2, for what is wrong with the rule)
    line = next(ln for ln in msg.splitlines() if expected in ln)
    at = 2 if "forbid: {said: {phrases: [不]}}" in body or "window" in body else 8
    assert "pack.yaml" in msg and f"line {at}: rule 'r'" in line, msg


@pytest.mark.parametrize(("body", "expected"), [
    ("    metric: speech_rate\n    params: {max_cmp: 240}", "did you mean `max_cpm`?"),
    ("    metric: speech_rate\n    params: {max_cpm: fast}", "params.max_cpm must be a number"),
    ("    metric: speech_rate\n    params: {min_cpm: 250, max_cpm: 240}", "must not exceed"),
    ("    metric: speeech_rate", "did you mean `speech_rate`?"),
    ("    metric: dead_air\n    where: {first_s: 30}", "judged over the whole call"),
    ("    metric: volume\n    phrases: [您好]", "field `phrases` is not read by a `metric` rule"),
])
def test_a_metric_rule_problem_is_named(tmp_path: Path, body: str, expected: str) -> None:
    msg = _problems(tmp_path, body, check="metric")
    assert "line 2: rule 'r'" in msg and expected in msg, msg


def test_an_unknown_field_suggests_the_nearest(tmp_path: Path) -> None:
    assert "did you mean `phrases`?" in _problems(tmp_path, "    phrase: [您好]", check="require")


# --- the language, one operator at a time -------------------------------------------------
def _pack(rule: dict[str, Any]) -> RulePack:
    base = load()
    r = dataclasses.replace(base.rules[0], id="t", check="condition", examples={}, where={},
                            when={}, **rule)
    return dataclasses.replace(base, rules=[r])


def _verdict(rule: dict[str, Any], lines: list[str]) -> str:
    return verdict(run(_pack(rule), "t", lines))


CALL = ["A 0: 您好，请问有什么可以帮您？", "C: 我的订单号是一二三四五六七。", "A: 好的，我帮您查一下。",
        "C 20: 好。", "A: 查到了，明天送达，还有别的问题吗？", "C: 没有了，谢谢。"]


@pytest.mark.parametrize(("rule", "expected"), [
    ({"require": {"said": {"who": "agent", "phrases": ["查一下"], "nth": 1}}}, "pass"),
    ({"require": {"said": {"who": "agent", "phrases": ["查一下"], "nth": 2}}}, "fail"),
    ({"require": {"said": {"who": "agent", "words": ["明天送达"]}}}, "pass"),
    ({"require": {"said": {"who": "agent", "regex": "明天|后天", "exclude": "别的问题"}}}, "fail"),
    ({"require": {"said": {"who": "customer", "number": {"min_digits": 7}}}}, "pass"),
    ({"require": {"said": {"who": "customer", "number": {"min_digits": 8}}}}, "fail"),
    ({"require": {"said": {"who": "agent", "like": ["您好请问有什么能帮您"]}}}, "pass"),
    ({"require": {"said": {"who": "agent", "like": ["感谢您的来电再见"]}}}, "fail"),
    ({"forbid": {"said": {"who": "agent", "phrases": ["查一下"],
                          "after": {"said": {"who": "customer", "number": {"min_digits": 4}}},
                          "within": {"utterances": 1}}}}, "fail"),
    ({"forbid": {"said": {"who": "agent", "phrases": ["查一下"],
                          "before": {"said": {"who": "customer", "number": {"min_digits": 4}}},
                          "within": {"utterances": 1}}}}, "pass"),
    ({"forbid": {"said": {"who": "agent", "phrases": ["别的问题"], "in": {"part": "opening"}}}}, "pass"),
    ({"forbid": {"said": {"who": "agent", "phrases": ["您好"], "in": {"first_s": 1}}}}, "fail"),
    ({"forbid": {"said": {"who": "agent", "phrases": ["别的问题"], "in": {"last_share": 0.3}}}}, "fail"),
    ({"forbid": {"silence": {"after": "customer", "before": "agent", "over_s": 5}}}, "pass"),
    ({"forbid": {"silence": {"after": "agent", "before": "customer", "over_s": 5}}}, "fail"),
    ({"require": {"metric": {"name": "duration_s", "above": 60}}}, "fail"),
    ({"require": {"not": {"metric": {"name": "duration_s", "above": 60}}}}, "pass"),
    ({"require": {"all": [{"said": {"who": "agent", "words": ["您好"]}},
                          {"said": {"who": "agent", "words": ["再见"]}}]}}, "fail"),
    ({"require": {"any": [{"said": {"who": "agent", "words": ["您好"]}},
                          {"said": {"who": "agent", "words": ["再见"]}}]}}, "pass"),
    ({"applies": {"said": {"who": "customer", "words": ["投诉"]}},
      "require": {"said": {"who": "agent", "words": ["再见"]}}}, "n/a"),
    ({"each": {"said": {"who": "customer", "words": ["好。"]}}, "window": {"after_s": 1},
      "require": {"said": {"who": "agent", "words": ["查到了"]}}}, "pass"),
])
def test_each_operator_finds_what_it_says(rule: dict[str, Any], expected: str) -> None:
    assert _verdict(rule, CALL) == expected


def test_a_rate_matcher_reads_each_utterance() -> None:
    lines = ["A (cpm=320): 您好，这里是客户服务中心，工号一二三，很高兴为您服务。", "C: 你好。"]
    assert _verdict({"forbid": {"said": {"who": "agent", "rate": {"above": 280}}}}, lines) == "fail"
    assert _verdict({"forbid": {"said": {"who": "agent", "rate": {"above": 350}}}}, lines) == "pass"


def test_a_required_condition_due_where_nothing_was_heard_goes_to_a_person() -> None:
    """The refund time was due right where the agent spoke and no word was heard: the
    recognizer may have lost it, so the failure is for review and costs nothing."""
    pack = load(str(CENTER))
    rule = dataclasses.replace(pack.rule("refund_time"), enabled=True)
    alone = dataclasses.replace(pack, rules=[rule])
    ex = parse(["C: 我想申请退款。", "A: 好的。", "C 10: 嗯。"])
    utts = ex.utterances
    regions = [Region(u.channel, u.start, u.end, u.level_dbfs) for u in utts]
    ac = Acoustics(14.0, None, 0.0, -20.0, 0.0)
    plain = judge(alone, ac, regions, utts, True).findings[0]
    assert not plain.passed and plain.deduction == 5 and not plain.review_id
    lost = Utterance(0, 4.0, 6.0, "", "agent")
    doubted = judge(alone, ac, regions, utts, True, unheard=[lost]).findings[0]
    assert not doubted.passed and doubted.deduction == 0 and doubted.review_id == "review_unheard"


def test_examples_buckets_cover_the_new_rules(center: RulePack) -> None:
    new = [r for r in center.rules if r.check == "condition"]
    assert {r.id for r in new} == {"refund_time", "early_dont_know", "repeated_apology"}
    for r in new:
        for bucket, _, ex in examples_of(r.examples):
            assert verdict(run(center, r.id, ex)) == BUCKETS[bucket]


def test_an_unknown_setting_suggests_the_nearest_and_problems_come_in_line_order(tmp_path: Path) -> None:
    text = ("settings:\n  speech_rate_max_cmp: 230\nrules:\n  - id: speech_rate\n"
            "    params: {max_cmp: 240}\n  - id: greeting\n    chek: require\n")
    with pytest.raises(RulePackError) as e:
        load(_write(tmp_path, text))
    lines = e.value.errors
    assert "did you mean `speech_rate_max_cpm`?" in lines[0] and "line 2:" in lines[0]
    assert "did you mean `max_cpm`?" in lines[1] and "did you mean `check`?" in lines[2], lines


# --- trust: a condition rule never blames the agent for a mishearing or the caller ---------
def _judge(rule: dict[str, Any], lines: list[str], conf: dict[int, float] | None = None,
           unheard: list[Utterance] | None = None, stereo: bool = True,
           nuclei: int | None = None) -> Any:
    """The finding of a condition rule on scripted lines; `conf`: line index -> the
    recognizer's confidence of that utterance; `unheard`: speech with no words heard."""
    pack = _pack({"severity": "major", "deduction": 5.0, **rule})
    ex = parse({"lines": lines, "stereo": stereo})
    utts = [dataclasses.replace(u, confidence=(conf or {}).get(i, 0.95))
            for i, u in enumerate(ex.utterances)]
    regions = [Region(u.channel, u.start, u.end, u.level_dbfs) for u in utts + (unheard or [])]
    end = max(u.end for u in utts) + 2
    ac = Acoustics(end, None, 0.0, -20.0, 0.0, agent_nuclei=nuclei)
    return judge(pack, ac, regions, utts, stereo, unheard=unheard).findings[0]


COMPLAINT = ["C: 我要投诉你们。", "A: 这个我不知道。", "C: 你们怎么回事？"]


def test_the_caller_s_confident_words_do_not_vouch_for_a_misheard_agent_phrase() -> None:
    rule = {"forbid": {"all": [{"said": {"who": "customer", "words": ["投诉"]}},
                               {"said": {"who": "agent", "phrases": ["[不]知道"]}}]}}
    sure = _judge(rule, COMPLAINT)
    assert not sure.passed and sure.deduction == 5 and "不知道" in sure.detail
    unsure = _judge(rule, COMPLAINT, conf={1: 0.3})
    assert not unsure.passed and unsure.deduction == 0 and unsure.review_id == "review_low_confidence"


def test_a_not_turns_the_doubt_round() -> None:
    never = {"require": {"not": {"said": {"who": "agent", "phrases": ["[不]知道"]}}}}
    f = _judge(never, COMPLAINT, conf={1: 0.3})
    assert f.review_id == "review_low_confidence" and f.deduction == 0
    assert [e.match for e in f.evidence] == ["不知道"]
    assert _judge(never, COMPLAINT).deduction == 5
    # "after a complaint, an apology": the apology may be in speech nobody could hear
    sorry = {"forbid": {"all": [{"said": {"who": "customer", "words": ["投诉"]}},
                                {"not": {"said": {"who": "agent", "phrases": ["抱歉", "对不起"]}}}]}}
    assert _judge(sorry, COMPLAINT).deduction == 5
    lost = Utterance(0, 9.0, 11.0, "", "agent")
    g = _judge(sorry, COMPLAINT + ["A 9-11: 。"][:0], unheard=[lost])
    assert g.deduction == 0 and g.review_id == "review_unheard"


def test_a_silence_is_the_vad_s_not_a_gap_in_the_words() -> None:
    rule = {"forbid": {"silence": {"after": "agent", "before": "agent", "over_s": 5}}}
    # the caller talks over the gap between the agent's two turns: no silence
    assert _judge(rule, ["A 0-5: 您好，请问有什么可以帮您？", "C 4-12: 我想查一下我的订单到哪里了。",
                         "A 13-15: 好的。"]).passed
    # speech with no words heard is no silence either
    lines = ["A 0-3: 您好。", "A 12-14: 好的。"]
    assert not _judge(rule, lines).passed
    assert _judge(rule, lines, unheard=[Utterance(0, 4.0, 10.0, "", "agent")]).passed


def test_a_silence_is_a_moment() -> None:
    rule = {"each": {"silence": {"after": "agent", "before": "agent", "over_s": 5}},
            "require": {"said": {"who": "agent", "phrases": ["久等了"]}}, "window": {"after": 1}}
    assert _judge(rule, ["A 0-3: 您好，我查一下。", "A 12-15: 让您久等了，查到了。"]).passed
    f = _judge(rule, ["A 0-3: 您好，我查一下。", "A 12-15: 查到了。"])
    assert not f.passed
    assert [(e.start, e.end) for e in f.evidence] == [(0.0, 3.0), (3.0, 12.0)]


def test_a_rate_condition_is_checked_against_the_sound() -> None:
    rule = {"forbid": {"metric": {"name": "agent_speech_rate_cpm", "above": 250}}}
    lines = ["A (cpm=300): 您好，这里是客户服务中心，工号一二三，很高兴为您服务，请问有什么可以帮您？"]
    f = _judge(rule, lines)
    assert not f.passed and f.deduction == 5 and f.evidence and "agent_speech_rate_cpm" in f.evidence[0].text
    # the sound heard 200 syllables a minute: the transcript's 300 may be a mishearing
    n = round(200 * (f.evidence[0].end - 2) / 60)
    g = _judge(rule, lines, nuclei=n)
    assert g.review_id == "review_rate_disagree" and g.deduction == 0


def test_on_mono_a_voice_nobody_placed_earns_no_credit() -> None:
    rule = {"require": {"said": {"who": "agent", "phrases": ["您好"]}}}
    f = _judge(rule, ["? 0: 您好。", "? +1: 我想查订单。"], stereo=False)
    assert not f.passed and f.deduction == 0 and f.review_id == "review_unknown_speaker"
    assert _judge(rule, ["A 0: 您好。", "? +1: 我想查订单。"], stereo=False).passed


def test_like_keeps_its_key_syllables_and_nth_counts_each_utterance() -> None:
    assert _verdict({"require": {"said": {"who": "agent", "like": ["我[不]知道"]}}},
                    ["A: 好的我知道。"]) == "fail"
    assert _verdict({"require": {"said": {"who": "agent", "like": ["我[不]知道"]}}},
                    ["A: 这个我不知道。"]) == "pass"
    # the second 对不起 is counted in its own utterance, though the first is joined to it
    assert _verdict({"require": {"said": {"who": "agent", "phrases": ["对不起"], "nth": 2}}},
                    ["A: 好的。", "A +0.2: 对不起。"]) == "fail"
    assert _verdict({"require": {"said": {"who": "agent", "phrases": ["对不起"], "nth": 2}}},
                    ["A: 对不起。", "A +0.2: 对不起。"]) == "pass"


@pytest.mark.parametrize(("body", "expected"), [
    ("    each: {said: {phrases: [退款]}}\n    window: {after: 0}\n    require: {said: {phrases: [好]}}",
     "whole number of utterances >= 1"),
    ("    forbid: {said: {phrases: [对不起], repeat: {times: 3, within: 2}}}", "M >= N"),
    ("    forbid: {said: {number: {min_digit: 11}}}", "did you mean `min_digits`?"),
    ("    forbid: {said: {phrases: ['我[不知道']}}", "brackets mark key syllables"),
    ("    forbid: {said: {like: [密码告诉我], unless: [不要]}}", "unless goes with"),
    ("    each: {metric: {name: duration_s, above: 1}}\n    require: {said: {phrases: [好]}}",
     "`each` must find moments"),
])
def test_conditions_that_could_never_judge_right_are_refused(
        tmp_path: Path, body: str, expected: str) -> None:
    assert expected in _problems(tmp_path, body)


def test_a_rule_of_the_default_can_be_written_anew_as_a_condition(tmp_path: Path) -> None:
    pack = load(_write(tmp_path, "rules:\n  - id: greeting\n    check: condition\n"
                                 "    require: {said: {who: agent, phrases: [您好], in: {first_s: 10}}}\n"
                                 "    examples: {pass: ['A: 您好。'], fail: ['A: 喂。']}\n"))
    assert pack.rule("greeting").check == "condition" and check_examples(pack) == []


def test_a_message_split_by_an_unquoted_comma_is_refused(tmp_path: Path) -> None:
    msg = _problems(tmp_path, "    phrases: [您好]\n    message: {zh: 未问候, en: No greeting, hello}",
                    check="require")
    assert "`hello}`" in msg or "`hello`" in msg, msg
    for r in load().rules:  # the default's own messages are whole
        assert set(r.message) <= {"zh", "en"} and all(r.message.values()), r.id
