"""Matching that survives the recognizer: homophones, Traditional characters, one misheard
character; and the reverse, no false alarms on compliant speech or noise. Both error kinds
are counted over a labelled set."""

from __future__ import annotations

import pytest
from transcripts import BASE, audit, replace, verdict

from audit.match import Stream, find
from audit.records import Utterance
from audit.text import to_simplified


def stream(*texts: str) -> Stream:
    return Stream.of([Utterance(0, i * 3.0, i * 3.0 + 2.5, t, "agent") for i, t in enumerate(texts)])


@pytest.mark.parametrize(("heard", "phrase"), [
    ("这里是客服中心，公号零零一", "工号"), ("工好001", "工号"),
    ("很高兴外宁服务", "很高兴为您服务"), ("我为您查醒一下", "我为您查询"),
    ("请您稍等，我为您查循一下", "请您稍等"), ("感谢您的耐芯等待", "感谢您的耐心等待"),
    ("请问还有什么可以帮您", "请问还有什么可以帮您"),
])
def test_homophones_match(heard: str, phrase: str) -> None:
    assert find(stream(heard), phrase, 0.8) is not None


def test_traditional_characters_are_simplified_before_rules() -> None:
    heard = "您好，這裡是客戶服務中心，工號００１，很高興為您服務。"
    assert to_simplified(heard) == "您好，这里是客户服务中心，工号001，很高兴为您服务。"
    f, _, _ = audit(replace(BASE, 0, to_simplified(heard)))
    assert all(verdict(f[r]) == "pass" for r in ("greeting", "self_id", "offer_help"))


def test_phrase_split_across_two_utterances() -> None:
    assert find(stream("这是规定", "我有什么办法呀"), "这是规定我有什么办法", 0.85) is not None


# (agent utterance, rule, should it fail?)  Misses and false alarms are both counted.
LABELLED: list[tuple[str, str, bool]] = [
    # violations, some misheard
    ("这是规定，我有什么办法。", "forbidden_phrase", True),
    ("这是规定我有什么半法", "forbidden_phrase", True),
    ("我也没半法，你自己去问问吧", "forbidden_phrase", True),
    ("你怎么还不明白", "forbidden_phrase", True),
    ("我不是已经说了吗", "forbidden_phrase", True),
    ("真啰嗦", "forbidden_phrase", True),
    ("请把您的银行卡密码告诉我", "ask_secret", True),
    ("麻烦您把验证码报一下", "ask_secret", True),
    ("您的支付密码是多少", "ask_secret", True),
    ("你是不是傻", "abuse", True),
    ("神经病吧你", "abuse", True),
    ("大概是明天吧", "vague_words", True),
    ("我保证明天一定给您送到", "absolute_promise", True),
    # compliant speech, including near misses
    ("我看看有什么办法能帮您解决", "forbidden_phrase", False),
    ("我帮您想想办法", "forbidden_phrase", False),
    ("我知道了您的情况，马上为您处理", "forbidden_phrase", False),
    ("这是我们的规定流程，我给您解释一下", "forbidden_phrase", False),
    ("请您不要着急，我已经说明了处理时间", "forbidden_phrase", False),
    ("您说的情况我明白了", "forbidden_phrase", False),
    ("请不要把密码告诉任何人", "ask_secret", False),
    ("验证码请勿泄露给他人", "ask_secret", False),
    ("您可以在应用里自己修改密码", "ask_secret", False),
    ("我们不会向您索要验证码", "ask_secret", False),
    ("感谢您的耐心等待", "abuse", False),
    ("请您稍等，我为您查询一下", "abuse", False),
    ("预计明天送达", "vague_words", False),
    ("我们会尽快为您处理", "absolute_promise", False),
    ("您的订单已经发货了", "forbidden_phrase", False),
    ("好的，还有什么可以帮您", "forbidden_phrase", False),
]


def test_misses_and_false_alarms_on_the_labelled_set() -> None:
    misses, false_alarms = [], []
    for text, rule, should_fail in LABELLED:
        call = replace(BASE, 2, text)
        failed = verdict(audit(call)[0][rule]) == "fail"
        if should_fail and not failed:
            misses.append((text, rule))
        if failed and not should_fail:
            false_alarms.append((text, rule))
    n_pos = sum(1 for *_, f in LABELLED if f)
    print(f"misses {len(misses)}/{n_pos}, false alarms {len(false_alarms)}/{len(LABELLED) - n_pos}")
    assert misses == [] and false_alarms == []


COMPLIANT_SCRIPT = [
    "您好，这里是客户服务中心，工号零零八，很高兴为您服务。", "请问您怎么称呼？",
    "李女士您好，请问有什么可以帮您？", "好的，我理解您的心情，请您别着急。",
    "跟您确认一下，您是说订单还没有收到，对吗？", "请您稍等，我为您查询一下。",
    "感谢您的耐心等待，您的包裹已经到了配送站。", "我看看有什么办法能让它今天送到。",
    "我帮您联系一下配送员，让他优先派送。", "请不要把验证码告诉任何人，我们不会索要。",
    "这是我们的服务流程，我给您解释一下。", "我这样说您清楚吗？", "不客气，这是我应该做的。",
    "请问还有什么可以帮您？", "感谢您的来电，祝您生活愉快，再见。",
    "我知道了，马上帮您登记。", "您的积分可以在应用里兑换礼品。", "这个问题我们会在二十四小时内回复您。",
    "给您带来不便非常抱歉。", "好的，已经为您备注了。",
]


def test_compliant_agent_script_has_no_violations() -> None:
    turns = [("agent", t, {"at": 1.0 + 6 * i}) for i, t in enumerate(COMPLIANT_SCRIPT)]
    turns.insert(1, ("customer", "你好，我姓李，我的快递还没到。", {"at": 4.5}))
    f, _, _ = audit(turns)
    for rule in ("forbidden_phrase", "ask_secret", "abuse", "vague_words", "absolute_promise",
                 "casual_opener"):
        assert verdict(f[rule]) == "pass", (rule, f[rule].detail, f[rule].evidence)


@pytest.mark.parametrize("noise", ["嗯", "啊啊啊", "谢谢观看", "你", "哦哦", "明天天气不错",
                                   "这个东西多少钱", "嗯嗯好的"])
def test_greeting_not_found_in_noise_or_unrelated_words(noise: str) -> None:
    f, _, _ = audit([("agent", noise, {"at": 1.0}), ("customer", "你好我想问一下")])
    assert verdict(f["greeting"]) == "fail"
    assert verdict(f["self_id"]) == "fail"


def test_a_call_without_greeting_fails_without_prompts() -> None:
    # The recognizer is not primed with the expected phrases (no initial prompt, no
    # hotwords: asr.py), so only words actually heard can pass the greeting rule.
    from audit.asr import AsrOptions

    assert not any("prompt" in k or "hotword" in k for k in vars(AsrOptions()))
    call = replace(replace(BASE, 0, "这里是客户服务中心，工号001，请问怎么称呼您？"), 2,
                   "王先生，跟您确认一下，订单号是2024001，对吗？")
    f, _, _ = audit(call)
    assert verdict(f["greeting"]) == "fail"


def test_forbidden_phrase_split_by_a_pause_is_caught() -> None:
    call = BASE[:2] + [("agent", "这是规定，"), ("agent", "我有什么办法。", {"gap": 0.8})] + BASE[4:]
    f, _, _ = audit(call)
    assert verdict(f["forbidden_phrase"]) == "fail"
    assert [e.match for e in f["forbidden_phrase"].evidence] == ["这是规定", "我有什么办法"]


@pytest.mark.parametrize(("heard", "rule"), [
    ("麻烦您把手机收到的验证马报一下", "ask_secret"),  # 码 heard as 马, verb after the noun
    ("好的请把密码报一下", "ask_secret"),
])
def test_password_requests_in_either_word_order(heard: str, rule: str) -> None:
    assert verdict(audit(replace(BASE, 2, heard))[0][rule]) == "fail"


def test_three_syllable_reply_with_one_misheard_sound() -> None:
    f, _, _ = audit(replace(BASE, 9, "不客请，感谢您的来电，再见。"))  # 气 qi heard as 请 qing
    assert verdict(f["thanks_reply"]) == "pass"


def test_decoding_loops_are_recognised() -> None:
    from types import SimpleNamespace

    from audit.asr import _implausible

    def seg(text: str, cr: float = 1.2) -> SimpleNamespace:
        return SimpleNamespace(text=text, compression_ratio=cr)

    assert not _implausible([seg("您好这里是客户服务中心")], 3.0, 9.0)
    assert _implausible([seg("广州市佛地产" * 12)], 4.0, 9.0)  # 72 syllables in 4 s
    assert _implausible([seg("稿稿稿", cr=3.1)], 10.0, 9.0)
