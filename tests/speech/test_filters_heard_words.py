"""What Whisper wrote that was not in the audio never reaches an utterance (issue 20: real
speech came back with a sentence written twice, and with a loop spread over five regions)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from callaudit.speech.filters import heard_words
from callaudit.speech.packing import Piece, place_words


def seg(words: list[tuple[str, float, float]], no_speech: float = 0.1, logprob: float = -0.3):
    return SimpleNamespace(no_speech_prob=no_speech, avg_logprob=logprob, compression_ratio=1.2,
                           words=[SimpleNamespace(word=w, start=a, end=b, probability=0.9)
                                  for w, a, b in words])


def text(words: list) -> str:
    return "".join(w.word for w, _ in words)


def timed(chars: str, start: float, step: float = 0.2) -> list[tuple[str, float, float]]:
    return [(c, start + k * step, start + (k + 1) * step) for k, c in enumerate(chars)]


def test_a_sentence_written_again_after_the_audio_ended_is_dropped() -> None:
    said = timed("欢迎大家来体验达摩院推出的语音识别模型", 1.0)
    again = [(c, 4.8, 4.8) for c in "欢迎大家来体验达摩院推出的语音识别模型"]  # all at one instant
    assert text(heard_words([seg(said + again)])) == "欢迎大家来体验达摩院推出的语音识别模型"


def test_a_sentence_written_twice_in_a_row_is_told_once() -> None:
    # as measured with NumPy's BLAS on one thread: the first copy's last words and the
    # second's first at one instant (4.06 s), the rest of both timed
    first = [("我想", 0.0, 1.16), ("问", 1.16, 1.78), ("我在", 1.78, 3.62), ("冰", 3.62, 3.88),
             ("台", 3.88, 4.06)] + [(w, 4.06, 4.06) for w in ("新", "区", "有", "房")]
    second = [(w, 4.06, 4.06) for w in ("我想", "问", "我在", "冰", "台")] + \
        [("新", 4.06, 4.3), ("区", 4.3, 4.62), ("有", 4.62, 4.92), ("房", 4.92, 5.28)]
    words = heard_words([seg(timed("喂", 0.0) + first + second + timed("谢谢", 5.5))])
    assert text(words) == "喂我想问我在冰台新区有房谢谢"
    # each word keeps the time of the copy that has one
    assert [(w.word, w.start) for w, _ in words][6:10] == [("新", 4.06), ("区", 4.3), ("有", 4.62),
                                                       ("房", 4.92)]


def test_a_sentence_said_twice_is_kept() -> None:
    # timed both times: the caller did say it twice
    said = timed("我要办理退款手续", 0.5) + timed("我要办理退款手续", 3.0)
    assert text(heard_words([seg(said)])) == "我要办理退款手续" * 2
    # a short phrase squeezed at one instant is no written-again sentence
    said = timed("好的", 0.5) + [(c, 1.0, 1.0) for c in "好的好的"]
    assert text(heard_words([seg(said)])) == "好的好的好的"


def test_a_short_last_word_of_no_duration_is_kept() -> None:
    words = timed("谢谢", 1.0) + [("再", 1.4, 1.6), ("见", 1.6, 1.6)]
    assert text(heard_words([seg(words)])) == "谢谢再见"
    # two zero-length words at different instants are not a written-again tail
    words = timed("好的", 1.0) + [("嗯", 1.5, 1.5), ("啊", 1.7, 1.7)]
    assert text(heard_words([seg(words)])) == "好的嗯啊"
    # the last words squeezed into the window's last frame, all at one instant: speech,
    # unless they say again what was said before
    words = timed("不客气感谢您的来电", 1.0) + [("再", 3.0, 3.0), ("见", 3.0, 3.0)]
    assert text(heard_words([seg(words)])) == "不客气感谢您的来电再见"
    words = timed("好的", 1.0) + [("祝", 2.0, 2.0), ("您", 2.0, 2.0), ("愉快", 2.0, 2.0)]
    assert text(heard_words([seg(words)])) == "好的祝您愉快"


def test_a_loop_is_cut_back_to_two_turns_before_the_words_are_placed() -> None:
    loop = [("按", 4.0 + k * 0.4, 4.1 + k * 0.4) if k % 2 == 0 else ("鈕,", 4.1 + k * 0.4, 4.2 + k * 0.4)
            for k in range(40)]
    words = heard_words([seg(timed("首先说一下", 0.5) + loop)])
    assert text(words) == "首先说一下按鈕,按鈕,"
    # the regions after the loop's start get none of its words: they will be decoded alone
    pieces = [Piece(0, 0, 3.0, packed_start=0.5), Piece(1, 5, 6.0, packed_start=4.3),
              Piece(2, 8, 9.0, packed_start=9.0), Piece(3, 10, 11.0, packed_start=14.0)]
    places = place_words([w.end for w, _ in words], pieces)
    assert set(places) == {0, 1}


def test_repeats_people_say_are_speech() -> None:
    for said in ("对对对对", "好的好的好的", "喂喂喂喂喂"):
        assert text(heard_words([seg(timed(said, 0.5))])) == said
    # a unit of punctuation alone is no loop
    assert text(heard_words([seg([(",", 1, 1.1)] * 8 + timed("好", 2))])) == ",,,,,,,,好"


def test_a_number_said_with_many_zeros_is_no_loop() -> None:
    said = "手机号13800000000金额1000000"
    assert text(heard_words([seg(timed(said, 0.5, 0.1))])) == said
    from callaudit.speech.text import collapse_repeats

    assert collapse_repeats(said) == said and collapse_repeats("稿" * 8) == "稿稿"
    assert collapse_repeats("0" * 30) == "00"  # a decoder looping on a digit is still cut
    assert text(heard_words([seg(timed("0" * 30, 0.5, 0.1))])) == "00"


def test_a_segment_whisper_calls_silence_gives_no_word() -> None:
    assert heard_words([seg(timed("谢谢观看", 0.5), no_speech=0.9, logprob=-1.5)]) == []


def _audio(seconds: float, channels: int = 1):  # type: ignore[no-untyped-def]
    from callaudit.audio.decode import SAMPLE_RATE, Audio

    # each sample its own time, so a packed sample tells where it was taken from
    t = np.arange(int(seconds * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
    return Audio(path="x.wav", channels=[t + 1000 * c for c in range(channels)],
                 source_rate=SAMPLE_RATE, source_channels=channels)


def test_a_speakers_own_short_pause_is_packed_as_heard() -> None:
    from callaudit.audio.decode import SAMPLE_RATE
    from callaudit.records import Region
    from callaudit.speech.asr import AsrOptions
    from callaudit.speech.packing import pack, split_pieces

    opts = AsrOptions(context_s=0.0)
    audio = _audio(20.0)
    regions = [Region(0, 1.0, 3.0), Region(0, 4.5, 6.0), Region(0, 12.0, 13.0)]
    pieces = split_pieces(regions, opts.max_piece_s)
    packed, windows = pack(audio, regions, pieces, opts)
    assert len(windows) == 1
    # 1.5 s pause (<= keep_pause_s): the samples of 3.0-4.5 s follow the first region's
    a, b = pieces[0], pieces[1]
    between = packed[int((a.packed_start + a.duration) * SAMPLE_RATE):int(b.packed_start * SAMPLE_RATE)]
    assert len(between) == int(1.5 * SAMPLE_RATE)
    assert between[0] == pytest.approx(3.0, abs=1e-3) and between[-1] == pytest.approx(4.5, abs=1e-3)
    # a 6 s pause (the other party's turn, or a hold) becomes gap_s of silence
    c = pieces[2]
    between = packed[int((b.packed_start + b.duration) * SAMPLE_RATE):int(c.packed_start * SAMPLE_RATE)]
    assert len(between) == int(opts.gap_s * SAMPLE_RATE) and not between.any()
    # a pause in which the other party spoke (a region on the other channel): their voice
    # leaks into this channel below the VAD's level, so it is silence too
    stereo = _audio(20.0, channels=2)
    both = regions + [Region(1, 3.2, 4.2)]
    pieces = split_pieces(both, opts.max_piece_s)
    packed, _ = pack(stereo, both, pieces, opts)
    a, b = pieces[0], pieces[1]
    assert (a.region, b.region) == (0, 1)
    between = packed[int((a.packed_start + a.duration) * SAMPLE_RATE):int(b.packed_start * SAMPLE_RATE)]
    assert len(between) == int(opts.gap_s * SAMPLE_RATE) and not between.any()
    # one mono mix split by speaker: a pause may hold the other speaker, so it is silence
    pieces = split_pieces(regions, opts.max_piece_s)
    packed, _ = pack(audio, regions, pieces, opts, shared_mix=True)
    a, b = pieces[0], pieces[1]
    between = packed[int((a.packed_start + a.duration) * SAMPLE_RATE):int(b.packed_start * SAMPLE_RATE)]
    assert len(between) == int(opts.gap_s * SAMPLE_RATE) and not between.any()


def test_another_channel_spoke_in_a_pause() -> None:
    from callaudit.records import Region
    from callaudit.speech.packing import _other_spoke

    regions = [Region(0, 0.0, 2.0), Region(1, 2.5, 2.8), Region(0, 3.0, 5.0), Region(1, 9.0, 12.0),
               Region(0, 6.0, 7.0), Region(1, 5.5, 5.6)]
    spoke = _other_spoke(regions)
    assert spoke(0, 2.0, 3.0) and spoke(0, 5.0, 6.0) and not spoke(0, 7.0, 9.0)
    assert spoke(1, 2.8, 9.0) and not spoke(1, 12.0, 20.0) and not spoke(1, 7.0, 9.0)
    # the brute-force answer, on many random regions
    rng = np.random.default_rng(1)
    many = [Region(int(c), float(s), float(s + d)) for c, s, d in
            zip(rng.integers(0, 3, 300), rng.uniform(0, 600, 300), rng.uniform(0.2, 4, 300), strict=True)]
    spoke = _other_spoke(many)
    asked = zip(rng.integers(0, 3, 500), rng.uniform(0, 600, 500), rng.uniform(0, 3, 500), strict=True)
    for c, s, d in asked:
        want = any(r.channel != c and r.start < s + d and r.end > s for r in many)
        assert spoke(int(c), float(s), float(s + d)) == want
