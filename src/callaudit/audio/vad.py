"""Speech regions per channel with webrtcvad.

These regions are the clock of every timing metric: Whisper's own timestamps drift, the
VAD's do not. A region is speech with pauses shorter than `merge_gap_s` bridged, so one
region is roughly one breath group / turn, and the speaking time of a party is the sum of
its regions (pauses of `merge_gap_s` or longer are excluded from it).

webrtcvad takes any steady harmonic sound for a voice: tones and music too. So `call_regions`
gates it: frames on a call-progress tone (audio/tones.py), and stretches in which the Silero
VAD that ships with faster-whisper hears no speech, are not speech.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.audio.levels import dbfs, frame_db
from callaudit.audio.samples import Channel
from callaudit.audio.tones import Ringback, runs, sound_label
from callaudit.records import Region


@dataclass(frozen=True)
class VadOptions:
    aggressiveness: int = 2  # webrtcvad mode 0-3; 2 keeps soft syllable ends on phone audio
    frame_ms: int = 30
    merge_gap_s: float = 0.5  # pauses shorter than this are part of the speech (breath, commas)
    min_speech_s: float = 0.25  # shorter blips are clicks or noise, not speech
    refine_db: float = 35.0  # edges: trim 10 ms frames this far below the region's peak ...
    floor_margin_db: float = 8.0  # ... or not clearly above the channel's noise floor
    min_level_dbfs: float = -50.0  # regions quieter than this are line noise the VAD let through
    # a voice this far (dB) under the party's own on their channel (their loudest speech,
    # smoothed over 0.5 s) is in the background: a TV or radio behind the caller, not them
    background_below_db: float = 15.0


def frame_decisions(signal: Channel, opts: VadOptions) -> np.ndarray:
    """One bool per frame: does webrtcvad hear speech."""
    vad = webrtcvad.Vad(opts.aggressiveness)
    n = SAMPLE_RATE * opts.frame_ms // 1000
    count = len(signal) // n
    out = np.zeros(count, dtype=bool)
    step = n * 2
    # converted to 16-bit a block of frames at a time: a whole 3-hour channel would be
    # another 1 GB of temporaries
    for a in range(0, count, VAD_BLOCK):
        b = min(count, a + VAD_BLOCK)
        raw = (np.clip(signal[a * n:b * n], -1.0, 1.0) * 32767).astype("<i2").tobytes()
        out[a:b] = [vad.is_speech(raw[i * step:(i + 1) * step], SAMPLE_RATE) for i in range(b - a)]
    return out


VAD_BLOCK = 20000  # frames (10 min at 30 ms)


def speech_regions(signal: Channel, channel: int, opts: VadOptions | None = None,
                   ) -> list[Region]:
    opts = opts or VadOptions()
    return _regions(signal, frame_decisions(signal, opts), channel, opts)


def _regions(signal: Channel, flags: np.ndarray, channel: int, opts: VadOptions,
             skip: list[tuple[float, float]] | None = None) -> list[Region]:
    """Regions from webrtcvad's `flags`; the noise floor is measured outside `skip` (music
    filling the pauses is no floor)."""
    fs = opts.frame_ms / 1000
    env = _envelope_db(signal)
    quiet = np.ones(len(env), bool)
    for s, e in skip or []:
        quiet[int(s / ENV_STEP_S):int(e / ENV_STEP_S)] = False
    floor = float(np.percentile(env[quiet] if quiet.any() else env, 10)) if len(env) else -99.0
    # Runs of speech frames, edges tightened to 10 ms, then bridged over short pauses:
    # bridging after tightening makes `merge_gap_s` a length of real silence, not of
    # silence minus webrtcvad's hangover.
    spans: list[list[float]] = []
    i = 0
    while i < len(flags):
        if not flags[i]:
            i += 1
            continue
        j = i
        while j < len(flags) and flags[j]:
            j += 1
        s, e = _refine(env, i * fs, j * fs, floor, opts)
        if spans and s - spans[-1][1] < opts.merge_gap_s:
            spans[-1][1] = max(spans[-1][1], e)
        else:
            spans.append([s, e])
        i = j
    regions = []
    for s, e in spans:
        if e - s < opts.min_speech_s:
            continue
        level = level_dbfs(signal[int(s * SAMPLE_RATE) : int(e * SAMPLE_RATE)])
        if level < opts.min_level_dbfs:
            continue
        regions.append(Region(channel, s, e, level))
    return regions


ENV_STEP_S = 0.01


def _envelope_db(signal: Channel) -> np.ndarray:
    return frame_db(signal, int(ENV_STEP_S * SAMPLE_RATE))


def _refine(env: np.ndarray, start: float, end: float, floor: float, opts: VadOptions,
            ) -> tuple[float, float]:
    """Tighten a region's edges to 10 ms: webrtcvad decides per 30 ms frame and holds on
    about 0.1 s after speech stops, which would bias every silence and answer delay."""
    a, b = int(start / ENV_STEP_S), min(len(env), int(np.ceil(end / ENV_STEP_S)))
    if b <= a:
        return start, end
    seg = env[a:b]
    keep = seg >= max(seg.max() - opts.refine_db, floor + opts.floor_margin_db)
    if not keep.any():
        return start, end
    first, last = int(np.argmax(keep)), len(keep) - int(np.argmax(keep[::-1]))
    return round((a + first) * ENV_STEP_S, 3), round((a + last) * ENV_STEP_S, 3)


def level_dbfs(x: np.ndarray) -> float:
    """A region's level, to 0.1 dB (audio/levels.py)."""
    return round(dbfs(x), 1)


def call_regions(audio: Audio, channels: list[int], ringback: Ringback | None = None,
                 opts: VadOptions | None = None, party_channels: bool = False) -> list[Region]:
    """Speech regions of every audited channel, sorted by start. Never speech: the labelled
    tone spans of `ringback` on their channel, and sound in which Silero hears no speech
    (not_speech: music, noise), so neither counts as speaking time nor hides a silence or a
    hold; regions on a ringback burst (any channel) are dropped as before.
    `party_channels`: each channel is one party's (stereo), so a voice far under that
    party's own is a background voice (`background_spans`), labelled "background".

    Updates `ringback`: the music and noise spans are added to its `spans`, and music that
    ends before the first speech moves `connect_s` to its end (colour ringback, 彩铃: the
    call connects when it stops)."""
    opts = opts or VadOptions()
    regions: list[Region] = []
    found: list[tuple[float, float, str, int]] = []
    fs = opts.frame_ms / 1000
    # per channel: its voice frames (tones and other sound out), their centres (s), the
    # stretches not measured for the noise floor
    gated: dict[int, tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]] = {}
    for ch in channels:
        x = audio.channels[ch]
        flags = frame_decisions(x, opts)
        tones = ringback.on_channel(ch) if ringback else []
        sounds = _minus(not_speech(x, flags, opts), tones)  # a tone is labelled already
        centres = (np.arange(len(flags)) + 0.5) * fs
        for s, e in tones + sounds:
            flags[(centres >= s) & (centres < e)] = False
        for s, e in sounds:  # labelled when it would have passed for speech
            seg = x[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)]
            if e - s >= GATE_MIN_S and level_dbfs(seg) >= opts.min_level_dbfs:
                found.append((s, e, sound_label(seg), ch))
        gated[ch] = flags, centres, tones + sounds
    for ch in channels:
        x = audio.channels[ch]
        flags, centres, skip = gated[ch]
        others = [f for c, (f, _, _) in gated.items() if c != ch]
        behind = background_spans(x, flags, opts, others[0]) if party_channels and others else []
        for s, e in behind:
            flags[(centres >= s) & (centres < e)] = False
        found += [(s, e, "background", ch) for s, e in behind]
        regions += _regions(x, flags, ch, opts, skip + behind)
    regions = sorted((r for r in regions if ringback is None or not ringback.overlaps(r.start, r.end)),
                     key=lambda r: r.start)
    if ringback is not None:
        ringback.spans = sorted(ringback.spans + found)
        first = regions[0].start if regions else None
        music_ends = [e for s, e, label, _ in found
                      if label == "music" and first is not None and e <= first + GATE_STEP_S]
        if music_ends and max(music_ends) > ringback.connect_s:
            ringback.connect_s = round(max(music_ends), 3)
    return regions


BACKGROUND_SMOOTH_S = 0.5  # a voice's level over this long (syllable dips filled)
BACKGROUND_MIN_S = 1.0  # a background voice heard this long at least (not a soft syllable)
BACKGROUND_OWN_S = 3.0  # the party's own voice needs this much speech to be known
BACKGROUND_OWN_PCT = 95  # the party's own voice: this percentile of the smoothed level
BACKGROUND_OVER_MIN = 0.25  # share of the quiet voice said over the other party: not a turn


def background_spans(x: Channel, flags: np.ndarray, opts: VadOptions,
                     other: np.ndarray | None = None) -> list[tuple[float, float]]:
    """Stretches (s) of voice on one party's channel at least `opts.background_below_db`
    under that party's own voice (the BACKGROUND_OWN_PCT percentile of the level, smoothed
    over BACKGROUND_SMOOTH_S, of all the frames webrtcvad takes for voice), grouped over
    pauses under the merge gap, spanning BACKGROUND_MIN_S and half of it voiced: a TV or
    radio far behind the caller. Only when that quiet voice talks over the other party
    (`other`: its channel's voice frames) for BACKGROUND_OVER_MIN of its time, as a TV does
    whatever is said: a party who went quiet (a speakerphone, a step back) still takes
    turns with the other. None when the channel holds under BACKGROUND_OWN_S of voice."""
    fs = opts.frame_ms / 1000
    if flags.sum() * fs < BACKGROUND_OWN_S:
        return []
    db = frame_db(x, int(fs * SAMPLE_RATE))[:len(flags)]
    n = len(db)
    w = max(1, int(BACKGROUND_SMOOTH_S / fs))
    smooth = 10 * np.log10(np.convolve(10 ** (db / 10), np.ones(w) / w, mode="same") + 1e-12)
    own = float(np.percentile(smooth[flags[:n]], BACKGROUND_OWN_PCT))
    low = flags[:n] & (smooth < own - opts.background_below_db)
    if other is not None:
        k = min(n, len(other))
        if not low.any() or (low[:k] & other[:k]).sum() < BACKGROUND_OVER_MIN * low.sum():
            return []
    # a background voice comes and goes with webrtcvad's frames: its frames are grouped
    # over pauses shorter than the merge gap, as regions are
    out: list[list[float]] = []
    for a, b in runs(low):
        s, e, voiced = a * fs, b * fs, (b - a) * fs
        if out and s - out[-1][1] < opts.merge_gap_s:
            out[-1][1], out[-1][2] = e, out[-1][2] + voiced
        else:
            out.append([s, e, voiced])
    return [(round(s, 3), round(e, 3)) for s, e, v in out
            if e - s >= BACKGROUND_MIN_S and v >= BACKGROUND_MIN_S / 2]


GATE_LOW = 0.3  # Silero speech probability under this (averaged over GATE_SMOOTH windows) ...
GATE_SMOOTH = 3  # ... ~0.1 s, so a one-window blip in music is not speech
GATE_MIN_S = 1.0  # ... over voiced sound this long is not speech (speech's longest lull: ~0.6 s)
GATE_EDGE_S = 0.3  # voiced sound this long running on from speech is that speech ...
GATE_PAUSE_S = 0.15  # ... and so is sound after (before) a pause this long, up to GATE_MIN_S
GATE_WINDOW = 512  # Silero's window at 16 kHz
GATE_STEP_S = GATE_WINDOW / SAMPLE_RATE
GATE_RESET = 94  # windows (3 s)
GATE_WARM = 16  # windows (0.5 s)
SILERO_CONTEXT = 64  # samples of the previous window the model reads before each window


def speech_probability(signal: Channel, asked: np.ndarray | None = None) -> np.ndarray:
    """Silero VAD's speech probability per 32 ms window (the model faster-whisper ships, on
    onnxruntime, one thread). Run afresh every GATE_RESET windows after GATE_WARM windows of
    lead-in: its state saturates in long music or tones and then misses the speech after.
    `asked`: one bool per window; a block of GATE_RESET windows none of which is asked is
    not run (its probability 0)."""
    from faster_whisper.vad import get_vad_model  # here: the import loads ctranslate2

    model = get_vad_model()
    n = -(-len(signal) // GATE_WINDOW)
    out = np.zeros(n)
    for a in range(0, n, GATE_RESET):
        if asked is not None and not asked[a:a + GATE_RESET].any():
            continue
        b, w = min(n, a + GATE_RESET), max(0, a - GATE_WARM)
        # a copy of the block alone (a whole-channel copy is 0.7 GB for 3 hours): the model
        # writes into its input (faster-whisper 1.2: the last SILERO_CONTEXT samples are
        # zeroed through a view). The whole-channel copy carried those zeros into the next
        # block's lead-in; they are put there again, so the gate decides as it always did.
        x = np.zeros((b - w) * GATE_WINDOW, np.float32)
        part = signal[w * GATE_WINDOW:b * GATE_WINDOW]
        x[:len(part)] = part
        if w < a:
            x[(a - w) * GATE_WINDOW - SILERO_CONTEXT:(a - w) * GATE_WINDOW] = 0.0
        out[a:b] = np.asarray(model(x)).reshape(-1)[a - w:]
    return out


def not_speech(signal: Channel, flags: np.ndarray, opts: VadOptions,
               ) -> list[tuple[float, float]]:
    """Stretches (s) of sound in which Silero hears no speech, from the first to the last
    frame webrtcvad takes for a voice (its `flags`): at least GATE_MIN_S long and half of that
    voiced. Music, tones, noise."""
    if len(flags) == 0:
        return []
    edge, gap, lead = (int(t / GATE_STEP_S) for t in (GATE_EDGE_S, GATE_PAUSE_S, GATE_MIN_S))
    at = ((np.arange(-(-len(signal) // GATE_WINDOW)) + 0.5) * GATE_STEP_S
          / (opts.frame_ms / 1000)).astype(int)
    voiced = flags[np.minimum(at, len(flags) - 1)]
    # Silero is asked only within GATE_MIN_S of a voice webrtcvad heard: its veto matters
    # nowhere else, and line hiss, a dead channel or digital silence cost it nothing (it
    # was 85 % of the audit of three hours of hiss)
    count = np.concatenate([[0], np.cumsum(voiced)])
    i = np.arange(len(voiced))
    near = count[np.minimum(len(voiced), i + lead + 1)] - count[np.maximum(0, i - lead)] > 0
    p = np.convolve(speech_probability(signal, near), np.ones(GATE_SMOOTH) / GATE_SMOOTH,
                    mode="same")
    out: list[tuple[float, float]] = []
    speech = np.zeros(len(p), bool)  # Silero hears speech for GATE_EDGE_S or more (not a blip)
    for i, j in runs(p >= GATE_LOW):
        speech[i:j] = j - i >= edge
    for i, j in runs(~speech):
        if i > 0 and voiced[i - 1]:  # speech before it
            i += _speech_edge(voiced[i:j][::-1], p[i:j][::-1], edge, gap, lead)
        if j < len(p) and voiced[j]:  # speech after it
            j -= _speech_edge(voiced[i:j], p[i:j], edge, gap, lead)
        v = np.flatnonzero(voiced[i:j])
        if len(v) * GATE_STEP_S < GATE_MIN_S / 2 or (v[-1] + 1 - v[0]) * GATE_STEP_S < GATE_MIN_S:
            continue
        s, e = round(float(i + v[0]) * GATE_STEP_S, 3), round(float(i + v[-1] + 1) * GATE_STEP_S, 3)
        if out and s - out[-1][1] < GATE_MIN_S / 2:  # a blip of Silero inside music
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def _speech_edge(voiced: np.ndarray, p: np.ndarray, edge: int, gap: int, lead: int) -> int:
    """How many windows at the end of `voiced` and `p` (webrtcvad's decisions and Silero's
    probability over a stretch Silero hears no speech in, followed by speech) are that
    speech's soft start, which Silero lags: the voice running into the speech when short or
    after a pause, and a voice after a pause up to `lead` windows before it in which Silero
    heard a blip of speech."""
    n = len(voiced)
    k = n - int(np.argmin(np.append(voiced[::-1], False)))  # the voice running into it
    if k == n or (n - k > edge and voiced[max(0, k - gap):k].any()):
        return 0  # a pause, or sound that runs on into the speech without one
    for m in range(max(1, n - lead), k):
        if voiced[m] and not voiced[max(0, m - gap):m].any() and p[m:k].max() >= GATE_LOW:
            return n - m
    return n - k


def _minus(spans: list[tuple[float, float]], cuts: list[tuple[float, float]],
           ) -> list[tuple[float, float]]:
    """`spans` without the parts inside `cuts`."""
    out = []
    for span in spans:
        pieces = [span]
        for a, b in cuts:
            pieces = [p for s, e in pieces for p in ((s, min(e, a)), (max(s, b), e)) if p[1] > p[0]]
        out += pieces
    return out
