"""Words of a mono mix given to the speakers' turns (speech/attribution.py), on constructed
turns and words: no model."""

from __future__ import annotations

import pytest

from callaudit.records import Region
from callaudit.speech.attribution import (
    AttributionOptions,
    assign,
    bounds,
    changes,
    changing,
    split_by_turns,
    to_redecode,
)


def turns(*spans: tuple[int, float, float]) -> list[Region]:
    return [Region(ch, a, b, -20.0) for ch, a, b in spans]


# agent 0.0-2.0, a pause, customer 2.8-5.0 then the agent again with no pause 5.0-7.0
T = turns((0, 0.0, 2.0), (1, 2.8, 5.0), (0, 5.0, 7.0))


def test_each_word_goes_to_the_turn_it_overlaps_most() -> None:
    words = [(0.1, 0.4), (1.7, 2.5), (2.9, 3.3), (4.8, 5.3), (5.5, 5.9)]
    # 1.7-2.5 lies 0.3 s in the first turn and nowhere else; 4.8-5.3: 0.2 s vs 0.3 s
    assert assign(words, T) == [0, 0, 1, 2, 2]


def test_a_word_in_a_pause_goes_to_the_nearest_turn() -> None:
    assert assign([(2.1, 2.3), (2.5, 2.7), (7.5, 7.8), (-0.5, -0.1)], T) == [0, 1, 2, 0]


def test_a_point_word_goes_to_the_turn_holding_it() -> None:
    assert assign([(3.0, 3.0), (6.0, 6.0)], T) == [1, 2]


def test_no_turns_no_assignment() -> None:
    assert assign([(0.0, 1.0)], []) == []


def test_a_change_is_two_speakers_with_no_pause_between() -> None:
    assert changes(T, AttributionOptions()) == [(1, 2)]
    assert changes(T, AttributionOptions(change_gap_s=1.0)) == [(0, 1), (1, 2)]
    same = turns((0, 0.0, 2.0), (0, 2.0, 4.0))  # one speaker twice: no change
    assert changes(same, AttributionOptions()) == []


def test_a_word_straddling_a_change_redecodes_both_turns() -> None:
    words = [(0.5, 0.9), (4.7, 5.2), (6.0, 6.4)]
    given = assign(words, T)  # 4.7-5.2: 0.3 s in turn 1, 0.2 s in turn 2
    assert given == [0, 1, 2]
    assert to_redecode(words, given, T, []) == {1, 2}  # its tail, 4.95-5.2, is in turn 2


def test_a_first_word_reaching_back_over_the_change_is_trusted() -> None:
    # the next speaker's first word, its start pulled back 0.2 s into the previous turn
    words = [(4.8, 5.4)]
    assert assign(words, T) == [2]
    assert to_redecode(words, [2], T, []) == set()


def test_words_inside_their_turns_need_nothing() -> None:
    words = [(0.5, 0.9), (3.0, 4.9), (5.05, 6.0)]
    assert to_redecode(words, assign(words, T), T, []) == set()


def test_a_word_at_a_change_after_a_pause_is_trusted() -> None:
    words = [(1.5, 2.95)]  # across the pause between turn 0 and 1: not a change
    assert to_redecode(words, assign(words, T), T, []) == set()


def test_an_overlap_redecodes_the_turns_it_touches() -> None:
    assert to_redecode([], [], T, [(4.4, 5.6)]) == {1, 2}
    assert to_redecode([], [], T, [(1.5, 2.6)]) == {0}
    assert to_redecode([], [], T, [(4.6, 5.4)]) == set()  # the separation's 0.8 s at a change


def test_bounds_take_context_but_never_another_speakers_turn() -> None:
    # turn 1: 0.2 s of context before (the pause is free), none after (turn 2 follows)
    assert bounds(1, T, 0.2, 10.0) == pytest.approx((2.6, 5.0))
    assert bounds(0, T, 0.2, 10.0) == pytest.approx((0.0, 2.2))
    assert bounds(2, T, 0.2, 7.1) == pytest.approx((5.0, 7.1))
    mine = turns((0, 0.0, 2.0), (0, 2.2, 4.0))  # the same speaker: up to the pause's middle
    assert bounds(0, mine, 0.5, 10.0) == pytest.approx((0.0, 2.1))


def test_a_stretch_changes_speaker_when_two_speakers_turns_touch_it() -> None:
    regions = turns((0, 0.0, 2.0), (0, 2.8, 7.0), (0, 8.0, 9.0))
    mine = T + turns((0, 8.0, 9.0))
    assert changing(regions, mine, []) == ({1}, [1, 2])
    # a long overlap found in a one-speaker stretch makes it one too
    assert changing(regions, mine, [(0.5, 1.6)]) == ({0, 1}, [0, 1, 2])
    assert changing(regions, mine, [(0.5, 1.0)]) == ({1}, [1, 2])  # short: not


def test_a_stretch_without_words_is_cut_at_the_turns() -> None:
    got = split_by_turns(Region(0, 1.5, 5.5, -30.0), T)
    assert [(r.channel, r.start, r.end) for r in got] == [(0, 1.5, 2.0), (1, 2.8, 5.0),
                                                          (0, 5.0, 5.5)]
    assert all(r.level_dbfs == -30.0 for r in got)


@pytest.mark.model
@pytest.mark.parametrize("mode", ["regions", "words", "turns"])
def test_mono_call_words_land_on_their_speaker(auditor, mode: str) -> None:  # type: ignore[no-untyped-def]
    """samples/mono_call.wav (two TTS voices in one channel), its one-speaker stretches
    transcribed in the mix ("regions"), the whole mix transcribed and its words given to
    the turns ("words"), or turn by turn ("turns"): each role's words are its script's,
    and each scripted turn's speech is labelled with its role."""
    from tests.helpers import cer, truth

    r = auditor.with_options(mono_words=mode).audit("samples/mono_call.wav")
    assert r.separation is not None and r.separation.speakers == 2
    t = truth("mono_call")
    for role in ("agent", "customer"):
        said = "".join(x["text"] for x in t["turns"] if x["role"] == role)
        heard = "".join(u.text for u in r.utterances if u.role == role)
        assert cer(said, heard) < 0.25, (role, heard)
    for x in t["turns"]:
        over = {u.role: 0.0 for u in r.utterances}
        for u in r.utterances:
            over[u.role] += max(0.0, min(u.end, x["end"]) - max(u.start, x["start"]))
        assert over.get(x["role"], 0.0) >= 0.8 * sum(over.values()) > 0, (x, over)
