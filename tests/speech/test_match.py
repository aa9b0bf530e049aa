"""Matching that survives the recognizer: homophones, Traditional characters, one misheard
character; and the reverse, no false alarms on compliant speech or noise. Both error kinds
are counted over a labelled set."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import pytest
from pypinyin.pinyin_dict import pinyin_dict

from callaudit.records import Utterance
from callaudit.speech.match import _INITIALS, Stream, find, find_opening_part, find_script, parse_phrase
from callaudit.speech.text import fold, syllables, to_simplified
from tests.helpers.transcripts import BASE, DEFAULT_PACK, Turn, audit, findings, replace, said, verdict

FORBID = DEFAULT_PACK.settings.forbid_threshold
REQUIRE = DEFAULT_PACK.settings.match_threshold


def stream(*texts: str) -> Stream:
    return Stream.of([Utterance(0, i * 3.0, i * 3.0 + 2.5, t, "agent") for i, t in enumerate(texts)])


# ---- homophones and near-homophones --------------------------------------------------------
@pytest.mark.parametrize(("heard", "phrase"), [
    ("这里是客服中心，公号零零一", "工号"), ("工好001", "工号"), ("您好，工号幺幺二", "工号"),
    ("很高兴外宁服务", "很高兴为您服务"), ("我为您查醒一下", "我为您查询"),
    ("请您稍等，我为您查循一下", "请您稍等"), ("感谢您的耐芯等待", "感谢您的耐心等待"),
    ("宁好", "您好"),  # nin / ning fold together (-n / -ng)
    ("请问还有什么可以帮您", "请问还有什么可以帮您"), ("感谢您的来店", "感谢您的来电"),
    ("祝您生活愉快，在见", "再见"), ("这里是客户服务中新", "客户服务中心"),
])
def test_homophones_match(heard: str, phrase: str) -> None:
    assert find(stream(heard), phrase, REQUIRE) is not None


@pytest.mark.parametrize(("heard", "phrase"), [
    ("你", "您好"), ("嗯嗯", "您好"), ("你们", "您好"), ("泥土", "你好"),  # 2 syllables: 0.9 needed
    ("感谢您的耐心", "感谢您的来电"),  # letters alike, sounds not (the reason for token scoring)
    ("我知道了", "我不知道"), ("我看看有什么办法", "这是规定我有什么办法"),
])
def test_near_but_different_phrases_do_not_match(heard: str, phrase: str) -> None:
    assert find(stream(heard), phrase, FORBID) is None


@pytest.mark.parametrize("opening", [
    "您好，这里是客户服务中心，公号零零一，很高兴外宁服务。",
    "你好，这里是客服中心，工好001，请问有什么可以帮您？",
    "您好，这里是客户服务中新，我是三号话务员，有什么可以帮到您？",
    "宁好，这里是幸福银行客服热线，工号二三五，很高兴为您服务。",
])
def test_misheard_openings_pass_the_opening_rules(opening: str) -> None:
    f = findings(replace(BASE, 0, opening))
    for rule in ("greeting", "self_id", "offer_help"):
        assert verdict(f[rule]) == "pass", (rule, f[rule].detail)


def test_nihao_for_ninhao_passes_by_the_phrase_list_not_by_sound() -> None:
    # ni / nin differ in the final: too far for a two-syllable phrase (0.9 needed), so the
    # greeting rule lists 你好 itself
    assert find(stream("你好"), "您好", REQUIRE) is None
    assert "你好" in DEFAULT_PACK.rule("greeting").phrases
    assert said("你好，这里是客户服务中心，工号001，很高兴为您服务。", "greeting", at=0) == "pass"


def test_hold_phrase_heard_as_a_homophone_still_announces_the_hold() -> None:
    f, _, m = audit(replace(BASE, 4, "好的，请您稍等，我为您查醒一下。"))
    assert [w.kind for w in m.waits] == ["hold"] and verdict(f["hold_before"]) == "pass"


def test_three_syllable_reply_with_one_misheard_sound() -> None:
    f = findings(replace(BASE, 9, "不客请，感谢您的来电，再见。"))  # 气 qi heard as 请 qing
    assert verdict(f["thanks_reply"]) == "pass"


# ---- Traditional characters ---------------------------------------------------------------
def test_traditional_characters_are_simplified_before_rules() -> None:
    assert to_simplified("您好，這裡是客戶服務中心，工號零零一") == "您好，这里是客户服务中心，工号零零一"
    heard = "您好，這裡是客戶服務中心，工號００１，很高興為您服務。請問怎麼稱呼您？"
    simple = to_simplified(heard)
    assert simple == "您好，这里是客户服务中心，工号001，很高兴为您服务。请问怎么称呼您？"
    f = findings(replace(BASE, 0, simple))
    assert all(verdict(f[r]) == "pass" for r in ("greeting", "self_id", "offer_help", "name_use"))


def test_traditional_violations_are_caught_after_simplification() -> None:
    for heard, rule in (("這是規定，我有什麼辦法。", "forbidden_phrase"),
                        ("請把您的銀行卡密碼告訴我。", "ask_secret"),
                        ("請您稍等，我為您查詢一下。", None)):
        simple = to_simplified(heard)
        if rule:
            assert said(simple, rule) == "fail", heard
        else:
            assert said(simple, "hold_before", at=4) == "pass"


# ---- one misheard character in a forbidden phrase -----------------------------------------
@pytest.mark.parametrize(("heard", "rule"), [
    ("这是规定我有什么半法", "forbidden_phrase"),  # 办 -> 半
    ("这是规定，我有什么方法。", "forbidden_phrase"),  # 办 ban -> 方 fang: another initial
    ("我也没半法", "forbidden_phrase"),
    ("我也没有办法。", "forbidden_phrase"),  # the same phrase with 有
    ("有意见找领导吧", "forbidden_phrase"),  # 去 -> 吧: a whole syllable of seven
    ("你凭什么这么讲", "forbidden_phrase"),
    ("我忙着了", "forbidden_phrase"),  # 呢 ne -> 了 le: one final
    ("你是不是沙", "abuse"),
    ("您的密码是多少", "ask_secret"),
    ("麻烦您把手机收到的验证马报一下", "ask_secret"),  # 码 -> 马, noun before the verb
])
def test_violation_with_a_misheard_character_is_caught(heard: str, rule: str) -> None:
    assert said(heard, rule) == "fail"


def _toneless(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _chars_by_sound() -> dict[str, str]:
    """A common character (GB2312 level 1) for each folded toneless syllable."""
    out: dict[str, str] = {}
    for cp, py in sorted(pinyin_dict.items()):
        ch = chr(cp)
        if "," in py:
            continue  # several readings: its sound in context is unsure
        try:
            gb = ch.encode("gb2312")
        except UnicodeEncodeError:
            continue
        if 0xB0 <= gb[0] <= 0xD7:
            out.setdefault(fold(_toneless(py).replace("ü", "v")), ch)
    return out


def _split(syl: str) -> tuple[str, str]:
    ini = next((i for i in _INITIALS if syl.startswith(i) and len(syl) > len(i)), "")
    return ini, syl[len(ini):]


def misheard(phrase: str, i: int, whole: bool) -> str:
    """`phrase` with character i replaced by one of another final (wei -> wai), or with a
    different initial and final (whole=True)."""
    ini, fin = _split(syllables(phrase)[i])
    for syl, ch in sorted(_chars_by_sound().items()):
        i2, f2 = _split(syl)
        if (i2 != ini and f2 != fin) if whole else (i2 == ini and f2 != fin):
            return phrase[:i] + ch + phrase[i + 1:]
    raise AssertionError(phrase)


def _variants(keys: bool = False) -> list[tuple[str, str, str]]:
    """Every forbidden phrase of 4+ syllables with each character heard with another final,
    and of 7+ syllables with each character heard as a different syllable; the characters
    that are not key syllables ([不] in 我[不]知道), or with `keys` only those that are."""
    out = []
    for rule in ("forbidden_phrase", "abuse", "ask_secret"):
        for phrase in (p for ps in DEFAULT_PACK.rule(rule).categories.values() for p in ps):
            plain, key = parse_phrase(phrase)
            n = len(syllables(plain))
            for whole, shortest in ((False, 4), (True, 7)):
                if n >= shortest:
                    out += [(rule, phrase, misheard(plain, i, whole)) for i in range(n)
                            if (i in key) == keys]
    return out


# pypinyin reads 了 in 我解决不了 as liao, but as le once the 解 beside it is misheard, so
# that variant differs by a syllable and a half (0.8 < 0.85). Found, not fixed. (不 misheard
# is a key syllable: test_a_key_syllable_misheard_is_not_the_phrase.)
KNOWN_MISSES = {"我冀决不了"}


def test_every_long_forbidden_phrase_survives_one_misheard_character() -> None:
    variants = _variants()
    missed = [(r, p, v) for r, p, v in variants if not find(stream("好的，" + v + "。"), p, FORBID)]
    print(f"{len(variants)} misheard variants, {len(missed)} missed: {missed}")
    assert len(variants) > 500
    assert {v for _, _, v in missed} == KNOWN_MISSES


def test_a_key_syllable_misheard_is_not_the_phrase() -> None:
    """我[不]知道: 不 carries the meaning; heard as another syllable it is another sentence
    (我也知道, 那就是我的工作), so it is not found; a homophone of it still is."""
    variants = _variants(keys=True)
    assert len(variants) >= 6
    found = [v for _, p, v in variants if find(stream("好的，" + v + "。"), p, FORBID)]
    assert found == [], found
    assert find(stream("我布知道。"), "我[不]知道", FORBID) is not None  # 布 bu = 不 bu

def test_phrase_split_across_two_utterances() -> None:
    assert find(stream("这是规定", "我有什么办法呀"), "这是规定我有什么办法", FORBID) is not None


def test_forbidden_phrase_split_by_a_pause_is_caught() -> None:
    call = BASE[:2] + [("agent", "这是规定，"), ("agent", "我有什么办法。", {"gap": 0.8})] + BASE[4:]
    f = findings(call)
    assert verdict(f["forbidden_phrase"]) == "fail"
    assert [e.match for e in f["forbidden_phrase"].evidence] == ["这是规定", "我有什么办法"]


# ---- misses and false alarms over a labelled set ------------------------------------------
# (agent utterance, rule, should it fail?), each said in turn 2 of the BASE call.
VIOLATIONS: list[tuple[str, str]] = [
    ("这是规定，我有什么办法。", "forbidden_phrase"), ("这是规定我有什么半法", "forbidden_phrase"),
    ("我也没半法，你自己去问问吧", "forbidden_phrase"), ("你怎么还不明白", "forbidden_phrase"),
    ("我不是已经说了吗", "forbidden_phrase"), ("真啰嗦", "forbidden_phrase"),
    ("那不是我的工作。", "forbidden_phrase"), ("你打错电话了。", "forbidden_phrase"),
    ("有意见找领导去。", "forbidden_phrase"), ("你催什么催。", "forbidden_phrase"),
    ("刚才不是讲过了吗？", "forbidden_phrase"), ("大点声，我听不到。", "forbidden_phrase"),
    ("你凭什么这么说？", "forbidden_phrase"), ("我已经说的很清楚了。", "forbidden_phrase"),
    ("知道了知道了，不要再讲了。", "forbidden_phrase"), ("没错，我们公司确实很差。", "forbidden_phrase"),
    ("你是不是傻", "abuse"), ("神经病吧你", "abuse"), ("闭嘴！", "abuse"), ("你烦不烦啊。", "abuse"),
    ("你算什么东西。", "abuse"),
    ("请把您的银行卡密码告诉我", "ask_secret"), ("麻烦您把验证码报一下", "ask_secret"),
    ("您的支付密码是多少", "ask_secret"), ("您告诉我一下验证码。", "ask_secret"),
    ("请您提供一下短信验证码。", "ask_secret"), ("您念一下收到的验证码。", "ask_secret"),
    ("把验证码发给我。", "ask_secret"), ("您把密码说一下。", "ask_secret"), ("您说下密码。", "ask_secret"),
    ("麻烦把短信里的动态码读给我。", "ask_secret"), ("您跟我说一下短信验证码。", "ask_secret"),
    ("请您告诉我您手机收到的验证码。", "ask_secret"), ("您的登录密码是什么？", "ask_secret"),
    ("您不要着急，请把您的密码告诉我。", "ask_secret"),  # the negation is in another clause
    ("不用担心，把验证码报一下就行。", "ask_secret"), ("您把验证码发过来吧。", "ask_secret"),
    ("我需要您提供一下密码。", "ask_secret"), ("请提供您的身份证号码和查询密码。", "ask_secret"),
    ("还是报一下验证码吧。", "ask_secret"),
    ("大概是明天吧", "vague_words"), ("可能吧，您再等等。", "vague_words"),
    ("应该是吧。", "vague_words"), ("差不多吧。", "vague_words"),
    ("我保证明天一定给您送到", "absolute_promise"), ("绝对没问题。", "absolute_promise"),
    ("百分之百能退。", "absolute_promise"),
    ("喂，您好。", "casual_opener"), ("喂喂，能听到吗？", "casual_opener"), ("哎，您说。", "casual_opener"),
]
COMPLIANT: list[tuple[str, str]] = [
    ("我看看有什么办法能帮您解决", "forbidden_phrase"), ("我帮您想想办法", "forbidden_phrase"),
    ("我知道了您的情况，马上为您处理", "forbidden_phrase"),
    ("这是我们的规定流程，我给您解释一下", "forbidden_phrase"),
    ("根据公司规定，这个需要您本人办理。", "forbidden_phrase"),
    ("请您不要着急，我已经说明了处理时间", "forbidden_phrase"), ("您说的情况我明白了", "forbidden_phrase"),
    ("您的订单已经发货了", "forbidden_phrase"), ("好的，还有什么可以帮您", "forbidden_phrase"),
    ("不知道我是否解释清楚了？", "forbidden_phrase"), ("您先别着急，我来为您处理。", "forbidden_phrase"),
    ("我这边没办法直接修改，但是可以帮您提交申请。", "forbidden_phrase"),
    ("您的声音有点小，麻烦您大声一点好吗？", "forbidden_phrase"),
    ("您打的是我们的售后电话，我来为您处理。", "forbidden_phrase"),
    ("请您冷静一下，我们一起来解决。", "forbidden_phrase"),
    ("这个问题我需要请其他部门的同事协助，请您稍等。", "forbidden_phrase"),
    ("请不要把密码告诉任何人", "ask_secret"), ("验证码请勿泄露给他人", "ask_secret"),
    ("您可以在应用里自己修改密码", "ask_secret"), ("我们不会向您索要验证码", "ask_secret"),
    ("系统稍后会给您发送一条验证码短信。", "ask_secret"), ("我给您重置一下密码。", "ask_secret"),
    ("请您在手机上输入验证码完成验证。", "ask_secret"), ("我跟您说一下修改密码的步骤。", "ask_secret"),
    ("您在语音提示后输入密码就可以了。", "ask_secret"), ("验证码千万别告诉别人。", "ask_secret"),
    ("验证码请勿告诉他人。", "ask_secret"), ("密码不要告诉任何人。", "ask_secret"),
    ("您的密码一旦告诉他人，资金就有风险。", "ask_secret"),
    ("我们不会以任何理由要求您提供密码。", "ask_secret"), ("您是说密码输错了三次，对吗？", "ask_secret"),
    ("您可以通过提供身份证号码重置密码。", "ask_secret"), ("您需要提供身份证才能重置密码。", "ask_secret"),
    ("您可以报失后重新设置密码。", "ask_secret"), ("我说一下密码的规则。", "ask_secret"),
    ("这边给您报一下验证码的有效期。", "ask_secret"), ("您说的验证码是短信里的那个吗？", "ask_secret"),
    ("请您报一下身份证后四位。", "ask_secret"), ("动态密码是什么意思？", "ask_secret"),
    ("你是说验证码收不到吗？", "ask_secret"),
    ("感谢您的耐心等待", "abuse"), ("请您稍等，我为您查询一下", "abuse"), ("您有病历本吗？", "abuse"),
    ("预计明天送达", "vague_words"), ("这个问题我们会在二十四小时内回复您。", "vague_words"),
    ("我们会尽快为您处理", "absolute_promise"), ("我们保证按照流程为您处理。", "absolute_promise"),
    ("您放心，我们会跟进到底。", "absolute_promise"),
    ("您好，请讲。", "casual_opener"), ("为了您的安全，请您稍后再拨。", "casual_opener"),
]
LABELLED: list[tuple[str, str, bool]] = [(t, r, True) for t, r in VIOLATIONS] + \
    [(t, r, False) for t, r in COMPLIANT]


@pytest.mark.slow
def test_misses_and_false_alarms_on_the_labelled_set() -> None:
    misses, false_alarms = [], []
    for text, rule, should_fail in LABELLED:
        failed = said(text, rule) == "fail"
        if should_fail and not failed:
            misses.append((text, rule))
        if failed and not should_fail:
            false_alarms.append((text, rule))
    print(f"\nlabelled set: {len(misses)} misses of {len(VIOLATIONS)} violations, "
          f"{len(false_alarms)} false alarms on {len(COMPLIANT)} compliant utterances")
    assert misses == [] and false_alarms == []


COMPLIANT_SCRIPT = [
    "您好，这里是客户服务中心，工号零零八，很高兴为您服务。", "请问您怎么称呼？",
    "李女士您好，请问有什么可以帮您？", "好的，我非常理解您的心情，请您别着急。",
    "跟您确认一下，您是说订单还没有收到，对吗？", "请您稍等，我为您查询一下。",
    "感谢您的耐心等待，您的包裹已经到了配送站。", "我看看有什么办法能让它今天送到。",
    "我帮您想想办法，联系一下配送员，让他优先派送。", "我知道了您的情况，马上帮您登记。",
    "稍后系统会给您发送一条验证码，请注意查收。", "请不要把密码告诉任何人，验证码请勿泄露给他人。",
    "我们的工作人员不会向您索要密码。", "这是我们的服务流程，我给您解释一下。",
    "您的积分可以在应用里兑换礼品。", "这个问题我们会在二十四小时内回复您。",
    "给您带来不便非常抱歉。", "不知道我是否解释清楚了？", "不客气，这是我应该做的。",
    "请问还有什么可以帮您？", "好的，已经为您备注了。", "感谢您的来电，祝您生活愉快，再见。",
]


def test_compliant_agent_script_has_no_violations() -> None:
    turns: list[Turn] = [("agent", t, {"at": 1.0 + 6 * i}) for i, t in enumerate(COMPLIANT_SCRIPT)]
    turns.insert(1, ("customer", "你好，我姓李，我的快递还没到。", {"at": 4.5}))
    f = findings(turns)
    for rule in ("forbidden_phrase", "ask_secret", "abuse", "vague_words", "absolute_promise",
                 "casual_opener"):
        assert verdict(f[rule]) == "pass", (rule, f[rule].detail, f[rule].evidence)


# ---- noise and hallucinations are not the script -------------------------------------------
NOISE = ["嗯", "啊啊啊", "谢谢观看", "你", "哦哦", "明天天气不错", "这个东西多少钱", "嗯嗯好的",
         "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", "字幕由Amara.org社区提供", "我们下期再见",
         "优优独播剧场——YoYo Television Series Exclusive", "中文字幕志愿者 李宗盛", "Thank you.",
         "感谢收看", "...", "嗯嗯嗯嗯嗯嗯", "好"]


@pytest.mark.parametrize("noise", NOISE)
def test_greeting_not_found_in_noise_or_unrelated_words(noise: str) -> None:
    f = findings([("agent", noise, {"at": 1.0}), ("customer", "你好我想问一下"), ("agent", noise)])
    for rule in ("greeting", "self_id", "offer_help"):
        assert verdict(f[rule]) == "fail", (rule, f[rule].detail)


def test_a_call_without_greeting_fails_without_prompts() -> None:
    # The recognizer is not primed with the expected phrases (no initial prompt, no
    # hotwords: asr.py), so only words actually heard can pass the greeting rule.
    from callaudit.speech.asr import AsrOptions

    assert not any("prompt" in k or "hotword" in k for k in vars(AsrOptions()))
    call = replace(replace(BASE, 0, "这里是客户服务中心，工号001，请问怎么称呼您？"), 2,
                   "王先生，跟您确认一下，订单号是2024001，对吗？")
    assert verdict(findings(call)["greeting"]) == "fail"


def test_decoding_loops_are_recognised() -> None:
    from types import SimpleNamespace

    from callaudit.speech.filters import implausible

    def seg(text: str, cr: float = 1.2) -> SimpleNamespace:
        return SimpleNamespace(text=text, compression_ratio=cr)

    assert not implausible([seg("您好这里是客户服务中心")], 3.0, 9.0)
    assert implausible([seg("广州市佛地产" * 12)], 4.0, 9.0)  # 72 syllables in 4 s
    assert implausible([seg("稿稿稿", cr=3.1)], 10.0, 9.0)


def _stream(*texts: str) -> Stream:
    return Stream.of([Utterance(0, float(i), float(i) + 1, t, "agent") for i, t in enumerate(texts)])


OPENING = "您好，这里是…客户服务中心，工号…，很高兴为您服务"


def test_a_script_heard_whole_by_its_sound_with_two_parts_misheard() -> None:
    # issue 31: 您好 -> 也好 and 很高兴为您服务 -> 很高性外面服务; each part alone fails
    hit = find_script(_stream("也好，这里是…客户服务中心工号808很高性外面服务"), OPENING, 0.8)
    assert hit is not None and hit.phrase == OPENING and 0.8 <= hit.score < 0.95
    # ... but not an opening that leaves parts out or says something else
    for text in ("您好，这里是客户服务中心", "您好，很高兴为您服务", "喂，您好，有什么事",
                 "你好，客服中心", "这里是客户服务中心，工号001。"):
        assert find_script(_stream(text), OPENING, 0.8) is None, text


def test_a_reply_heard_without_its_first_syllable_is_the_reply() -> None:
    phrases = ["不客气", "这是我应该做的", "不用客气", "应该的"]
    for text, phrase in (("客气，再见", "不客气"), ("用客气。", "不用客气"), ("不客", "不客气")):
        hit = find_opening_part(_stream(text), phrases, 0.8)
        assert hit is not None and hit.phrase == phrase, text
    # a part only as a clause of its own, and only as the reply's first words
    for text in ("客气什么，早干嘛去了", "好的，客气", "好的再见", "不用管"):
        assert find_opening_part(_stream(text), phrases, 0.8) is None, text
