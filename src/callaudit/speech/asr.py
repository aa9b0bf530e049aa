"""Batched Whisper transcription of VAD regions.

Whisper's encoder costs the same for every 30 s window however much speech it holds, so
the speech regions of each channel are packed back to back into as few windows as possible
(a speaker's own short pause kept as heard, a longer one, or one in which the other party
spoke, cut to a short gap so the decoder still sees a pause), decoded
as one batch with faster-whisper's BatchedInferencePipeline, and the words are mapped back
to the region they came from by their timestamps.

Windows are encoded at their own length, not padded to 30 s: CTranslate2's Whisper encoder
accepts shorter inputs and its cost grows faster than linearly with length (measured here:
8 windows of 30 s 5.6 s, of 15 s 1.7 s, of 10 s 0.9 s). A window keeps at least `tail_s`
of silence after its speech and is rounded up to a multiple of `bucket_s`, then batched
with windows of the same length. Whisper was trained on 30 s inputs: with 5 s inputs it
looped (广州市佛地产…广州市佛地产…) on real clips, with 10 s and a silent tail it did not;
a window whose text is still implausible (too many syllables per second, or repetitive)
is decoded again at the full 30 s.

A window never mixes channels: Whisper's word times are rough (a word's start often absorbs
the pause before it), and a word put in the wrong region must at worst land in the same
party's neighbouring utterance, never in the other party's. Words are placed by their end
time, which the pause does not distort.

No speech without words: after the batch, a region with no word, a stretch of a region
its words do not reach (the decoder ended early: no word for 0.5 s or more in which two
or more syllable nuclei are heard, audio/syllables.py, in a region whose characters fall
short of its nuclei by half the stretch's at least), and a region whose syllables
heard far outnumber its characters are decoded again, alone, in one more batch. What the
second pass hears in a stretch is kept when it is sure enough (`gap_min_confidence`);
what nobody heard is returned as `unheard`, so a rule that misses a phrase there asks a
person (rules/doubt.py) instead of deducting.
"""

from __future__ import annotations

import math
import os
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.audio.samples import Channel
from callaudit.audio.syllables import nuclei
from callaudit.errors import ModelError
from callaudit.numerics import one_blas_thread
from callaudit.records import Region, Utterance
from callaudit.speech.text import (
    LOOP_MIN,
    NUMBER_LOOP_MIN,
    collapse_repeats,
    is_number,
    spoken_units,
    to_simplified,
)

# Lines Whisper invents on noise or music: subtitle credits from its training data ("请不吝
# 点赞 订阅 转发 打赏支持明镜与点点栏目", "字幕由…提供", "谢谢观看"). An utterance is dropped only
# when its whole text is such a line: a caller who says 我想取消订阅 keeps every word.
_CREDIT_TOKENS = ("点赞", "订阅", "转发", "打赏", "关注", "分享", "收藏", "三连", "明镜", "点点栏目")
_CREDIT_LINES = [re.compile(p) for p in (
    # a call to like and subscribe: only credit words and glue, at least two credit words
    r"(请|不吝|欢迎|大家|记得|一键)*(点赞|订阅|转发|打赏|支持|关注|分享|收藏|评论|三连|和|与|及|并|的|"
    r"明镜|点点|栏目|频道|我们|本|一下)+",
    # who made the subtitles: a credit names people; it does not talk to anybody
    r"(?!.*[我你您帮要吗呢吧没不])(中文)?字幕(由.{1,16}(提供|制作)|组.{0,12}|制作.{0,12}|"
    r"翻译.{0,12}|校对.{0,12}|志愿者.{0,12}|by.{1,12})",
    r"(谢谢|感谢)(大家|各位)?(的)?(收看|观看|观赏|收听)+(本期|本集|节目|视频)?",
    r"(by|BY|By)?索兰娅",
    # a song's credits, said of hum and music: only credit words, at least two of them
    r"(作词|作曲|编曲|混音|演唱|监制)(作词|作曲|编曲|混音|演唱|监制)+",
)]
_PUNCT = re.compile(r"[\s\W_]+")  # spaces and punctuation (CJK characters are word characters)
GAP_CONTEXT_S = 1.0  # a stretch without words is decoded again with this much of the region
# before it: Whisper starting mid-sentence hears nothing (measured on a fast 8 kHz turn)
GAP_SLACK_S = 0.1  # ... and the words ending this soon after its start are the ones before it


def is_credit_line(text: str) -> bool:
    """True when `text` is, as a whole, a subtitle-credit line Whisper invents on non-speech
    ("请不吝点赞订阅转发打赏支持明镜与点点栏目", "字幕由Amara.org社区提供", "谢谢观看"). A
    short reply that shares a word with them (订阅, 请关注, 支持, 字幕没有了) is speech."""
    bare = _PUNCT.sub("", text)
    if not bare:
        return False
    if _CREDIT_LINES[0].fullmatch(bare):
        return sum(bare.count(t) for t in _CREDIT_TOKENS) >= 2
    return any(p.fullmatch(bare) for p in _CREDIT_LINES[1:])


@dataclass(frozen=True)
class AsrOptions:
    beam_size: int = 5  # measured: beam 5 beats greedy by 4 CER points on clean speech
    batch_size: int = 4  # windows per beam search: 8 took 300 MB more, at the same speed
    # windows per encoder run: its working memory (self-attention over 1500 frames) grows with
    # the batch (8 windows of 30 s: +600 MB, 2: +110 MB); its output is the same to the bit
    encode_batch: int = 2
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0 = all cores
    window_s: float = 30.0  # Whisper's input length
    gap_s: float = 0.8  # silence put between packed regions whose pause is not kept (helps
    # word times find the cut)
    keep_pause_s: float = 3.0  # a pause of one speaker this short, in which nobody else spoke,
    # is packed as it was heard, as faster-whisper's VAD keeps it. Measured with every pause
    # cut to gap_s: realzh 16 kHz 18.8 % CER, kept up to 3 s 15.9 % (faster-whisper 15.9 %),
    # synthesized calls 7.8 -> 7.4 %; 1 s and 2 s read 20.2 %: 14 clips, one of them (a 12 s
    # meeting turn with four pauses) decides it, so the figure is noisy; 3 s keeps it whole
    lead_s: float = 0.5  # silence before a window's first region: Whisper skips a short
    # utterance at the very start of a window (喂，说吧 vanished without it)
    max_piece_s: float = 28.0  # longer regions are cut so one piece always fits a window
    context_s: float = 0.2  # audio kept around each region: VAD edges are tight (10 ms) and
    # soft onsets (h, x, s) cut off made Whisper mishear (希望 -> 洗澡, 换 -> 放)
    bucket_s: float = 10.0  # encoder input lengths are rounded up to a multiple of this
    tail_s: float = 2.0  # silence kept after a window's speech, so the decoder sees the end
    max_syllables_per_s: float = 9.0  # more than this is a decoding loop, not speech
    min_alone_s: float = 0.3  # a region this long that got no word is decoded again alone
    # a stretch of a region its words do not reach (after its last word, before its first,
    # between two) this long, with this many syllable nuclei heard in it (audio/syllables),
    # is speech without words: decoded again alone, and marked unheard if still wordless.
    # 0.5 s / 2: a window cut to 认一下 of 跟您确认一下 counts 2 nuclei in 0.8 s; none of
    # the synthesized corpus's 12 calls nor realzh's 28 clips has a false stretch
    gap_min_s: float = 0.5
    gap_min_syllables: int = 2
    unheard_min_syllables: int = 3  # ... marked unheard only with this many (a 0.6 s hole
    # between two clauses with 2 nuclei, its words all there, was a pause)
    gap_min_confidence: float = 0.4  # words heard in such a stretch are kept only this sure
    # (geometric mean probability): a fast tail Whisper cannot hear comes back as 会不会是会
    # a region whose syllables heard are at least this many times its characters written
    # (and `gap_min_syllables` more) lost words the word times do not show: decoded again
    # alone, the longer plausible text kept
    short_text_ratio: float = 2.0
    full_windows: bool = False  # True: pad every window to 30 s, as faster-whisper does


@dataclass
class Piece:
    """A region (or part of a long one) and where it sits in the packed audio."""

    region: int  # index into the region list
    src_start: float
    src_end: float
    packed_start: float = 0.0
    channel: int = 0

    @property
    def duration(self) -> float:
        return self.src_end - self.src_start

    def source_time(self, t: float) -> float:
        """A time in the packed audio (s) as a time of the recording, within the piece."""
        return min(self.src_end, max(self.src_start, self.src_start + t - self.packed_start))


@dataclass
class Transcript:
    """What the recognizer heard: utterances (regions with words), and `unheard`, the
    speech regions (VAD) in which no word was heard even decoded alone: a rule that finds a
    phrase missing there cannot know the agent did not say it."""

    utterances: list[Utterance]
    unheard: list[Region]


@dataclass
class _Heard:
    """A region's words as they come: (text, log-probability, start s, end s of the
    recording) each, with the most no-speech probability and compression ratio of the
    windows they came from."""

    words: list[tuple[str, float, float, float]] = field(default_factory=list)
    no_speech_prob: float = 0.0
    compression_ratio: float = 0.0

    def add(self, word: str, probability: float, seg: Any, start: float, end: float) -> None:
        self.words.append((word, math.log(max(probability, 1e-9)), start, end))
        self.no_speech_prob = max(self.no_speech_prob, float(seg.no_speech_prob))
        self.compression_ratio = max(self.compression_ratio, float(seg.compression_ratio))

    @property
    def text(self) -> str:
        return "".join(w for w, *_ in self.words)

    @property
    def units(self) -> int:
        return spoken_units(self.text)

    @property
    def confidence(self) -> float:
        """Geometric mean of the words' probabilities."""
        return math.exp(sum(lp for _, lp, _, _ in self.words) / len(self.words)) \
            if self.words else 0.0

    def with_words(self, other: _Heard, lo: float, hi: float) -> _Heard:
        """These words and those of `other` ending within lo..hi (s), in time order."""
        new = [w for w in other.words if lo < w[3] <= hi]
        return _Heard(sorted(self.words + new, key=lambda w: w[3]),
                      max(self.no_speech_prob, other.no_speech_prob if new else 0.0),
                      max(self.compression_ratio, other.compression_ratio if new else 0.0))


class Transcriber:
    def __init__(self, model_dir: Path, opts: AsrOptions | None = None) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.opts = opts or AsrOptions()
        threads = self.opts.cpu_threads or os.cpu_count() or 1
        try:
            self.model = WhisperModel(
                str(model_dir), device="cpu", compute_type=self.opts.compute_type,
                cpu_threads=threads,
            )
        except (RuntimeError, ValueError, OSError) as e:
            raise ModelError(
                f"model directory {model_dir} could not be loaded ({str(e).splitlines()[0]}): "
                "run `make setup` again, or pass --model DIR"
            ) from None
        self.pipeline = BatchedInferencePipeline(self.model)
        # Seconds per ASR stage, for the report's timing and the benchmark. "alone" (regions
        # decoded again in their own windows) is a part of the others, not added to them.
        self.stage_s: dict[str, float] = {"encode": 0.0, "decode": 0.0, "align": 0.0, "alone": 0.0}
        self.model.encode = _timed(  # type: ignore[method-assign]
            _encode_in_parts(self.model.encode, self.opts.encode_batch), self.stage_s, "encode")
        self.model.add_word_timestamps = _timed(  # type: ignore[method-assign]
            self.model.add_word_timestamps, self.stage_s, "align")

    def transcribe(
        self, audio: Audio, regions: list[Region],
        progress: Callable[[int, int], None] | None = None, shared_mix: bool = False,
    ) -> list[Utterance]:
        """What was said in each region with words (see transcribe_all)."""
        return self.transcribe_all(audio, regions, progress, shared_mix).utterances

    def transcribe_all(
        self, audio: Audio, regions: list[Region],
        progress: Callable[[int, int], None] | None = None, shared_mix: bool = False,
    ) -> Transcript:
        """Utterances of the regions, and the regions in which no word was heard even when
        decoded again alone. `shared_mix`: the channels are one mono mix split by speaker
        (diarize.py), so the context around a region must not take in the other speaker's
        neighbouring words."""
        if not regions:
            return Transcript([], [])
        with one_blas_thread():  # Whisper's features the same in every process (numerics.py)
            return self._transcribe_all(audio, regions, progress, shared_mix)

    def _transcribe_all(self, audio: Audio, regions: list[Region],
                        progress: Callable[[int, int], None] | None, shared_mix: bool,
                        ) -> Transcript:
        pieces = split_pieces(regions, self.opts.max_piece_s, self.opts.context_s, audio.duration,
                              shared_mix)
        packed, windows = pack(audio, regions, pieces, self.opts, shared_mix)
        heard: dict[int, _Heard] = {}  # region index -> its words, in order
        for done, (k, segs) in enumerate(self._decode(packed, windows), start=1):
            in_window = [pieces[i] for i, p in enumerate(pieces)
                         if windows[k]["start"] <= p.packed_start < windows[k]["end"]]
            _add_words(heard, segs, in_window)
            if progress:
                progress(done, len(windows))
        # No speech without words: a region the VAD calls speech that got no word (in a packed
        # window Whisper may drop a short or fast turn, a last 谢谢，再见, whole), a stretch of
        # a region its words do not reach (a decoding that stopped halfway), and a region
        # whose text is far shorter than the syllables heard are decoded again alone.
        again: dict[tuple[int, str, float, float], list[Piece]] = {}
        for i, r in enumerate(regions):
            own = [p for p in pieces if p.region == i]
            if i not in heard:
                if r.duration >= self.opts.min_alone_s:
                    again[(i, "lost", r.start, r.end)] = own
                continue
            # a stretch counts when the region's words are also fewer than its syllables by
            # half the stretch's: Whisper's word times leave holes at a clause's pause
            # (公号307, | 很高兴 …) in a region whose words are all there
            syllables = self._syllables(audio, r)
            gaps = [(a, b, n) for a, b, n in self._gaps(audio, r, heard[i])
                    if syllables - heard[i].units >= n / 2]
            lo, hi = own[0].src_start, own[-1].src_end
            for a, b, n in gaps:
                kind = "gap" if n >= self.opts.unheard_min_syllables else "hole"
                again[(i, kind, a, b)] = [Piece(i, max(lo, a - GAP_CONTEXT_S),
                                                 min(hi, b + self.opts.context_s), channel=r.channel)]
            if not gaps and self._lost_words(heard[i].units, syllables):
                again[(i, "short", r.start, r.end)] = own
        redone = self._alone(audio, again)
        unheard = []
        for (i, kind, a, b), h in ((key, redone.get(key)) for key in again):
            r = regions[i]
            if kind == "lost":
                if h:
                    heard[i] = h
                else:
                    unheard.append(r)
            elif kind in ("gap", "hole"):  # keep the words said in the stretch
                lo, hi = a + GAP_SLACK_S, b + self.opts.context_s
                said = _Heard([w for w in (h.words if h else []) if lo < w[3] <= hi])
                if said.words and said.confidence >= self.opts.gap_min_confidence and \
                        not _implausible_text(said.text, b - a, self.opts):
                    heard[i] = heard[i].with_words(said, lo, hi)
                elif kind == "gap":  # (a hole, too few syllables to be sure, stays as it was)
                    unheard.append(Region(r.channel, a, b, r.level_dbfs))
            elif h and heard[i].units < h.units and not _implausible_text(h.text, r.duration,
                                                                           self.opts):
                heard[i] = h  # "short": alone, it heard more
        utterances = []
        for i, r in enumerate(regions):
            h = heard.get(i)
            text = collapse_repeats(to_simplified(h.text)) if h else ""
            if not h or not text or is_credit_line(text):
                continue
            utterances.append(Utterance(channel=r.channel, start=r.start, end=r.end, text=text,
                                        level_dbfs=r.level_dbfs, confidence=h.confidence,
                                        no_speech_prob=h.no_speech_prob,
                                        compression_ratio=h.compression_ratio))
        return Transcript(utterances, sorted(unheard, key=lambda u: (u.start, u.channel)))

    def _syllables(self, audio: Audio, r: Region | tuple[int, float, float]) -> int:
        """Syllable nuclei heard in a region or a (channel, start s, end s) stretch."""
        ch, a, b = (r.channel, r.start, r.end) if isinstance(r, Region) else r
        return len(nuclei(np.asarray(audio.channels[ch][int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)],
                                     np.float32)))

    def _gaps(self, audio: Audio, r: Region, h: _Heard) -> list[tuple[float, float, int]]:
        """Stretches of region `r` (start s, end s, nuclei) its words do not reach,
        `gap_min_s` or longer, with `gap_min_syllables` or more syllable nuclei heard."""
        bounds = [r.start] + [t for _, _, a, b in h.words for t in (a, b)] + [r.end]
        out = []
        for a, b in zip(bounds[::2], bounds[1::2], strict=True):
            if b - a >= self.opts.gap_min_s:
                n = self._syllables(audio, (r.channel, a, b))
                if n >= self.opts.gap_min_syllables:
                    out.append((a, b, n))
        return out

    def _lost_words(self, units: int, syllables: int) -> bool:
        """Whether `syllables` nuclei heard are far more than `units` characters written.
        (Not the other way round: on real spontaneous speech the nuclei count a third to a
        half of the syllables, and words heard in a pause kept as heard land in a region.)"""
        return syllables >= self.opts.short_text_ratio * units + self.opts.gap_min_syllables

    def _alone(self, audio: Audio, todo: dict[Any, list[Piece]]) -> dict[Any, _Heard]:
        """Each item's pieces decoded by themselves, in a window of their own (silence before
        and after, nothing else in it), all in one batch as the packed windows are: key ->
        its words (times in s of the recording), for the items that have some."""
        if not todo:
            return {}
        t0 = time.perf_counter()
        packed = Packed()
        windows, order, placed = [], [], []
        cursor = 0.0
        for key, pieces in todo.items():
            cursor += packed.add(None, 0, int(self.opts.lead_s * SAMPLE_RATE)) / SAMPLE_RATE
            start = cursor - self.opts.lead_s
            mine = []
            for p in pieces:
                q = Piece(p.region, p.src_start, p.src_end, cursor, p.channel)
                cursor += packed.add(audio.channels[p.channel], int(p.src_start * SAMPLE_RATE),
                                     int(p.src_end * SAMPLE_RATE)) / SAMPLE_RATE
                mine.append(q)
            windows.append({"start": start, "end": cursor})
            order.append(key)
            placed.append(mine)
        out: dict[Any, _Heard] = {}
        for k, segs in self._decode(packed, windows):
            h: dict[int, _Heard] = {}
            _add_words(h, segs, placed[k])
            if h:
                out[order[k]] = next(iter(h.values()))
        self.stage_s["alone"] += time.perf_counter() - t0
        return out

    def _options(self):  # type: ignore[no-untyped-def]
        from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

        # As BatchedInferencePipeline.transcribe sets them, with word timestamps on.
        return TranscriptionOptions(
            beam_size=self.opts.beam_size, best_of=5, patience=1, length_penalty=1,
            repetition_penalty=1, no_repeat_ngram_size=0, log_prob_threshold=-1.0,
            no_speech_threshold=0.6, compression_ratio_threshold=2.4,
            condition_on_previous_text=False, prompt_reset_on_temperature=0.5,
            temperatures=[0.0], initial_prompt=None, prefix=None, suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(self.tokenizer, [-1]), without_timestamps=True,
            max_initial_timestamp=0.0, word_timestamps=True,
            prepend_punctuations="\"'“¿([{-", append_punctuations="\"'.。,，!！?？:：”)]}、",
            multilingual=False, max_new_tokens=None, clip_timestamps="0",
            hallucination_silence_threshold=None, hotwords=None,
        )

    @property
    def tokenizer(self):  # type: ignore[no-untyped-def]
        from faster_whisper.tokenizer import Tokenizer

        if not hasattr(self, "_tokenizer"):
            self._tokenizer = Tokenizer(self.model.hf_tokenizer, True, task="transcribe",
                                        language="zh")
        return self._tokenizer

    def _decode(self, packed: Packed, windows: list[dict[str, float]],
                ) -> Iterator[tuple[int, list[Any]]]:
        """(window index, its segments) of every window: features at the window's own
        (bucketed) length, batched by length, through faster-whisper's batched forward pass
        (encode, beam search, word alignment); implausible windows once more at 30 s."""
        fe = self.model.feature_extractor
        frames_per_s = fe.sampling_rate // fe.hop_length  # 100 mel frames per second
        bucket = max(1, int(self.opts.bucket_s * frames_per_s))
        tail = int(self.opts.tail_s * frames_per_s)
        items = []
        for k, w in enumerate(windows):
            a, b, _ = slice(int(w["start"] * SAMPLE_RATE), int(w["end"] * SAMPLE_RATE)).indices(
                len(packed))
            frames = max(0, b - a) // fe.hop_length  # the features' length, before they are made
            n = fe.nb_max_frames if self.opts.full_windows else \
                min(fe.nb_max_frames, -(-(frames + tail) // bucket) * bucket)
            meta = {"offset": w["start"], "duration": w["end"] - w["start"], "segments": [],
                    "window": k}
            items.append((n, (a, b), meta))
        retry = []
        for (n, span, meta), segs in self._forward(packed, items):
            if n < fe.nb_max_frames and _implausible(segs, meta["duration"],
                                                     self.opts.max_syllables_per_s):
                retry.append((fe.nb_max_frames, span, meta))
            else:
                yield meta["window"], segs
        for (_, _, meta), segs in self._forward(packed, retry):
            yield meta["window"], segs

    def _forward(self, packed: Packed, items: list[tuple[int, tuple[int, int], dict[str, Any]]],
                 ) -> Iterator[tuple[tuple[int, tuple[int, int], dict[str, Any]], list[Any]]]:
        """Each item's (frames, samples a:b of `packed`, meta) decoded, a batch of items of one
        length at a time; the features of a batch are made for it alone (a long call's would
        be 32 kB per second of speech)."""
        from faster_whisper.transcribe import Segment
        from faster_whisper.transcribe import Word as FwWord

        fe = self.model.feature_extractor
        opts = self._options()
        items = sorted(items, key=lambda it: it[0])
        i = 0
        while i < len(items):
            j = i
            while j < len(items) and j - i < self.opts.batch_size and items[j][0] == items[i][0]:
                j += 1
            batch = items[i:j]
            n = batch[0][0]
            feats = np.stack([np.pad(f[..., :n], ((0, 0), (0, max(0, n - f.shape[-1]))))
                              for f in (fe(packed[a:b])[..., :-1] for _, (a, b), _ in batch)]
                             ).astype(np.float32)
            t0 = time.perf_counter()
            before = self.stage_s["encode"] + self.stage_s["align"]
            results = self.pipeline.forward(feats, self.tokenizer, [b[2] for b in batch], opts)
            # what forward spent outside the encoder and the aligner is the beam search
            self.stage_s["decode"] += time.perf_counter() - t0 - (
                self.stage_s["encode"] + self.stage_s["align"] - before)
            for item, result in zip(batch, results, strict=True):
                yield item, [Segment(
                    id=0, seek=seg["seek"], start=seg["start"], end=seg["end"], text=seg["text"],
                    tokens=seg["tokens"], avg_logprob=seg["avg_logprob"],
                    compression_ratio=seg["compression_ratio"], no_speech_prob=seg["no_speech_prob"],
                    temperature=0.0, words=[FwWord(**w) for w in seg.get("words", [])],
                ) for seg in result]
            i = j


def _encode_in_parts(encode: Callable[[np.ndarray], Any], k: int) -> Callable[[np.ndarray], Any]:
    """`encode` (WhisperModel.encode) run on `k` windows of a batch at a time, the outputs
    joined: the beam search still sees the whole batch."""
    import ctranslate2

    def run(features: np.ndarray) -> Any:
        if features.ndim == 2 or len(features) <= k:
            return encode(features)
        # the StorageView shares the joined array's memory and keeps it alive
        return ctranslate2.StorageView.from_array(np.concatenate(
            [np.array(encode(features[i:i + k])) for i in range(0, len(features), k)]))

    return run


def _timed(fn: Callable[..., Any], acc: dict[str, float], key: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[key] += time.perf_counter() - t0
    return wrapper


def _add_words(heard: dict[int, _Heard], segs: list[Any], pieces: list[Piece]) -> None:
    """One window's words added to the regions of its `pieces` (in packed order) they are
    placed in, with their times in the recording."""
    words = heard_words(segs)
    places = place_words([max(w.start, w.end - 0.05) for w, _ in words], pieces)
    for (w, seg), k in zip(words, places, strict=True):
        p = pieces[k]
        heard.setdefault(p.region, _Heard()).add(w.word, w.probability, seg,
                                                 p.source_time(w.start), p.source_time(w.end))


def _implausible_text(text: str, duration: float, opts: AsrOptions) -> bool:
    return is_credit_line(text) or spoken_units(text) > opts.max_syllables_per_s * max(duration, 1.0)


def _implausible(segs: list[Any], duration: float, max_rate: float) -> bool:
    text = "".join(s.text for s in segs)
    return (spoken_units(text) > max_rate * max(duration, 1.0)
            or any(s.compression_ratio > 2.4 for s in segs))


def split_pieces(regions: list[Region], max_s: float, context_s: float = 0.0,
                 duration: float = float("inf"), shared_mix: bool = False) -> list[Piece]:
    """Regions (with `context_s` of audio either side, never into a neighbouring region of
    the same channel, nor with `shared_mix` into another speaker's) cut to at most `max_s`."""
    pieces = []
    order = sorted(range(len(regions)), key=lambda i: (regions[i].channel, regions[i].start))
    # shared mix: per channel, the other speakers' region ends and starts, sorted
    others = {ch: (sorted(o.end for o in regions if o.channel != ch),
                   sorted(o.start for o in regions if o.channel != ch))
              for ch in {r.channel for r in regions}} if shared_mix else {}
    for k, i in enumerate(order):
        r = regions[i]
        prev = regions[order[k - 1]] if k and regions[order[k - 1]].channel == r.channel else None
        nxt = regions[order[k + 1]] if k + 1 < len(order) and \
            regions[order[k + 1]].channel == r.channel else None
        t = max(0.0, r.start - context_s, (prev.end + r.start) / 2 if prev else 0.0)
        end = min(duration, r.end + context_s, (r.end + nxt.start) / 2 if nxt else duration)
        if shared_mix:
            ends, starts = others[r.channel]
            k = bisect_right(ends, r.start)  # the other speaker's last turn ending by r.start
            t = max(t, ends[k - 1]) if k else t
            k = bisect_left(starts, r.end)  # ... and first turn starting from r.end
            end = min(end, starts[k]) if k < len(starts) else end
        while end - t > max_s:
            pieces.append(Piece(i, t, t + max_s, channel=r.channel))
            t += max_s
        pieces.append(Piece(i, t, end, channel=r.channel))
    return pieces


class Packed:
    """The packed audio, described, not held: parts back to back, each a stretch of a channel
    or silence, read from the recording when a window is decoded (a 3-hour call's speech
    would be another 0.7 GB). Sliced like the array it describes: `packed[a:b]`."""

    def __init__(self) -> None:
        self._at: list[int] = []  # where each part starts in the packed audio (samples)
        self._parts: list[tuple[Channel | None, int, int]] = []  # (channel or None: 0, start, n)
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def add(self, channel: Channel | None, start: int, stop: int) -> int:
        """Append channel[start:stop] (None: stop - start samples of silence); its length
        (a stretch past the channel's end is cut there, as slicing does)."""
        if channel is not None:
            start, stop = min(start, len(channel)), min(stop, len(channel))
        n = max(0, stop - start)
        if n:
            self._at.append(self._len)
            self._parts.append((channel, start, n))
            self._len += n
        return n

    def __getitem__(self, key: slice) -> np.ndarray:
        a, b, _ = key.indices(self._len)
        out = np.zeros(max(0, b - a), np.float32)
        k = max(0, bisect_right(self._at, a) - 1)
        while k < len(self._at) and self._at[k] < b:
            ch, start, n = self._parts[k]
            lo, hi = max(a, self._at[k]), min(b, self._at[k] + n)
            if ch is not None and hi > lo:
                src = start + lo - self._at[k]
                out[lo - a:hi - a] = ch[src:src + hi - lo]
            k += 1
        return out


def pack(audio: Audio, regions: list[Region], pieces: list[Piece], opts: AsrOptions,
         shared_mix: bool = False) -> tuple[Packed, list[dict[str, float]]]:
    """Concatenate pieces into <= window_s windows; returns the packed audio and window bounds
    (s). Between two pieces of one channel, the pause as it was heard when it is at most
    `keep_pause_s` and no region of another channel falls in it (the other party's voice
    leaks into a channel below the VAD's level, and Whisper would hear it), and never in a
    `shared_mix` (there the pause may hold the other speaker); else `gap_s` of silence."""
    gap = int(opts.gap_s * SAMPLE_RATE)
    packed = Packed()
    windows: list[dict[str, float]] = []
    cursor = 0.0  # seconds of packed audio written
    win_start, win_len = 0.0, 0.0
    channel = regions[pieces[0].region].channel
    lead = int(opts.lead_s * SAMPLE_RATE)
    other_spoke = _other_spoke(regions)
    prev: Piece | None = None
    for p in pieces:
        ch = audio.channels[regions[p.region].channel]
        pause: tuple[Channel | None, int, int] = (None, 0, gap)
        if prev is not None and regions[prev.region].channel == regions[p.region].channel \
                and not shared_mix and 0 <= p.src_start - prev.src_end <= opts.keep_pause_s \
                and not other_spoke(regions[p.region].channel, prev.src_end, p.src_start):
            a, b = (min(int(t * SAMPLE_RATE), len(ch)) for t in (prev.src_end, p.src_start))
            pause = (ch, a, b)
        prev = p
        need = p.duration + (pause[2] - pause[1]) / SAMPLE_RATE
        new_channel = regions[p.region].channel != channel
        channel = regions[p.region].channel
        if win_len and (new_channel or win_len + need > opts.window_s):
            windows.append({"start": win_start, "end": win_start + win_len})
            win_start, win_len = cursor, 0.0
        if win_len:
            cursor += packed.add(*pause) / SAMPLE_RATE
        else:
            packed.add(None, 0, lead)
            cursor += opts.lead_s
        n = packed.add(ch, int(p.src_start * SAMPLE_RATE), int(p.src_end * SAMPLE_RATE))
        p.packed_start = cursor
        cursor += n / SAMPLE_RATE
        win_len = cursor - win_start
    windows.append({"start": win_start, "end": cursor})
    return packed, windows


def _other_spoke(regions: list[Region]) -> Callable[[int, float, float], bool]:
    """(channel, start, end) -> whether a region of another channel overlaps start..end.
    Per channel, the other channels' regions by start with the running maximum of their
    ends, so each question is a bisection (a 3-hour call has thousands of regions)."""
    index = {}
    for ch in {r.channel for r in regions}:
        others = sorted((r.start, r.end) for r in regions if r.channel != ch)
        index[ch] = ([s for s, _ in others], list(accumulate((e for _, e in others), max)))

    def spoke(channel: int, start: float, end: float) -> bool:
        starts, ends = index[channel]
        k = bisect_left(starts, end)  # the other channels' regions that start before `end`
        return k > 0 and ends[k - 1] > start

    return spoke


def place_words(times: list[float], pieces: list[Piece]) -> list[int]:
    """Index into `pieces` (one window's, in packed order) of each word, from its time in
    the packed audio; the words in the decoder's order.

    Whisper's word times are rough: a word may come back seconds late (the agent's first
    word put in a later turn) and would move into another utterance, adding an answer delay.
    The decoder's order of the words is right, though, so their pieces must not go back in
    time: the longest run of words whose pieces never decrease is trusted, and a word off it
    is put in the nearest piece between its trusted neighbours' pieces."""
    if not times or not pieces:
        return [0] * len(times)
    raw = [_piece_at(pieces, t) for t in times]
    keep = _longest_non_decreasing(raw)
    out = list(raw)
    prev = None
    for k in range(len(raw)):
        if k in keep:
            prev = raw[k]
            continue
        nxt = next((raw[j] for j in range(k + 1, len(raw)) if j in keep), None)
        lo = prev if prev is not None else 0
        hi = nxt if nxt is not None else len(pieces) - 1
        out[k] = min(max(raw[k], lo), hi)
    return out


def _longest_non_decreasing(xs: list[int]) -> set[int]:
    """Positions of a longest non-decreasing subsequence of xs (patience sorting)."""
    tails: list[int] = []  # tails[L]: position ending the best run of length L + 1
    values: list[int] = []  # xs at those positions (non-decreasing)
    back = [-1] * len(xs)
    for k, x in enumerate(xs):
        lo = bisect_right(values, x)
        back[k] = tails[lo - 1] if lo else -1
        if lo == len(tails):
            tails.append(k)
            values.append(x)
        else:
            tails[lo], values[lo] = k, x
    out, k = set(), tails[-1] if tails else -1
    while k >= 0:
        out.add(k)
        k = back[k]
    return out


def _piece_at(pieces: list[Piece], t: float) -> int:
    """The piece whose packed span contains t, else the nearest one."""
    best, dist = 0, float("inf")
    for i, p in enumerate(pieces):
        a, b = p.packed_start, p.packed_start + p.duration
        d = 0.0 if a <= t <= b else min(abs(t - a), abs(t - b))
        if d < dist:
            best, dist = i, d
            if d == 0.0:
                break
    return best


def heard_words(segs: list[Any]) -> list[tuple[Any, Any]]:
    """(word, its segment) of one window's segments, in the decoder's order, without what
    Whisper wrote that was not in the audio: segments it calls silence (`_is_noise`), a
    sentence written again after the audio ended (`_stacked_tail`) or straight after itself
    (`_said_twice`), and a decoding loop cut back to two turns (`_cut_loop`)."""
    words = [(w, seg) for seg in segs if not _is_noise(seg) for w in seg.words or []]
    words = words[:len(words) - _stacked_tail([w for w, _ in words])]
    return _cut_loop(_said_twice(words))


def _stacked_tail(words: list[Any], min_run: int = 3) -> int:
    """How many words at the end were written after the audio ran out: the aligner gives
    them no time at all, all at one instant, and they say again what was said before
    (measured on real speech: a 19-character sentence read once came back twice, the second
    time 19 words of 0 s at 5.54 s). A short last word or two squeezed into the last frame
    (再见) are speech, and kept."""
    n = 0
    while n < len(words) and _length(words[-1 - n]) <= 0.0 and words[-1 - n].end == words[-1].end:
        n += 1
    if n < min_run:
        return 0
    tail = _PUNCT.sub("", "".join(w.word for w in words[-n:]))
    return n if tail and tail in _PUNCT.sub("", "".join(w.word for w in words[:-n])) else 0


def _said_twice(words: list[tuple[Any, Any]], min_chars: int = 6,
                min_run: int = 3) -> list[tuple[Any, Any]]:
    """Words with a sentence written twice in a row (X X, X of `min_chars`+ characters) told
    once, when the aligner found no audio for part of it: `min_run`+ words of 0 s at one
    instant inside the pair. Measured on real speech with NumPy's BLAS on one thread: a
    sentence read once came back as 我想问我在冰台新区有房我想问我在冰台新区有房, the first
    copy's last words and the second's first all at 4.06 s, the rest of both timed. Each
    word of the kept copy takes the time of whichever copy has one. A sentence people do say
    twice is timed twice, and kept."""
    keys = [_PUNCT.sub("", w.word) for w, _ in words]
    n = len(words)
    for i in range(n):
        if not keys[i]:
            continue
        for u in range(1, (n - i) // 2 + 1):
            if keys[i + u] != keys[i] or keys[i:i + u] != keys[i + u:i + 2 * u] \
                    or len("".join(keys[i:i + u])) < min_chars \
                    or not _zero_run([w for w, _ in words[i:i + 2 * u]], min_run):
                continue
            once = [b if _length(a[0]) <= 0 < _length(b[0]) else a
                    for a, b in zip(words[i:i + u], words[i + u:i + 2 * u], strict=True)]
            return words[:i] + once + _said_twice(words[i + 2 * u:], min_chars, min_run)
    return words


def _length(word: Any) -> float:
    return float(word.end - word.start)


def _zero_run(words: list[Any], min_run: int) -> bool:
    """Whether `min_run`+ consecutive words have no duration, all at one instant."""
    run = 0
    for k, w in enumerate(words):
        if _length(w) > 0:
            run = 0
        elif run and w.end == words[k - 1].end:
            run += 1
        else:
            run = 1  # a zero-length word at another instant starts a run of its own
        if run >= min_run:
            return True
    return False


def _cut_loop(words: list[tuple[Any, Any]], max_unit: int = 6) -> list[tuple[Any, Any]]:
    """Words with a unit of 1-`max_unit` words said `LOOP_MIN`+ times in a row cut back to
    two turns. Done on the window's words before they are placed, because a loop's words
    are spread over every region after it (a 12 s window of five regions came back as
    按钮，按钮，… in all five), where the text-level cut no longer sees them."""
    keys = [_PUNCT.sub("", w.word) for w, _ in words]
    out: list[tuple[Any, Any]] = []
    i = 0
    while i < len(words):
        for u in range(1, max_unit + 1):
            unit = keys[i:i + u]
            if not any(unit):
                continue
            reps = 1
            while keys[i + reps * u:i + (reps + 1) * u] == unit:
                reps += 1
            if reps >= (NUMBER_LOOP_MIN if is_number("".join(unit)) else LOOP_MIN):
                out.extend(words[i:i + 2 * u])
                i += reps * u
                break
        else:
            out.append(words[i])
            i += 1
    return out


def _is_noise(seg: object) -> bool:
    # Whisper's own silence test: likely no speech and a low-confidence decode.
    return getattr(seg, "no_speech_prob", 0) > 0.6 and getattr(seg, "avg_logprob", 0) < -1.0
