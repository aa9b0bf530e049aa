"""No agent loses points for what the recognizer misheard (rules/doubt.py, speech/asr.py):
a failure resting on unheard speech or low-confidence words is "needs review" (no points,
never fatal); confident evidence is judged as before; words keep the decoder's order.
Transcript level: no audio, no model."""

from __future__ import annotations

import copy

import pytest

from callaudit.records import Finding
from callaudit.speech.packing import Piece, place_words
from tests.helpers.transcripts import BASE, DEFAULT_PACK, audit, replace

A, C = "agent", "customer"
FORBIDDEN = "这是规定，我有什么办法。"
SECRET = "请把您的银行卡密码告诉我。"


def judged(turns: list, **kw: object) -> dict[str, Finding]:
    return audit(turns, **kw)[0]  # type: ignore[arg-type]


def needs_review(f: Finding, why: str) -> bool:
    return f.applicable and not f.passed and f.review and f.deduction == 0 and \
        f.review_id == why and f.severity != "fatal"


NO_GREETING = replace(replace(BASE, 0, "请问怎么称呼您？"), 2,
                      "王先生，跟您确认一下，订单号是2024001，对吗？")


def test_a_greeting_missing_where_the_agent_spoke_unheard_is_for_review() -> None:
    no_greeting = NO_GREETING
    f = judged(no_greeting)["greeting"]
    assert not f.passed and f.deduction > 0 and not f.review  # heard, and no greeting: deducted
    # the agent spoke first, and the recognizer heard no word of it: the greeting may be there
    unheard_first = [(A, "", {"at": 0.5, "dur": 1.5})] + [replace(no_greeting, 0, at=2.5)[0]] + \
        no_greeting[1:]
    assert needs_review(judged(unheard_first)["greeting"], "review_unheard")
    # unheard speech of the caller's, or far after the opening, does not excuse it
    caller_unheard = no_greeting[:1] + [(C, "", {"dur": 1.0})] + no_greeting[1:]
    assert judged(caller_unheard)["greeting"].deduction > 0
    late = no_greeting + [(A, "", {"gap": 30.0, "dur": 1.0})]
    assert judged(late)["greeting"].deduction > 0


def test_a_missing_phrase_in_low_confidence_words_is_for_review() -> None:
    # 您好 misheard as 也好, the rest of the opening too, all with low confidence
    doubtful = replace(replace(NO_GREETING, 0, "也好这里是客户服务中心", conf=0.3), 2, conf=0.35)
    f = judged(doubtful)["greeting"]
    assert needs_review(f, "review_low_confidence") and f.confidence == 0.3
    sure = replace(replace(NO_GREETING, 0, "这里是客户服务中心，请问怎么称呼您？", conf=0.9), 2, conf=0.35)
    f = judged(sure)["greeting"]
    assert f.deduction > 0 and not f.review and f.confidence == 0.35


def test_a_forbidden_phrase_heard_with_low_confidence_deducts_nothing() -> None:
    said = replace(BASE, 4, FORBIDDEN, conf=0.9)
    assert judged(said)["forbidden_phrase"].deduction > 0
    f = judged(replace(BASE, 4, FORBIDDEN, conf=0.25))["forbidden_phrase"]
    assert needs_review(f, "review_low_confidence")
    # results stored before confidence was kept: judged as they always were
    assert judged(replace(BASE, 4, FORBIDDEN))["forbidden_phrase"].deduction > 0


@pytest.mark.parametrize(("confs", "fatal"), [
    ([0.9], True),          # one confident utterance
    ([0.5], False),         # one utterance, not confident enough for a fatal verdict
    ([0.5, 0.5], True),     # two independent hits over confidence_min
    ([0.3], False),         # low confidence: no points at all
    ([0.3, 0.3], False),
    ([None], True),         # no confidence recorded: as before
])
def test_a_fatal_verdict_needs_confident_evidence_or_two_hits(confs: list, fatal: bool) -> None:
    turns = list(BASE)
    for k, c in enumerate(confs):
        opts = {} if c is None else {"conf": c}
        turns = turns[:5 + k] + [(A, SECRET, opts)] + turns[5 + k:]
    findings, score, _ = audit(turns)
    f = findings["ask_secret"]
    assert not f.passed
    assert score.fatal is fatal and (f.severity == "fatal") is fatal
    if not fatal:
        assert f.review and f.deduction == 0


def test_no_false_fatal_from_one_misheard_utterance() -> None:
    """The shape of Whisper's worst case: one short low-confidence utterance that sounds
    like a request for a password, in an otherwise good call."""
    findings, score, _ = audit(replace(BASE, 4, "密码告诉我", conf=0.45))
    assert not score.fatal and findings["ask_secret"].review


def test_a_reply_due_in_unheard_speech_is_for_review() -> None:
    # the caller thanks the agent; the agent's answer was speech with no recognized word
    turns = BASE[:9] + [(A, "", {"dur": 1.2})]
    f = judged(turns)["thanks_reply"]
    assert needs_review(f, "review_unheard")
    heard = BASE[:9] + [(A, "好的。", {"conf": 0.95})]
    assert judged(heard)["thanks_reply"].deduction > 0


# --- words placed in their regions in the decoder's order ------------------------------------
PIECES = [Piece(0, 0, 2, packed_start=0.5), Piece(1, 10, 12, packed_start=3.3),
          Piece(2, 20, 22, packed_start=6.1)]


def test_a_word_timed_seconds_late_stays_in_its_utterance() -> None:
    # the first word's time (6.5 s) puts it in the third region; the next words are in the
    # first: the decoder said it first, so it belongs to the first
    assert place_words([6.5, 1.0, 1.4, 3.6, 4.0], PIECES) == [0, 0, 0, 1, 1]


def test_a_word_timed_early_stays_after_its_predecessors() -> None:
    assert place_words([3.5, 3.9, 0.9, 4.2, 6.5], PIECES) == [1, 1, 1, 1, 2]


def test_words_in_order_keep_their_places() -> None:
    times = [0.6, 1.9, 3.0, 3.4, 5.2, 6.2, 8.5]  # 2.9 and 5.2 in gaps: the nearest piece
    assert place_words(times, PIECES) == [0, 0, 1, 1, 1, 2, 2]
    assert place_words([], PIECES) == []


# --- roles uncertain, and silences that are the caller's ------------------------------------
def test_a_greeting_only_an_unplaced_voice_said_is_neither_credited_nor_blamed() -> None:
    mono = [("agent", "这里是客户服务中心，工号001，请问有什么可以帮您？", {"at": 1.0, "mono_role": "agent"}),
            ("customer", "你好，我想查一下订单。", {"mono_role": "unknown"})]
    f = judged(mono, stereo=False)["greeting"]
    assert needs_review(f, "review_unknown_speaker") and f.evidence[0].text.startswith("你好")
    placed = replace(mono, 0, "您好，这里是客户服务中心，工号001。", mono_role="agent")
    assert judged(placed, stereo=False)["greeting"].passed
    # on stereo the caller's 你好 is the caller's: the agent's missing greeting is deducted
    stereo = [("agent", mono[0][1], {"at": 1.0}), ("customer", mono[1][1])]
    assert judged(stereo)["greeting"].deduction > 0


def test_the_callers_search_is_not_dead_air_nor_a_slow_answer() -> None:
    ask = [("agent", "您好，这里是客户服务中心，请问有什么可以帮您？", {"at": 1.0}),
           ("agent", "请您提供一下订单号。")]
    searching = ask + [("customer", "好的，你等一下，我找一下。"),
                       ("customer", "找到了，是2024001。", {"gap": 40.0}),
                       ("agent", "好的，我为您查询。", {"gap": 6.0})]
    findings, _, metrics = audit(searching)
    assert findings["dead_air"].passed and metrics.max_silence_s >= 40
    silent = ask + [("customer", "好的。"), ("customer", "是2024001。", {"gap": 40.0})]
    assert not audit(silent)[0]["dead_air"].passed  # no word of looking: dead air
    # the agent's slow answer after the caller's search is still the agent's
    assert not findings["response_latency"].passed
    slow = ask + [("customer", "好的，我找一下。"), ("agent", "好的。", {"gap": 6.0})]
    assert audit(slow)[0]["response_latency"].passed


# --- scripts and double penalties --------------------------------------------------------------
def test_one_misheard_syllable_in_a_scripted_opening_does_not_fail_the_greeting() -> None:
    opening = "也好，这里是阳光客户服务中心，工号003，很高兴为您服务。"  # 您好 heard as 也好
    f = judged(replace(NO_GREETING, 0, opening))["greeting"]
    assert f.passed and f.detail_id == "found_script"
    # the same slip in a sentence that is not the script: no credit
    assert not judged(replace(NO_GREETING, 0, "也好，请问怎么称呼您？"))["greeting"].passed


def test_one_utterance_is_not_deducted_twice_for_the_same_words() -> None:
    pack = copy.deepcopy(DEFAULT_PACK)
    pack.rule("vague_words").categories["vague"].append("我也没办法")  # on two lists now
    findings, score, _ = audit(replace(BASE, 4, "我也没办法。"), pack=pack)
    forbidden, vague = findings["forbidden_phrase"], findings["vague_words"]
    assert not forbidden.passed and not vague.passed
    assert forbidden.deduction == 15 and vague.deduction == 0 and "forbidden_phrase" in vague.detail
    assert score.score == audit(replace(BASE, 4, "我也没办法。"))[1].score  # as if on one list
    # different words of one utterance are two faults
    findings, score, _ = audit(replace(BASE, 4, "大概吧，我也没办法。"))
    assert findings["forbidden_phrase"].deduction > 0 and findings["vague_words"].deduction > 0


@pytest.mark.parametrize(("reply", "want"), [
    ("默克请，感谢您的来电，再见。", "review"),  # 不客气 as Whisper heard a fast one (issue 31)
    ("莫克倾，再见。", "review"),
    ("客气，感谢您的来电，再见。", "pass"),  # its first syllable lost: the reply
    ("好的，感谢您的来电，再见。", "fail"),  # no reply to the thanks
    ("客气什么，早干嘛去了。", "fail"),  # not a reply to the thanks: no part, nothing near
])
def test_a_reply_that_sounds_near_the_phrase_is_for_review(reply: str, want: str) -> None:
    f = judged(replace(BASE, len(BASE) - 1, reply))["thanks_reply"]
    if want == "review":
        assert needs_review(f, "review_near_miss"), f
    elif want == "pass":
        assert f.passed, f
    else:
        assert not f.passed and f.deduction > 0 and not f.review, f
