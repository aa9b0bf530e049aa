"""speech/phrase_index: a long list's index leaves out only phrases `find` cannot find.

Every test compares the index with `find` itself, phrase by phrase (the oracle): over the
default pack's phrases and a generated 10,000-phrase list (bench/phrase_scale.py), against
what Whisper heard (the stored audits, tests/data/results), the scripted truths (tests/data,
bench/truth), homophone variants of both, and phrases of the list planted with a syllable
heard as a homophone, a near sound, another sound, dropped or added, where the bound is
tight. The whole 10,000 against many more streams is marked slow."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from functools import lru_cache

import pytest
from pypinyin.pinyin_dict import pinyin_dict

from callaudit.records import Utterance
from callaudit.speech import phrase_index
from callaudit.speech.match import SCRIPT_PART_MIN, Stream, _code, find, parse_phrase
from callaudit.speech.phrase_index import INDEX_MIN, PhraseIndex, covered, find_any, index_of, shortlist
from callaudit.speech.text import is_han, speakable, syllables
from tests.helpers import BENCH, DATA, bench
from tests.helpers.transcripts import DEFAULT_PACK

scale = bench("phrase_scale")
FORBID = DEFAULT_PACK.settings.forbid_threshold
MATCH = DEFAULT_PACK.settings.match_threshold
THRESHOLDS = (FORBID, MATCH, 0.7, 0.9, 1.0)


def stream(*texts: str) -> Stream:
    return Stream.of([Utterance(0, i * 3.0, i * 3.0 + 2.5, t, "agent") for i, t in enumerate(texts)])


@lru_cache(maxsize=1)
def calls() -> tuple[tuple[str, ...], ...]:
    """The texts of calls, utterance by utterance: what Whisper heard, then the scripts."""
    out = [tuple(u["text"] for u in json.loads(p.read_text("utf-8"))["result"]["utterances"])
           for p in sorted((DATA / "results").glob("*.json"))]
    for p in sorted(DATA.rglob("*.truth.json")) + sorted((BENCH / "truth").glob("*.truth.json")):
        turns = json.loads(p.read_text("utf-8")).get("turns") or []
        if turns:
            out.append(tuple(t["text"] for t in turns))
    return tuple(out)


def heard() -> list[tuple[str, ...]]:
    """Utterance pairs as the forbid check joins them, from what Whisper heard."""
    return [c[i:i + 2] for c in calls()[:4] for i in range(len(c))]


def scripted() -> list[tuple[str, ...]]:
    return [c[i:i + 2] for c in calls()[4:] for i in range(len(c))]


@lru_cache(maxsize=1)
def sounds() -> tuple[dict[str, str], dict[str, list[str]]]:
    """Common characters (GB2312 level 1, one reading) by their folded syllable, and back."""
    of: dict[str, str] = {}
    for cp, py in sorted(pinyin_dict.items()):
        ch = chr(cp)
        if "," in py:
            continue
        try:
            gb = ch.encode("gb2312")
        except UnicodeEncodeError:
            continue
        if 0xB0 <= gb[0] <= 0xD7:
            of[ch] = syllables(ch)[0]
    by: dict[str, list[str]] = {}
    for ch, s in of.items():
        by.setdefault(s, []).append(ch)
    return of, by


@lru_cache(maxsize=1)
def near() -> dict[str, list[str]]:
    """Each syllable's syllables one token away (the same initial or the same final)."""
    _, by = sounds()
    codes = {s: _code(s) for s in by}
    return {s: [t for t in by if t != s and ((c[0] == codes[t][0]) != (c[1] == codes[t][1]))]
            for s, c in codes.items()}


def misheard(text: str, rng: random.Random, how: str) -> str:
    """`text` with one or two of its characters heard otherwise (`how`: homophone, near,
    other, drop, add, two) or, for `variant`, about a third of them as homophones."""
    of, by = sounds()
    chars = list(text)
    han = [i for i, ch in enumerate(chars) if is_han(ch)]
    if not han:
        return text

    def homophone(ch: str) -> str:
        alike = [c for c in by.get(of.get(ch, ""), []) if c != ch]
        return rng.choice(alike) if alike else ch

    def near_sound(ch: str) -> str:
        s = of.get(ch) or (syllables(ch) or [""])[0]
        return rng.choice(by[rng.choice(near()[s])]) if near().get(s) else homophone(ch)

    anywhere = sorted(of)
    if how == "variant":
        return "".join(homophone(ch) if is_han(ch) and rng.random() < 0.3 else ch for ch in chars)
    i = rng.choice(han)
    if how == "homophone":
        chars[i] = homophone(chars[i])
    elif how == "near":
        chars[i] = near_sound(chars[i])
    elif how == "other":
        chars[i] = rng.choice(anywhere)
    elif how == "drop":
        del chars[i]
    elif how == "add":
        chars.insert(i + rng.randrange(2), rng.choice(anywhere))
    elif how == "two":
        for j in rng.sample(han, min(2, len(han))):
            chars[j] = near_sound(chars[j])
    return "".join(chars)


def left_out(idx: PhraseIndex, s: Stream, threshold: float, short_floor: bool = True) -> list[str]:
    """What `find` finds in `s` that the index did not name: must be nothing."""
    named = set(idx.candidates(s, threshold, short_floor))
    return [p for p in dict.fromkeys(idx.phrases)
            if p not in named and find(s, p, threshold, short_floor=short_floor) is not None]


def found(phrases: Sequence[str], s: Stream, threshold: float) -> list[str]:
    return [p for p in phrases if find(s, p, threshold) is not None]


@lru_cache(maxsize=1)
def default_phrases() -> tuple[str, ...]:
    return tuple(scale.default_phrases(DEFAULT_PACK))


@lru_cache(maxsize=1)
def big_list() -> tuple[str, ...]:
    return tuple(scale.phrases(10_000, avoid=set(default_phrases())))


# ---- the default pack's phrases -------------------------------------------------------------
@pytest.mark.parametrize("threshold", [FORBID, MATCH])
def test_default_phrases_on_every_stored_and_scripted_text(threshold: float) -> None:
    idx = PhraseIndex(default_phrases())
    assert len(idx) > 200
    hits = 0
    for texts in heard() + scripted():
        s = stream(*texts)
        assert left_out(idx, s, threshold) == [], texts
        hits += len(found(idx.candidates(s, threshold), s, threshold))
    assert hits > 300  # the texts say the pack's phrases: the comparison is not empty


def test_default_phrases_on_homophone_variants() -> None:
    rng = random.Random(1)
    idx = PhraseIndex(default_phrases())
    hits = 0
    for texts in heard() + scripted()[::2]:
        s = stream(*(misheard(t, rng, "variant") for t in texts))
        for threshold in (FORBID, MATCH):
            assert left_out(idx, s, threshold) == [], (texts, threshold)
        hits += len(found(idx.candidates(s, MATCH), s, MATCH))
    assert hits > 100


def test_default_phrases_planted_misheard_at_every_threshold() -> None:
    """Each phrase of the default pack in a sentence, one or two syllables misheard, at
    thresholds from the scripts' part minimum (0.5, no short-phrase bar) to exact."""
    rng = random.Random(2)
    idx = PhraseIndex(default_phrases())
    for p in default_phrases():
        plain = parse_phrase(p)[0]
        for how in ("homophone", "near", "other", "drop", "add", "two"):
            s = stream(f"好的{misheard(plain, rng, how)}，请您稍等")
            assert left_out(idx, s, FORBID) == [], (p, s.text)
            for threshold in THRESHOLDS:  # the phrase itself, where the bound is tight
                assert find(s, p, threshold) is None or p in idx.candidates(s, threshold), \
                    (p, s.text, threshold)
            assert find(s, p, SCRIPT_PART_MIN, short_floor=False) is None or \
                p in idx.candidates(s, SCRIPT_PART_MIN, short_floor=False), (p, s.text)


# ---- a generated list of 10,000 phrases ------------------------------------------------------
def test_big_list_is_realistic_and_reproducible() -> None:
    words = big_list()
    assert len(words) == len(set(words)) == 10_000
    assert list(words[:50]) == scale.phrases(50, avoid=set(default_phrases()))  # seed 35
    assert not set(words) & set(default_phrases())
    assert all(2 <= len(speakable(parse_phrase(p)[0])) <= 12 for p in words)
    assert sum("[" in p for p in words) > 100 and sum(any(c.isdigit() for c in p) for p in words) > 20


def test_big_list_against_stored_calls_and_variants() -> None:
    """All 10,000 against what Whisper heard in two calls, and homophone variants of it."""
    rng = random.Random(3)
    idx = index_of(big_list())
    pairs = heard()[::3]
    streams = [stream(*t) for t in pairs] + [stream(*(misheard(x, rng, "variant") for x in t))
                                             for t in pairs[::2]]
    named = 0
    for s in streams:
        assert left_out(idx, s, FORBID) == [], s.text
        named += len(idx.candidates(s, FORBID))
    assert named / len(streams) < 50  # the point of it: a handful of 10,000 per stream


def test_big_list_planted_misheard() -> None:
    """Phrases of the list said in a call, heard with one or two syllables otherwise, at
    every threshold: the index names each one `find` finds (and the rest of the list that
    is found there too)."""
    rng = random.Random(4)
    words = big_list()
    idx = index_of(words)
    carriers = [t[0] for t in heard()]
    kinds = ("homophone", "near", "other", "drop", "add", "two")
    hits = tried = 0
    for p in rng.sample(words, 400):
        plain = parse_phrase(p)[0]
        said = misheard(plain, rng, rng.choice(kinds))
        where = rng.randrange(3)
        text = rng.choice(carriers)
        if where == 0:
            s = stream(said + text)
        elif where == 1:
            s = stream(text[:len(text) // 2] + said + text[len(text) // 2:])
        else:  # across two utterances, as the forbid check joins them
            cut = rng.randrange(1, len(said)) if len(said) > 1 else 1
            s = stream(text + said[:cut], said[cut:] + "。")
        for threshold in THRESHOLDS:
            named = set(idx.candidates(s, threshold))
            got = find(s, p, threshold) is not None
            assert not got or p in named, (p, s.text, threshold)
            hits += got
            tried += 1
        assert left_out(PhraseIndex([p]), s, SCRIPT_PART_MIN, short_floor=False) == []
    assert hits > tried // 4  # many are found: the bound is tested where it is tight


@pytest.mark.slow
def test_big_list_against_more_texts() -> None:
    """All 10,000 against every utterance pair Whisper heard, every other scripted one, and
    a homophone variant of every other one of these (a minute)."""
    rng = random.Random(5)
    idx = index_of(big_list())
    for i, texts in enumerate(heard() + scripted()[::2]):
        assert left_out(idx, stream(*texts), FORBID) == [], texts
        if i % 2:
            s = stream(*(misheard(t, rng, "variant") for t in texts))
            assert left_out(idx, s, FORBID) == [], s.text


# ---- what the index must keep exactly ---------------------------------------------------------
def test_exact_characters_whose_sound_changes_in_context() -> None:
    """An exact hit needs no sound: 重 alone is zhong, in 重新 chong; 行 in 银行 hang."""
    words = ["重", "行", "长", "还", "得", "重新", "银行", "长大", "还款"] + list(big_list()[:INDEX_MIN])
    idx = PhraseIndex(words)
    for text in ("请您重新登录", "我们银行的卡", "这个长度不够", "您还有什么问题", "我觉得可以",
                 "还款日是十号", "他长大了", "行不行"):
        s = stream(text)
        for threshold in THRESHOLDS:
            assert left_out(idx, s, threshold) == [], (text, threshold)
        assert set(found(words, s, FORBID)) <= set(idx.candidates(s, FORBID))
    assert "重" in idx.candidates(stream("请您重新登录"), 1.0)


def test_odd_phrases() -> None:
    """Brackets, digits, Latin letters, punctuation, Traditional characters, repeats."""
    words = ["请问[还]有什么可以帮您", "12315", "打12315投诉", "VIP", "，", "", "您好，再见",
             "這是規定", "再见", "再见", "一", "[您]"] + list(big_list()[:INDEX_MIN])
    idx = PhraseIndex(words)
    for text in ("请问还有什么可以帮您", "请问有什么可以帮您", "您可以打一二三一五投诉",
                 "打12315", "您是VIP客户", "这是规定", "這是規定", "再见", "您好再见", "一"):
        s = stream(text)
        for threshold in THRESHOLDS:
            assert left_out(idx, s, threshold) == [], (text, threshold)
    named = idx.candidates(stream("好的再见"), FORBID)
    assert named.count("再见") == 2 and "VIP" not in named and "" not in named
    assert idx.candidates(stream("。。"), FORBID) == []


def test_candidates_keep_the_lists_order() -> None:
    words = list(big_list()[:500])
    s = stream("，".join(parse_phrase(p)[0] for p in words[::-50]))  # said in reverse
    named = index_of(words).candidates(s, FORBID)
    assert named == [p for p in words if p in set(named)]
    assert set(words[::-50]) <= set(named)


# ---- where the rules use it ------------------------------------------------------------------
def test_find_any_and_covered_are_the_same_with_and_without_the_index() -> None:
    rng = random.Random(6)
    words = list(default_phrases())
    assert len(words) >= INDEX_MIN
    for texts in heard()[::2] + scripted()[::5]:
        for s in (stream(*texts), stream(*(misheard(t, rng, "variant") for t in texts))):
            for threshold in (FORBID, MATCH):
                with_index = find_any(s, words, threshold), covered(s, words, threshold)
                with phrase_index.disabled():
                    assert (find_any(s, words, threshold), covered(s, words, threshold)) == with_index


def test_short_lists_are_scanned_whole_and_the_switch_turns_it_off() -> None:
    s = stream("您好")
    short = ["再见", "您好"]
    assert shortlist(s, short, FORBID) is short
    words = list(big_list()[:INDEX_MIN])
    assert len(shortlist(s, words, FORBID)) < len(words)
    with phrase_index.disabled():
        assert shortlist(s, words, FORBID) is words
    assert len(shortlist(s, words, FORBID)) < len(words)


def test_an_index_is_built_once_per_list_and_follows_a_changed_list() -> None:
    words = list(big_list()[:200])
    idx = index_of(words)
    assert index_of(words) is idx and index_of(list(words)) is idx and index_of(tuple(words)) is idx
    words[0] = "这是规定"  # a list changed in place is indexed again, never read stale
    assert index_of(words) is not idx and "这是规定" in index_of(words).candidates(stream("这是规定"), 1.0)
