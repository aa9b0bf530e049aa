"""Batched Whisper transcription of VAD regions: the recognizer's own logic.

The speech regions are packed into windows (packing.py), decoded as one batch through
faster-whisper (whisper.py, the only module that knows its internals), cleared of what
Whisper wrote that was not in the audio (filters.py), and the words mapped back to the
region they came from by their timestamps.

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

No words without speech: a region whose audio holds no voice at all (audio/voicing.py: a
click of the headset, a knock, a burst of line noise the VAD kept) holds no syllable, so
what Whisper writes on it (第1, 试试, 啊啊 on 0.5 s of noise) is dropped, and it is not
`unheard` either; a region whose text is denser than speech can be (filters.unsupported)
is kept and marked `dense`, for the rules to doubt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.audio.syllables import nuclei
from callaudit.audio.voicing import voiced_s
from callaudit.numerics import one_blas_thread
from callaudit.records import Region, Utterance
from callaudit.speech import attribution
from callaudit.speech.attribution import AttributionOptions
from callaudit.speech.filters import (
    MIN_VOICED_S,
    heard_words,
    implausible,
    implausible_text,
    is_credit_line,
    unsupported,
)
from callaudit.speech.packing import Packed, Piece, pack, place_words, split_pieces
from callaudit.speech.text import collapse_repeats, spoken_units, to_simplified
from callaudit.speech.whisper import BatchedWhisper, Item

GAP_CONTEXT_S = 1.0  # a stretch without words is decoded again with this much of the region
# before it: Whisper starting mid-sentence hears nothing (measured on a fast 8 kHz turn)
GAP_SLACK_S = 0.1  # ... and the words ending this soon after its start are the ones before it


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
class Transcript:
    """What the recognizer heard: utterances (regions with words), and `unheard`, the
    speech regions (VAD) in which no word was heard even decoded alone: a rule that finds a
    phrase missing there cannot know the agent did not say it. An utterance whose text is
    denser than speech can be (filters.unsupported) is marked `dense`."""

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
    """Transcribes a recording's speech regions (audio/vad.py) with Whisper, batched:
    `transcribe_all(audio, regions) -> Transcript`. Loads the model when built (ModelError
    when it cannot); `opts` as AsrOptions documents them."""

    def __init__(self, model_dir: Path, opts: AsrOptions | None = None) -> None:
        self.opts = opts or AsrOptions()
        self.whisper = BatchedWhisper(model_dir, self.opts.compute_type, self.opts.cpu_threads,
                                      self.opts.encode_batch)
        self.model = self.whisper.model
        # Seconds per ASR stage, for the report's timing and the benchmark. "alone" (regions
        # decoded again in their own windows) is a part of the others, not added to them.
        self.stage_s = self.whisper.stage_s
        self.redecoded: tuple[int, float] = (0, 0.0)  # transcribe_mix's last: turns, seconds

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

    def transcribe_mix(
        self, audio: Audio, regions: list[Region], two: Audio, turns: list[Region],
        overlaps: list[tuple[float, float]], progress: Callable[[int, int], None] | None = None,
        opts: AttributionOptions | None = None, by_region: bool = True,
    ) -> Transcript:
        """A mono mix of two speakers transcribed as one channel is (dense windows, the
        second pass of `transcribe_all`), its words given to the speakers' turns by their
        times (speech/attribution.py). `by_region`: only the stretches of speech (VAD
        regions) one speaker holds are decoded in the mix, and the turns of a stretch in
        which the speaker changes are decoded speaker by speaker, as `transcribe_all(two,
        turns, shared_mix=True)` does; else every stretch in the mix, and the turns whose
        words are not trusted to their times (a word straddling a change with no pause, a
        long overlap of the two voices) decoded again alone. `audio`, `regions`: the mix
        and its speech regions (one channel); `two`, `turns`, `overlaps`: the separation
        (diarize.Separated's audio, its regions: the turns, sorted by start, the speaker
        as the channel; Diarization's overlaps, s). One utterance per turn with words, on
        its speaker's channel, as `transcribe_all(two, turns)` gives; `unheard` on the
        speakers' channels. `self.redecoded`: turns decoded apart (or again) and seconds."""
        if not regions or not turns:
            return Transcript([], [])
        with one_blas_thread():
            apart, inner = attribution.changing(regions, turns, overlaps, opts) \
                if by_region else (set(), [])
            mixed = [r for i, r in enumerate(regions) if i not in apart]
            heard, unheard = self._hear(audio, mixed, progress, False,
                                        [regions[i] for i in sorted(apart)]) \
                if mixed else ({}, [])
            words = sorted(((w, h) for h in heard.values() for w in h.words),
                           key=lambda x: x[0][3])
            spans = [(w[2], w[3]) for w, _ in words]
            given = attribution.assign(spans, turns)
            mine: dict[int, _Heard] = {}
            for (w, h), k in zip(words, given, strict=True):
                t = mine.setdefault(k, _Heard())
                t.words.append(w)
                t.no_speech_prob = max(t.no_speech_prob, h.no_speech_prob)
                t.compression_ratio = max(t.compression_ratio, h.compression_ratio)
            unheard = [p for u in unheard for p in attribution.split_by_turns(u, turns)]
            t0 = time.perf_counter()
            if by_region:
                if inner:
                    got, lost = self._hear(two, [turns[k] for k in inner], None, True)
                    mine.update({inner[j]: h for j, h in got.items()})
                    unheard += lost
                self.redecoded = (len(inner), time.perf_counter() - t0)
            else:
                redo = sorted(attribution.to_redecode(spans, given, turns, overlaps, opts))
                todo = {k: [Piece(k, *attribution.bounds(k, turns, self.opts.context_s,
                                                         audio.duration), channel=turns[k].channel)]
                        for k in redo if turns[k].duration >= self.opts.min_alone_s}
                for k, h in self._alone(two, todo).items():
                    if not implausible_text(h.text, turns[k].duration,
                                            self.opts.max_syllables_per_s):
                        mine[k] = h  # alone, its own words: kept (nothing heard: the mix's stay)
                self.redecoded = (len(todo), time.perf_counter() - t0)
            return Transcript(self._utterances(two, turns, mine),
                              sorted(unheard, key=lambda u: (u.start, u.channel)))

    def _transcribe_all(self, audio: Audio, regions: list[Region],
                        progress: Callable[[int, int], None] | None, shared_mix: bool,
                        ) -> Transcript:
        heard, unheard = self._hear(audio, regions, progress, shared_mix)
        return Transcript(self._utterances(audio, regions, heard),
                          sorted(unheard, key=lambda u: (u.start, u.channel)))

    def _hear(self, audio: Audio, regions: list[Region],
              progress: Callable[[int, int], None] | None, shared_mix: bool,
              fences: list[Region] | None = None,
              ) -> tuple[dict[int, _Heard], list[Region]]:
        """The words of each region (index -> its words, for the regions with some) and the
        stretches in which no word was heard even decoded again alone. `fences`: speech
        of the same channels decoded elsewhere, which no kept pause may take in."""
        pieces = split_pieces(regions, self.opts.max_piece_s, self.opts.context_s, audio.duration,
                              shared_mix)
        packed, windows = pack(audio, regions, pieces, self.opts, shared_mix, fences)
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
                if r.duration >= self.opts.min_alone_s and self._voiced(audio, r) >= MIN_VOICED_S:
                    again[(i, "lost", r.start, r.end)] = own  # (no voice: no speech to hear)
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
                        not implausible_text(said.text, b - a, self.opts.max_syllables_per_s):
                    heard[i] = heard[i].with_words(said, lo, hi)
                elif kind == "gap":  # (a hole, too few syllables to be sure, stays as it was)
                    unheard.append(Region(r.channel, a, b, r.level_dbfs))
            elif h and heard[i].units < h.units and not implausible_text(
                    h.text, r.duration, self.opts.max_syllables_per_s):
                heard[i] = h  # "short": alone, it heard more
        return heard, unheard

    def _utterances(self, audio: Audio, regions: list[Region], heard: dict[int, _Heard],
                    ) -> list[Utterance]:
        """An utterance for each region with words that someone said (region order)."""
        utterances = []
        for i, r in enumerate(regions):
            h = heard.get(i)
            text = collapse_repeats(to_simplified(h.text)) if h else ""
            if not h or not text or is_credit_line(text):
                continue
            why = unsupported(spoken_units(text), r.duration, self._voiced(audio, r),
                              self.opts.max_syllables_per_s, r.level_dbfs)
            if why == "no_voice":
                continue  # words on a sound that holds no syllable: nobody said them
            utterances.append(Utterance(
                channel=r.channel, start=r.start, end=r.end, text=text, level_dbfs=r.level_dbfs,
                confidence=h.confidence, no_speech_prob=h.no_speech_prob,
                compression_ratio=h.compression_ratio, dense=why == "too_dense"))
        return utterances

    def _syllables(self, audio: Audio, r: Region | tuple[int, float, float]) -> int:
        """Syllable nuclei heard in a region or a (channel, start s, end s) stretch."""
        ch, a, b = (r.channel, r.start, r.end) if isinstance(r, Region) else r
        return len(nuclei(np.asarray(audio.channels[ch][int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)],
                                     np.float32)))

    def _voiced(self, audio: Audio, r: Region) -> float:
        """Seconds of voice (audio/voicing.py) in region `r`, counted up to MIN_VOICED_S:
        all that is asked is whether it holds any."""
        return voiced_s(np.asarray(audio.channels[r.channel][int(r.start * SAMPLE_RATE):
                                                             int(r.end * SAMPLE_RATE)], np.float32),
                        enough=MIN_VOICED_S)

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

    def _options(self) -> Any:
        return self.whisper.options(self.opts.beam_size)

    def _decode(self, packed: Packed, windows: list[dict[str, float]],
                ) -> Iterator[tuple[int, list[Any]]]:
        """(window index, its segments) of every window: features at the window's own
        (bucketed) length, batched by length, through faster-whisper's batched forward pass
        (encode, beam search, word alignment); implausible windows once more at 30 s."""
        fe = self.whisper.features
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
            if n < fe.nb_max_frames and implausible(segs, meta["duration"],
                                                     self.opts.max_syllables_per_s):
                retry.append((fe.nb_max_frames, span, meta))
            else:
                yield meta["window"], segs
        for (_, _, meta), segs in self._forward(packed, retry):
            yield meta["window"], segs

    def _forward(self, packed: Packed, items: list[Item]) -> Iterator[tuple[Item, list[Any]]]:
        return self.whisper.forward(packed, items, self._options(), self.opts.batch_size)


def _add_words(heard: dict[int, _Heard], segs: list[Any], pieces: list[Piece]) -> None:
    """One window's words added to the regions of its `pieces` (in packed order) they are
    placed in, with their times in the recording."""
    words = heard_words(segs)
    places = place_words([max(w.start, w.end - 0.05) for w, _ in words], pieces)
    for (w, seg), k in zip(words, places, strict=True):
        p = pieces[k]
        heard.setdefault(p.region, _Heard()).add(w.word, w.probability, seg,
                                                 p.source_time(w.start), p.source_time(w.end))

