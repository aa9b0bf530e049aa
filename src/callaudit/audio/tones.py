"""Call-progress tones and other sound that is not speech: ringback of the common tone plans,
busy tone and DTMF, and (labelled in vad.call_regions) music.

webrtcvad hears a tone as speech, so this runs before the speech regions are used: the
pipeline drops speech frames that lie on a labelled span, and where the ringback ends the
call connects (the clock of the answer delay; see the connect definition in
metrics/timing.py).

Tone plans (frequencies in Hz, cadences in seconds on/off), from ITU-T E.180 Supplement 2
("Various tones used in national networks") unless said otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.audio.samples import Channel


@dataclass(frozen=True)
class TonePlan:
    kind: str  # ringback | busy
    name: str  # cn | na | uk | eu
    freqs: tuple[float, ...]  # Hz, sounded together
    cadence: tuple[float, ...]  # one period: on, off, on, off ... (seconds)
    source: str

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def period(self) -> float:
        return sum(self.cadence)

    def parts(self) -> list[tuple[float, float]]:
        """The on-times of one period, (start, end) from the period's start."""
        out, t = [], 0.0
        for on, off in zip(self.cadence[::2], self.cadence[1::2], strict=True):
            out.append((t, t + on))
            t += on + off
        return out


PLANS = (
    TonePlan("ringback", "cn", (450.0,), (1.0, 4.0), "China: E.180 Suppl. 2, YD/T 1017"),
    TonePlan("ringback", "na", (440.0, 480.0), (2.0, 4.0),
             "North America: precise tone plan, ANSI T1.401 / E.180 Suppl. 2"),
    TonePlan("ringback", "uk", (400.0, 450.0), (0.4, 0.2, 0.4, 2.0),
             "UK double ring: BT SIN 350 / E.180 Suppl. 2"),
    TonePlan("ringback", "eu", (425.0,), (1.0, 4.0),
             "Europe (CEPT): ETSI TR 101 041 / E.180 Suppl. 2"),
    TonePlan("busy", "cn", (450.0,), (0.35, 0.35), "China: E.180 Suppl. 2"),
    TonePlan("busy", "na", (480.0, 620.0), (0.5, 0.5), "North America: ANSI T1.401"),
)
DTMF_LOW = (697.0, 770.0, 852.0, 941.0)  # ITU-T Q.23 key tones: one low + one high
DTMF_HIGH = (1209.0, 1336.0, 1477.0, 1633.0)

FRAME_S = 0.05  # 20 Hz resolution: 440 and 480 Hz fall in frames of their own
RING_SEARCH_S = 60.0  # ringback can only precede the answer: looked for this long after the
# recording first holds sound (a recorder started at dial may hold seconds of silence first)
QUIET_DBFS = -40.0  # frames under this are silence or line noise, never a tone or a voice
TONAL_SHARE = 0.6  # a frame is a tone when its frequencies hold this share of its power
MIN_TONE_DB = -60.0  # ... and it is louder than this (dBFS)
CHUNK_FRAMES = 6000  # frames analysed at a time (5 min), so a long call needs no big copy
OPEN_DB = 10.0  # the line opens: a channel rises this far over its level between the rings
OPEN_MAX_DB = -40.0  # ... to line noise, not to speech (louder than this is a voice)


@dataclass
class Ringback:
    """The tones of a recording. rings/connect_s/bursts describe the ringback before the
    answer (rings None: none recorded); `spans` are all labelled non-speech spans,
    (start s, end s, label, channel) with label ringback:<plan> | busy:<plan> | dtmf | music |
    noise (music and noise are added by vad.call_regions)."""

    rings: int | None
    connect_s: float
    bursts: list[tuple[float, float]] = field(default_factory=list)
    plan: str = ""  # the ringback's label (ringback:cn ...), "" when none
    spans: list[tuple[float, float, str, int]] = field(default_factory=list)
    # when nothing marks the answer: the next ring was due here and was not heard, so the
    # call was answered by then (None: a mark was found, or no ringback)
    answered_by_s: float | None = None

    def overlaps(self, start: float, end: float) -> bool:
        """Does [start, end) touch a ringback burst (on any channel)?"""
        return any(s < end and start < e for s, e in self.bursts)

    def on_channel(self, channel: int) -> list[tuple[float, float]]:
        return [(s, e) for s, e, _, c in self.spans if c == channel]


def detect_ringback(audio: Audio) -> Ringback:
    """Ringback of any plan in PLANS before the answer, busy tone and DTMF anywhere.

    Ringback: tonal frames of a plan form bursts, bursts matching its cadence form rings, the
    first ring starting within one period of the first sound of the recording (digital
    silence or line noise before it, a recorder started at dial, does not matter; the last
    ring may be cut short by the answer). The channel and plan with the most rings win."""
    frames = [_analyse(ch) for ch in audio.channels]
    spans: list[tuple[float, float, str, int]] = []
    busy_frames: list[np.ndarray] = []
    for c, (share, level) in enumerate(frames):
        loud = level > MIN_TONE_DB
        taken = np.zeros(len(level), bool)
        for plan in (p for p in PLANS if p.kind == "busy"):
            for s, e in _busy(_bursts(_tonal(share, plan.freqs) & loud), plan):
                spans.append((s, e, plan.label, c))
                taken[int(round(s / FRAME_S)):int(round(e / FRAME_S))] = True
        busy_frames.append(taken)
        for s, e in _dtmf_spans(share, loud):
            spans.append((s, e, "dtmf", c))
    best: tuple[int, float, TonePlan, int, list[tuple[float, float]]] | None = None
    lead = _first_sound([level for _, level in frames])
    search = int((lead + RING_SEARCH_S) / FRAME_S)
    for c, (share, level) in enumerate(frames):
        for plan in (p for p in PLANS if p.kind == "ringback"):
            on = _tonal(share[:search], plan.freqs) & (level[:search] > MIN_TONE_DB) \
                & ~busy_frames[c][:search]
            rings = _rings(_bursts(on), plan, lead)
            key = (len(rings), sum(e - s for s, e in rings))
            if rings and (best is None or key > best[:2]):
                best = (*key, plan, c, rings)
    if best is None:
        return Ringback(None, 0.0, spans=sorted(spans))
    _, _, plan, c, rings = best
    spans += [(s, e, plan.label, c) for s, e in rings]
    opens = _line_opens([lv for _, lv in frames], rings, plan.period)
    due = rings[-1][0] + plan.period
    return Ringback(len(rings), round(opens or rings[-1][1], 3), rings, plan.label, sorted(spans),
                    answered_by_s=None if opens or due > audio.duration else round(due, 3))


def _analyse(x: Channel) -> tuple[np.ndarray, np.ndarray]:
    """Per FRAME_S frame: the share of its power at each frequency of FREQS, and its dBFS."""
    n = int(FRAME_S * SAMPLE_RATE)
    count = len(x) // n
    t = np.arange(n) / SAMPLE_RATE
    basis = np.concatenate([np.cos(2 * np.pi * np.outer(t, FREQS)),
                            np.sin(2 * np.pi * np.outer(t, FREQS))], axis=1).astype(np.float32)
    shares, levels = [], []
    for a in range(0, count, CHUNK_FRAMES):
        f = x[a * n:min(count, a + CHUNK_FRAMES) * n].reshape(-1, n)
        power = np.einsum("ij,ij->i", f, f, dtype=np.float64)  # no squared copy
        proj = np.square(f @ basis, dtype=np.float64)
        tone = 2 * (proj[:, :len(FREQS)] + proj[:, len(FREQS):]) / n  # a sine's power at f
        shares.append(tone / (power[:, None] + 1e-12))
        levels.append(10 * np.log10(power / n + 1e-12))
    if not shares:
        return np.zeros((0, len(FREQS))), np.zeros(0)
    return np.concatenate(shares), np.concatenate(levels)


FREQS = tuple(sorted({f for p in PLANS for f in p.freqs} | set(DTMF_LOW) | set(DTMF_HIGH)))
_COL = {f: i for i, f in enumerate(FREQS)}


def _tonal(share: np.ndarray, freqs: tuple[float, ...]) -> np.ndarray:
    """Frames holding these frequencies together: most of the power in them, each one present
    (a 450 Hz tone is not the UK 400+450 Hz one)."""
    s = share[:, [_COL[f] for f in freqs]]
    return (s.sum(axis=1) > TONAL_SHARE) & (s.min(axis=1) > TONAL_SHARE / (2 * len(freqs)))


def _bursts(on: np.ndarray) -> list[tuple[float, float]]:
    return [(round(a * FRAME_S, 3), round(b * FRAME_S, 3)) for a, b in runs(on)]


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in `mask` as [start, end) indices."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _fits(burst: tuple[float, float], on: float) -> bool:
    """A burst as long as a plan's on-time, give or take (50 ms frames, network tolerance)."""
    return 0.6 * on - FRAME_S <= burst[1] - burst[0] <= 1.6 * on + FRAME_S


def _first_sound(levels: list[np.ndarray]) -> float:
    """Seconds to the first frame on any channel louder than QUIET_DBFS (0 when none)."""
    loud = [int(np.argmax(lv > QUIET_DBFS)) for lv in levels if len(lv) and (lv > QUIET_DBFS).any()]
    return min(loud) * FRAME_S if loud else 0.0


def _rings(bursts: list[tuple[float, float]], plan: TonePlan, lead: float = 0.0,
           ) -> list[tuple[float, float]]:
    """The longest run of rings in the plan's cadence, the first starting within a period of
    `lead` (s: where the recording's first sound is). Only the last ring may be cut short
    (answered during it), and a run needs one whole ring."""
    parts, period = plan.parts(), plan.period
    best: list[tuple[float, float]] = []
    for i in range(len(bursts)):
        run: list[tuple[float, float]] = []
        j, cut = i, False
        while j < len(bursts) and not cut:
            start = bursts[j][0]
            if (run and not 0.8 * period <= start - run[-1][0] <= 1.2 * period) or \
                    (not run and start > lead + period + 1.0):
                break
            k = 0  # on-times of this ring found in place
            for a, b in parts:
                if j + k >= len(bursts) or abs(bursts[j + k][0] - start - a) > 0.15:
                    break
                if not _fits(bursts[j + k], b - a):
                    k += bursts[j + k][1] - bursts[j + k][0] < b - a  # shorter: answered in it
                    break
                k += 1
            if k == 0:
                break
            cut = k < len(parts) or not _fits(bursts[j + k - 1], parts[k - 1][1] - parts[k - 1][0])
            run.append((start, bursts[j + k - 1][1]))
            j += k
        if len(run) - cut >= 1 and len(run) > len(best):
            best = run
    return best


def _busy(bursts: list[tuple[float, float]], plan: TonePlan) -> list[tuple[float, float]]:
    """Runs of at least 3 bursts of the busy cadence, as (first start, last end)."""
    on, period = plan.cadence[0], plan.period
    out: list[tuple[float, float]] = []
    run: list[tuple[float, float]] = []
    for b in [*bursts, (np.inf, np.inf)]:
        if b[0] < np.inf and _fits(b, on) and (not run or 0.8 * period <= b[0] - run[-1][0]
                                               <= 1.2 * period):
            run.append(b)
            continue
        if len(run) >= 3:
            out.append((run[0][0], run[-1][1]))
        run = [b] if b[0] < np.inf and _fits(b, on) else []
    return out


def _dtmf_spans(share: np.ndarray, loud: np.ndarray) -> list[tuple[float, float]]:
    """Key tones: frames with one low and one high DTMF tone holding most of their power;
    digits at least 2 frames long, joined over gaps under 1 s."""
    lo = share[:, [_COL[f] for f in DTMF_LOW]].max(axis=1)
    hi = share[:, [_COL[f] for f in DTMF_HIGH]].max(axis=1)
    digits = [d for d in _bursts((lo > 0.2) & (hi > 0.2) & (lo + hi > 0.7) & loud)
              if d[1] - d[0] >= 2 * FRAME_S - 1e-9]
    out: list[list[float]] = []
    for s, e in digits:
        if out and s - out[-1][1] < 1.0:
            out[-1][1] = e
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def sound_label(x: np.ndarray) -> str:
    """What a sound that is not speech is: `music` when its spectrum has peaks (notes, chords;
    median spectral flatness over 300-3400 Hz below 0.2: music ~0.005, speech ~0.03), else
    `noise` (hiss is ~0.57)."""
    n = 512
    k = len(x) // n
    if k == 0:
        return "noise"
    power = np.square(np.abs(np.fft.rfft(x[:k * n].reshape(k, n) * np.hanning(n), axis=1)))
    hz = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    band = power[:, (hz >= 300) & (hz <= 3400)] + 1e-12
    flatness = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    return "music" if float(np.median(flatness)) < 0.2 else "noise"


def _line_opens(levels: list[np.ndarray], rings: list[tuple[float, float]], period: float,
                ) -> float | None:
    """Where the line opened after the last ring, when the recording shows it: a channel rising
    OPEN_DB over its level between the rings to line noise (not to a voice) for 0.3 s, before
    the next ring was due. None when nothing marks it."""
    last_end, due = rings[-1][1], rings[-1][0] + period
    a, b = int(np.ceil(last_end / FRAME_S - 1e-6)), int(due / FRAME_S)
    quiet = [(int(e / FRAME_S), int(s / FRAME_S)) for (_, e), (s, _) in zip(rings, rings[1:],
                                                                             strict=False)]
    quiet.append((a, a + 5))  # and the first 0.25 s after the last ring
    first: float | None = None
    for lv in levels:
        ref = np.concatenate([lv[i:j] for i, j in quiet])
        if not len(ref):
            continue
        floor = max(float(np.median(ref)) + OPEN_DB, -70.0)
        rise = np.flatnonzero(lv[a:b] >= floor)
        if len(rise):  # only the first rise: a later one may be a pause inside speech
            run = lv[a + rise[0]:a + rise[0] + 6]
            if len(run) == 6 and run.min() >= floor and run.max() < OPEN_MAX_DB:
                t = float((a + rise[0]) * FRAME_S)
                first = t if first is None else min(first, t)
    return first
