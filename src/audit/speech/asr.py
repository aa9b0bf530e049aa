"""Batched Whisper transcription of VAD regions.

Whisper's encoder costs the same for every 30 s window however much speech it holds, so
the speech regions of each channel are packed back to back (silence cut out, a short gap
kept between regions so the decoder sees a pause) into as few windows as possible, decoded
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
"""

from __future__ import annotations

import os
import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audit.audio.decode import SAMPLE_RATE, Audio
from audit.errors import ModelError
from audit.records import Region, Utterance
from audit.speech.text import collapse_repeats, spoken_units, to_simplified

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
)]
_PUNCT = re.compile(r"[\s\W_]+")  # spaces and punctuation (CJK characters are word characters)


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
    batch_size: int = 8
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0 = all cores
    window_s: float = 30.0  # Whisper's input length
    gap_s: float = 0.8  # silence kept between packed regions (helps word times find the cut)
    lead_s: float = 0.5  # silence before a window's first region: Whisper skips a short
    # utterance at the very start of a window (喂，说吧 vanished without it)
    max_piece_s: float = 28.0  # longer regions are cut so one piece always fits a window
    context_s: float = 0.2  # audio kept around each region: VAD edges are tight (10 ms) and
    # soft onsets (h, x, s) cut off made Whisper mishear (希望 -> 洗澡, 换 -> 放)
    bucket_s: float = 10.0  # encoder input lengths are rounded up to a multiple of this
    tail_s: float = 2.0  # silence kept after a window's speech, so the decoder sees the end
    max_syllables_per_s: float = 9.0  # more than this is a decoding loop, not speech
    full_windows: bool = False  # True: pad every window to 30 s, as faster-whisper does


@dataclass
class Piece:
    """A region (or part of a long one) and where it sits in the packed audio."""

    region: int  # index into the region list
    src_start: float
    src_end: float
    packed_start: float = 0.0

    @property
    def duration(self) -> float:
        return self.src_end - self.src_start


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
        # Seconds per ASR stage, for the report's timing and the benchmark.
        self.stage_s: dict[str, float] = {"encode": 0.0, "decode": 0.0, "align": 0.0}
        self.model.encode = _timed(self.model.encode, self.stage_s, "encode")  # type: ignore[method-assign]
        self.model.add_word_timestamps = _timed(  # type: ignore[method-assign]
            self.model.add_word_timestamps, self.stage_s, "align")

    def transcribe(
        self, audio: Audio, regions: list[Region],
        progress: Callable[[int, int], None] | None = None, shared_mix: bool = False,
    ) -> list[Utterance]:
        """`shared_mix`: the channels are one mono mix split by speaker (diarize.py), so the
        context around a region must not take in the other speaker's neighbouring words."""
        if not regions:
            return []
        pieces = split_pieces(regions, self.opts.max_piece_s, self.opts.context_s, audio.duration,
                              shared_mix)
        packed, windows = pack(audio, regions, pieces, self.opts)
        words_by_region: dict[int, list[str]] = {}  # region index -> its words, in order
        done = 0
        for seg in self._decode(packed, windows):
            if _is_noise(seg):
                continue
            for w in seg.words or []:
                p = _piece_at(pieces, max(w.start, w.end - 0.05))
                words_by_region.setdefault(pieces[p].region, []).append(w.word)
            if progress:
                done = max(done, _window_index(windows, seg.start) + 1)
                progress(done, len(windows))
        if progress:
            progress(len(windows), len(windows))
        utterances = []
        for i, r in enumerate(regions):
            text = collapse_repeats(to_simplified("".join(words_by_region.get(i, []))))
            if not text or is_credit_line(text):
                continue
            utterances.append(Utterance(channel=r.channel, start=r.start, end=r.end, text=text,
                                        level_dbfs=r.level_dbfs))
        return utterances


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

    def _decode(self, packed: np.ndarray, windows: list[dict[str, float]]) -> Iterator[Any]:
        """Segments of every window: features at the window's own (bucketed) length, batched
        by length, through faster-whisper's batched forward pass (encode, beam search, word
        alignment); implausible windows once more at 30 s."""
        fe = self.model.feature_extractor
        frames_per_s = fe.sampling_rate // fe.hop_length  # 100 mel frames per second
        bucket = max(1, int(self.opts.bucket_s * frames_per_s))
        tail = int(self.opts.tail_s * frames_per_s)
        items = []
        for w in windows:
            chunk = packed[int(w["start"] * SAMPLE_RATE):int(w["end"] * SAMPLE_RATE)]
            feat = fe(chunk)[..., :-1]
            n = fe.nb_max_frames if self.opts.full_windows else \
                min(fe.nb_max_frames, -(-(feat.shape[-1] + tail) // bucket) * bucket)
            meta = {"offset": w["start"], "duration": w["end"] - w["start"], "segments": []}
            items.append((n, feat, meta))
        retry = []
        for (n, feat, meta), segs in self._forward(items):
            if n < fe.nb_max_frames and _implausible(segs, meta["duration"],
                                                     self.opts.max_syllables_per_s):
                retry.append((fe.nb_max_frames, feat, meta))
            else:
                yield from segs
        for _, segs in self._forward(retry):
            yield from segs

    def _forward(self, items: list[tuple[int, np.ndarray, dict[str, Any]]],
                 ) -> Iterator[tuple[tuple[int, np.ndarray, dict[str, Any]], list[Any]]]:
        from faster_whisper.transcribe import Segment
        from faster_whisper.transcribe import Word as FwWord

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
                              for _, f, _ in batch]).astype(np.float32)
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


def _timed(fn: Callable[..., Any], acc: dict[str, float], key: str) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[key] += time.perf_counter() - t0
    return wrapper


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
            pieces.append(Piece(i, t, t + max_s))
            t += max_s
        pieces.append(Piece(i, t, end))
    return pieces


def pack(audio: Audio, regions: list[Region], pieces: list[Piece], opts: AsrOptions,
         ) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Concatenate pieces into <= window_s windows; returns packed audio and window bounds (s)."""
    gap = np.zeros(int(opts.gap_s * SAMPLE_RATE), np.float32)
    parts: list[np.ndarray] = []
    windows: list[dict[str, float]] = []
    cursor = 0.0  # seconds of packed audio written
    win_start, win_len = 0.0, 0.0
    channel = regions[pieces[0].region].channel
    lead = np.zeros(int(opts.lead_s * SAMPLE_RATE), np.float32)
    for p in pieces:
        need = p.duration + opts.gap_s
        new_channel = regions[p.region].channel != channel
        channel = regions[p.region].channel
        if win_len and (new_channel or win_len + need > opts.window_s):
            windows.append({"start": win_start, "end": win_start + win_len})
            win_start, win_len = cursor, 0.0
        if win_len:
            parts.append(gap)
            cursor += opts.gap_s
        else:
            parts.append(lead)
            cursor += opts.lead_s
        ch = audio.channels[regions[p.region].channel]
        seg = ch[int(p.src_start * SAMPLE_RATE) : int(p.src_end * SAMPLE_RATE)]
        p.packed_start = cursor
        parts.append(seg)
        cursor += len(seg) / SAMPLE_RATE
        win_len = cursor - win_start
    windows.append({"start": win_start, "end": cursor})
    return np.concatenate(parts).astype(np.float32), windows


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


def _window_index(windows: list[dict[str, float]], t: float) -> int:
    for i, w in enumerate(windows):
        if t < w["end"]:
            return i
    return len(windows) - 1


def _is_noise(seg: object) -> bool:
    # Whisper's own silence test: likely no speech and a low-confidence decode.
    return getattr(seg, "no_speech_prob", 0) > 0.6 and getattr(seg, "avg_logprob", 0) < -1.0
