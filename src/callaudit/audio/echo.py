"""Line echo: a party's own voice returned on the other party's channel, delayed and
attenuated (a hybrid's echo, a handset's sidetone), found and taken out of that channel.

Left in, every agent line is heard again as the caller's: the echo of the agent's closing
becomes the caller's last request, and the caller seems to talk as much as the agent.

Found per direction, source -> leg, over the frames where the source speaks and the leg is
clearly quieter (no double talk): the leg's samples are fitted from the source's delayed by
up to ECHO_MAX_DELAY_S, with a short FIR (least squares, ECHO_TAPS taps around the delay of
the strongest cross-correlation). It is an echo when the fit explains most of the leg there
(ERLE at least ECHO_MIN_ERLE_DB) and the returned voice is quieter than the source (echo
return loss at least ECHO_MIN_LOSS_DB). Then the fitted echo is subtracted from the whole leg:
the linear part of an echo canceller (terms of ITU-T G.168: ERL, the echo's loss against the
source; ERLE, the loss cancelling adds). A call without echo is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.audio.levels import frame_db
from callaudit.audio.samples import Channel, blocks
from callaudit.audio.tones import runs
from callaudit.audio.vad import VadOptions, speech_regions
from callaudit.records import Region

ECHO_MAX_DELAY_S = 0.3  # echo paths of PBXs, hybrids and VoIP legs reach this far
ECHO_TAPS = 64  # FIR taps (4 ms at 16 kHz) ...
ECHO_PRE_TAPS = 8  # ... starting this many samples before the strongest delay
ECHO_MIN_CORR = 0.3  # normalised cross-correlation at the best delay, to fit at all
ECHO_MIN_ERLE_DB = 6.0  # the fit removes at least this much of the leg where the source speaks
ECHO_MIN_LOSS_DB = 3.0  # an echo is quieter than its source by at least this (ERL)
FIT_FRAME_S = 0.02
FIT_MAX_S = 60.0  # seconds of the source's speech used for the fit (spread over the call)
FIT_SPAN = int(2.0 / FIT_FRAME_S)  # frames: the longest span of the fit
SPEAKS_DB = 15.0  # the source speaks: a frame this far over its channel's 10th percentile
QUIETER_DB = 6.0  # ... and the leg is at least this much quieter (not the leg's own voice)


@dataclass
class EchoPath:
    """The source's voice found on the leg: `delay_s` the strongest delay, `loss_db` how much
    quieter it returns (ERL), `erle_db` how much of the leg the fit explained where the source
    spoke, `corr` the normalised cross-correlation at the delay. `before` are the leg's speech
    regions as they were with the echo in (the echo spans are what cancelling removed)."""

    source: int
    leg: int
    delay_s: float
    loss_db: float
    erle_db: float
    corr: float
    taps: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    first_tap: int = 0  # samples of delay of taps[0]
    before: list[Region] = field(default_factory=list)

    def to_json(self) -> dict[str, float | int]:
        return {"source": self.source, "leg": self.leg, "delay_ms": round(self.delay_s * 1000),
                "loss_db": round(self.loss_db, 1), "erle_db": round(self.erle_db, 1),
                "corr": round(self.corr, 2)}


def find_echo(audio: Audio, source: int, leg: int) -> EchoPath | None:
    """The echo of channel `source` on channel `leg`, or None when there is none."""
    x, y = audio.channels[source], audio.channels[leg]
    spans = _fit_spans(x, y)
    if not spans:
        return None
    max_lag = int(ECHO_MAX_DELAY_S * SAMPLE_RATE)
    corr = np.zeros(max_lag + 1)
    ex = ey = 0.0
    for a, b in spans:
        xs, ys = _source_at(x, a - max_lag, b), np.asarray(y[a:b], np.float64)
        n = len(xs) + len(ys)
        size = 1 << int(np.ceil(np.log2(n)))
        c = np.fft.irfft(np.fft.rfft(xs, size) * np.conj(np.fft.rfft(ys, size)), size)
        corr += c[max_lag::-1]  # corr[l]: sum over n of y[n] x[n - l]
        ex += float(np.dot(xs[max_lag:], xs[max_lag:]))
        ey += float(np.dot(ys, ys))
    if ex <= 0 or ey <= 0:
        return None
    lag = int(np.argmax(np.abs(corr)))
    peak = float(abs(corr[lag]) / np.sqrt(ex * ey))
    if peak < ECHO_MIN_CORR:
        return None
    first = lag - ECHO_PRE_TAPS
    r = np.zeros((ECHO_TAPS, ECHO_TAPS))
    p = np.zeros(ECHO_TAPS)
    for a, b in spans:
        cols = _columns(x, a, b, first)
        ys = np.asarray(y[a:b], np.float64)
        r += cols.T @ cols
        p += cols.T @ ys
    taps = np.linalg.solve(r + 1e-9 * np.trace(r) / ECHO_TAPS * np.eye(ECHO_TAPS), p)
    echo = float(taps @ r @ taps)
    residual = max(ey - 2 * float(taps @ p) + echo, 1e-12)
    erle = 10 * np.log10(ey / residual)
    loss = -10 * np.log10(max(echo, 1e-12) / ex)
    if erle < ECHO_MIN_ERLE_DB or loss < ECHO_MIN_LOSS_DB:
        return None
    return EchoPath(source, leg, lag / SAMPLE_RATE, float(loss), float(erle), peak,
                    taps.astype(np.float32), first)


def cancel(audio: Audio, path: EchoPath) -> None:
    """Subtract the fitted echo from the leg, in place, a block at a time."""
    x, y = audio.channels[path.source], audio.channels[path.leg]
    for a, block in blocks(y, 1 << 20):
        b = a + len(block)
        y[a:b] = block - _estimate(x, path.taps, path.first_tap, a, b)


def echo_spans(path: EchoPath, after: list[Region],
               other: list[tuple[float, float]] | None = None, min_s: float = 0.3,
               ) -> list[tuple[float, float]]:
    """The parts of the leg's speech regions before cancelling that are neither speech after
    it nor `other` sound labelled on the leg (tones, music, a background voice): the echo
    alone (at least `min_s` long)."""
    kept = sorted([(r.start, r.end) for r in after if r.channel == path.leg] + list(other or []))
    out = []
    for r in path.before:
        pieces = [(r.start, r.end)]
        for a, b in kept:
            pieces = [q for s, e in pieces for q in ((s, min(e, a)), (max(s, b), e)) if q[1] > q[0]]
        out += [(round(s, 3), round(e, 3)) for s, e in pieces if e - s >= min_s]
    return out


def _fit_spans(x: Channel, y: Channel) -> list[tuple[int, int]]:
    """Sample spans where `x` speaks and `y` is clearly quieter, up to FIT_MAX_S in all,
    spread over the call."""
    n = int(FIT_FRAME_S * SAMPLE_RATE)
    dx, dy = frame_db(x, n), frame_db(y, n)
    k = min(len(dx), len(dy))
    if k == 0:
        return []
    dx, dy = dx[:k], dy[:k]
    on = (dx > np.percentile(dx, 10) + SPEAKS_DB) & (dy < dx - QUIETER_DB) & (dx > -60)
    # 60 ms or more, at most FIT_SPAN_S each (a long one, hold music, is no better a fit)
    spans = [(a * n, min(b, a + FIT_SPAN) * n) for a, b in runs(on) if b - a >= 3]
    total = sum(b - a for a, b in spans)
    limit = int(FIT_MAX_S * SAMPLE_RATE)
    if total > limit:  # every k-th span, so the fit sees the whole call
        step = int(np.ceil(total / limit))
        spans = spans[::step]
    return spans


def _source_at(x: Channel, a: int, b: int) -> np.ndarray:
    """x[a:b] in float64, zeros where [a, b) lies outside the channel."""
    out = np.zeros(b - a)
    lo, hi = max(a, 0), min(b, len(x))
    if hi > lo:
        out[lo - a:hi - a] = x[lo:hi]
    return out


def _lagged(x: Channel, a: int, b: int, first: int) -> np.ndarray:
    """The source samples the taps reach for leg samples [a, b): x[a - first - ECHO_TAPS + 1
    : b - first] (ECHO_TAPS - 1 more than b - a)."""
    return _source_at(x, a - first - ECHO_TAPS + 1, b - first)


def _columns(x: Channel, a: int, b: int, first: int) -> np.ndarray:
    """(b - a, ECHO_TAPS): row n holds x[n - first - j] for tap j (a view of one copy)."""
    return sliding_window_view(_lagged(x, a, b, first), ECHO_TAPS)[:, ::-1]


def _estimate(x: Channel, taps: np.ndarray, first: int, a: int, b: int) -> np.ndarray:
    """The echo of x on the leg for samples [a, b)."""
    return np.convolve(_lagged(x, a, b, first), taps.astype(np.float64),
                       mode="valid").astype(np.float32)


def cancel_echoes(audio: Audio, stereo: bool, opts: VadOptions) -> list[EchoPath]:
    """Find the echo of each channel on the other and cancel it, in place (a stereo call
    only: one mix on two channels is not an echo). Each path keeps the leg's speech regions
    as they were before (`before`), so what cancelling removed can be shown."""
    if not stereo or len(audio.channels) < 2:
        return []
    paths = [p for s, leg in ((0, 1), (1, 0)) if (p := find_echo(audio, s, leg)) is not None]
    for p in paths:
        p.before = speech_regions(audio.channels[p.leg], p.leg, opts)
    for p in paths:  # (both ways: the second is fitted on the first leg as it was)
        cancel(audio, p)
    return paths
