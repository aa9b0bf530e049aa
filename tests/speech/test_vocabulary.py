"""The center's vocabulary (speech/vocabulary.py): its terms written right where they were
heard by their sound, and nothing else changed; the recognizer's text kept in `heard`."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from callaudit.errors import RulePackError
from callaudit.privacy.mask import redact
from callaudit.records import Utterance
from callaudit.rules.pack import load
from callaudit.speech.vocabulary import apply, write_terms

TERMS = load().settings.vocabulary


@pytest.mark.parametrize(("heard", "written"), [
    ("我的宫号是808", "我的工号是808"),
    ("宫号808，", "工号808，"),
    ("我的公号是", "我的工号是"),
    ("这里是客户服务中心公号001", "这里是客户服务中心工号001"),
    ("请问您的订单好是多少", "请问您的订单号是多少"),  # the longer term, not 单号 inside it
    ("单好是多少", "单号是多少"),
    ("退宽什么时候到", "退款什么时候到"),
])
def test_a_term_heard_by_its_sound_is_written_as_the_term(heard: str, written: str) -> None:
    assert write_terms(heard, TERMS) == written
    assert write_terms(written, TERMS) == written  # idempotent


@pytest.mark.parametrize("text", [
    "我的工号是808",  # already right
    "简单好吗",  # 单好 across two words (简单/好)
    "公众号",  # another sound
    "宫保鸡丁",
    "头数",  # a dictionary word of its own: a head count, not 投诉
    "花费多少",  # 话费's sound, but 花费 (to spend) is a dictionary word of its own
    "hello 123，。",
    "",
])
def test_no_other_word_changes(text: str) -> None:
    assert write_terms(text, TERMS) == text


def test_apply_keeps_the_recognizers_text_and_survives_json() -> None:
    utts = [Utterance(0, 1.0, 3.0, "您好，宫号808为您服务", "agent"),
            Utterance(1, 3.5, 4.0, "你好", "customer")]
    out = apply(utts, TERMS)
    assert [u.text for u in out] == ["您好，工号808为您服务", "你好"]
    assert [u.heard for u in out] == ["您好，宫号808为您服务", None]
    assert utts[0].text == "您好，宫号808为您服务"  # the input is left as it was
    back = [Utterance.from_json(u.to_json()) for u in out]
    assert back == out and "heard" not in out[1].to_json()
    assert apply(out, TERMS) == out  # from `heard` again: the same
    assert [u.text for u in apply(out, [])] == ["您好，宫号808为您服务", "你好"]


def test_a_term_that_is_not_chinese_words_is_a_pack_error(tmp_path: Path) -> None:
    p = tmp_path / "center.yaml"
    p.write_text("settings:\n  vocabulary: [工号, 号, VIP卡]\n", encoding="utf-8")
    with pytest.raises(RulePackError) as e:
        load(str(p))
    errs = " ".join(e.value.errors)
    assert "`号`" in errs and "`VIP卡`" in errs and "`工号`" not in errs


def test_redaction_masks_the_recognizers_text_too() -> None:
    number = "13957214806"
    result = {
        "schema": "audit.call/1", "file": "/rec/x.wav", "duration_s": 10.0,
        "utterances": [{"role": "customer", "start": 1.0, "end": 4.0, "channel": 1,
                        "text": f"我的手机号是{number}", "heard": f"我的首级号是{number}"}],
        "findings": [], "versions": {"audit": "t", "model": "t", "rules": "t"},
    }
    before = copy.deepcopy(result)
    out = redact(result, load())
    u = out["utterances"][0]
    assert number not in u["text"] and number not in (u["heard"] or "")
    assert u["heard"].startswith("我的首级号是139") and result == before
