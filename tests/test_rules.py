"""Every rule of the default pack: a call where it passes, one where it fails, one where it
does not apply. Transcript level: no audio, no model (tests/transcripts.py builds the call)."""

from __future__ import annotations

from typing import Any

import pytest
from transcripts import BASE, DEFAULT_PACK, Turn, audit, replace, verdict

from audit.rulepack import load

A, C = "agent", "customer"
GREET = ("agent", "您好，这里是客户服务中心，工号001，很高兴为您服务。", {"at": 1.0})
CUSTOMER_ONLY: list[Turn] = [(C, "喂，有人吗，我想问一下我的订单。", {"at": 1.0})]
AGENT_SHORT: list[Turn] = [(A, "您好。", {"at": 1.0})]
SILENT_SCRIPT: list[Turn] = [
    GREET, (A, "您好，请问能听到吗？", {"gap": 4.0}),
    (A, "抱歉，听不到您的声音，请您稍后再拨，再见。", {"gap": 4.0}),
]


def without(turns: list[Turn], i: int, old: str, new: str = "") -> list[Turn]:
    return replace(turns, i, turns[i][1].replace(old, new))


def add(turns: list[Turn], *extra: Turn, at: int | None = None) -> list[Turn]:
    out = list(turns)
    pos = len(out) if at is None else at
    return out[:pos] + list(extra) + out[pos:]


# (rule, call where it passes, call where it fails, call where it does not apply, kwargs)
CASES: list[tuple[str, Any, Any, Any]] = [
    ("answer_delay", BASE, replace(BASE, 0, at=5.0), CUSTOMER_ONLY),
    ("speech_rate", BASE, [replace(BASE, i, cpm=300)[i] if BASE[i][0] == A else BASE[i]
                           for i in range(len(BASE))], AGENT_SHORT),
    ("dead_air", BASE, add(BASE[:4], (A, "订单已经发货了。", {"gap": 35.0})), []),
    ("hold_reminder", BASE, replace(BASE, 5, gap=70.0), BASE[:4] + BASE[6:]),
    ("hold_apology",
     add(BASE[:5], (A, "还在为您查询，请您再稍等。", {"gap": 55.0}),
         (A, "抱歉让您久等了，您的订单已经发货。", {"gap": 70.0})),
     add(BASE[:5], (A, "还在为您查询，请您再稍等。", {"gap": 55.0}),
         (A, "感谢您的耐心等待，您的订单已经发货。", {"gap": 70.0})),
     BASE),
    ("response_latency", BASE, replace(BASE, 2, gap=7.0), SILENT_SCRIPT),
    ("interruption", BASE, replace(BASE, 2, gap=-1.5), "mono"),
    ("greeting", BASE, without(BASE, 0, "您好，"), CUSTOMER_ONLY),
    ("self_id", BASE, replace(BASE, 0, "您好，很高兴为您服务，请问怎么称呼您？"), CUSTOMER_ONLY),
    ("offer_help", BASE, replace(BASE, 0, "您好，这里是客户服务中心，工号001，请问怎么称呼您？"),
     CUSTOMER_ONLY),
    ("name_use", BASE, without(without(BASE, 0, "请问怎么称呼您？"), 2, "王先生"), SILENT_SCRIPT),
    ("casual_opener", BASE, replace(BASE, 0, "喂，您好，这里是客户服务中心，工号001，很高兴为您服务。"),
     CUSTOMER_ONLY),
    ("hold_before", BASE, replace(BASE, 4, "好的。"), BASE[:4] + BASE[6:]),
    ("hold_after", BASE, without(BASE, 5, "感谢您的耐心等待，"), BASE[:4] + BASE[6:]),
    ("confirm_need", BASE, without(BASE, 2, "跟您确认一下，"), SILENT_SCRIPT),
    ("confirm_understood", BASE, without(BASE, 5, "我这样说您清楚吗？"), SILENT_SCRIPT),
    ("verify_numbers", BASE, replace(BASE, 2, "王先生您好，好的。"),
     without(BASE, 1, "订单号是2024001。")),
    ("thanks_reply", BASE, without(BASE, 9, "不客气，"), without(BASE, 8, "，谢谢")),
    ("empathy",
     add(BASE, (C, "你们怎么回事，太慢了，我要投诉！"), (A, "非常抱歉给您带来不便，我马上为您加急。")),
     add(BASE, (C, "你们怎么回事，太慢了，我要投诉！"), (A, "这个要等物流公司处理。")), BASE),
    ("civil_warning",
     add(BASE, (C, "你们这帮混蛋！"), (A, "先生，请您使用文明用语。")),
     add(BASE, (C, "你们这帮混蛋！"), (A, "好的，我记录一下。")), BASE),
    ("retention",
     add(BASE, (C, "我要找你们领导。"), (A, "请问您具体遇到什么问题，由我来为您处理。")),
     add(BASE, (C, "我要找你们领导。"), (A, "好的，我给您转接。")), BASE),
    ("vague_words", BASE, replace(BASE, 5, "感谢您的耐心等待，大概是明天到吧，我这样说您清楚吗？"),
     CUSTOMER_ONLY),
    ("absolute_promise", BASE, replace(BASE, 5, "感谢您的耐心等待，我保证明天一定送到，您清楚吗？"),
     CUSTOMER_ONLY),
    ("forbidden_phrase", BASE, replace(BASE, 2, "这是规定，我有什么办法。"), CUSTOMER_ONLY),
    ("ask_secret", BASE, replace(BASE, 2, "请把您的银行卡密码告诉我，我帮您核实。"), CUSTOMER_ONLY),
    ("abuse", BASE, replace(BASE, 2, "你是不是傻，听不懂吗？"), CUSTOMER_ONLY),
    ("ask_more", BASE, without(BASE, 7, "请问还有什么可以帮您？", "好的。"), SILENT_SCRIPT),
    ("farewell", BASE, replace(BASE, 9, "不客气。"), SILENT_SCRIPT),
    ("silent_call", SILENT_SCRIPT, SILENT_SCRIPT[:2], BASE),
    ("repeat_requests", BASE,
     add(BASE[:2], (A, "不好意思，听不清，请您再说一遍。"), (C, "我说订单。"),
         (A, "请您再说一遍。"), (C, "订单。"), (A, "信号不好，麻烦您再说一遍。")),
     CUSTOMER_ONLY),
]


def _verdict(rule: str, call: Any) -> str:
    if call == "mono":
        f, _, _ = audit(BASE, stereo=False)
    else:
        f, _, _ = audit(call)
    return verdict(f[rule])


@pytest.mark.parametrize(("rule", "good", "bad", "na"), CASES, ids=[c[0] for c in CASES])
def test_rule_passes_fails_and_does_not_apply(rule: str, good: Any, bad: Any, na: Any) -> None:
    assert _verdict(rule, good) == "pass"
    assert _verdict(rule, bad) == "fail"
    assert _verdict(rule, na) == "n/a"


def test_every_enabled_rule_is_covered() -> None:
    covered = {c[0] for c in CASES} | {"volume", "call_length", "jargon", "polite_words",
                                       "mandarin", "leak_other"}
    assert {r.id for r in DEFAULT_PACK.enabled_rules} == covered


def test_volume() -> None:
    assert verdict(audit(BASE, level=-20)[0]["volume"]) == "pass"
    assert verdict(audit(BASE, level=-52)[0]["volume"]) == "fail"
    assert verdict(audit(CUSTOMER_ONLY)[0]["volume"]) == "n/a"


def test_call_length_is_informational() -> None:
    f, s, _ = audit(BASE, duration=400.0)
    assert verdict(f["call_length"]) == "fail" and f["call_length"].deduction == 0
    assert s.score == 100
    assert verdict(audit(BASE)[0]["call_length"]) == "pass"
    # never n/a: every call has a length, even a silent one
    assert verdict(audit([], duration=10.0)[0]["call_length"]) == "pass"


def test_jargon_needs_a_list(tmp_path: Any) -> None:
    assert verdict(audit(BASE)[0]["jargon"]) == "n/a"  # the default pack lists no terms
    pack_file = tmp_path / "center.yaml"
    pack_file.write_text("rules:\n  - id: jargon\n    extra_categories:\n      jargon: [工单号, 二线]\n",
                         encoding="utf-8")
    pack = load(str(pack_file))
    assert verdict(audit(BASE, pack=pack)[0]["jargon"]) == "pass"
    bad = replace(BASE, 5, "感谢您的耐心等待，我已经给您提了工单号，转二线处理。")
    assert verdict(audit(bad, pack=pack)[0]["jargon"]) == "fail"


def test_polite_words_counts_and_never_deducts() -> None:
    f = audit(BASE)[0]["polite_words"]
    assert f.passed and f.deduction == 0 and "times" in f.detail
    assert verdict(audit(CUSTOMER_ONLY)[0]["polite_words"]) == "n/a"


def test_manual_rules_never_apply() -> None:
    f = audit(BASE)[0]
    for rule in ("mandarin", "leak_other"):
        assert verdict(f[rule]) == "n/a" and "human" in f[rule].detail


def test_failed_findings_carry_evidence_with_time_role_and_words() -> None:
    f, _, _ = audit(replace(BASE, 2, "这是规定，我有什么办法。"))
    ev = f["forbidden_phrase"].evidence
    assert len(ev) == 1 and ev[0].role == "agent" and ev[0].category == "shirking"
    assert ev[0].match == "这是规定，我有什么办法" and ev[0].end > ev[0].start > 0
    f, _, _ = audit(without(BASE, 0, "您好，"))
    assert f["greeting"].evidence and f["greeting"].evidence[0].text.startswith("这里是")
