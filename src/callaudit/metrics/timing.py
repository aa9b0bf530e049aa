"""Timing and voice metrics of a call: every definition in one place.

Clock: VAD region times (seconds from the start of the recording). Thresholds come from the
rule pack's `settings`, never from literals here.

Definitions
- speaking time of a party: the sum of its utterances' VAD regions. Pauses shorter than the
  VAD's merge gap (0.5 s) are inside a region and count as speaking; longer pauses do not.
- characters: spoken syllables (text.spoken_units): Han characters and digits 1 each, an
  all-caps abbreviation 1 per letter, another Latin word 1; punctuation 0.
- acoustic speech rate: syllable nuclei heard in the agent's speech (audio/syllables.py)
  per minute of the agent's speaking time; reported beside the rate from the transcript,
  which Whisper lowers when people talk fast.
- silence: a gap of at least `silence_min_s` between the end of all speech on every channel
  and the next speech on any channel, strictly inside the call (before the first and after
  the last speech is not silence: the first is the answer delay, the last is the hang-up).
- wait: a silence of at least `hold_min_s` after which the caller is not the one who speaks
  (the caller was waiting on the agent). A wait whose last agent utterance before it has a hold
  phrase (请您稍等 ...) is a hold, even if the caller answered it (好的); consecutive holds
  joined only by short agent reminders form one hold span.
- dead air: a silence over `dead_air_s` that is not a hold, or a hold silence over
  `hold_reminder_s` (the agent left the caller alone past the reminder interval). A silence
  after the caller said they would look for something (settings.caller_wait_phrases: 我找一下,
  我看一下 ...) is the caller's: neither dead air nor a slow response.
- pre-answer audio: a ringback tone of a plan in audio/tones.PLANS (CN 450 Hz 1/4 s, NA
  440+480 Hz 2/4 s, UK 400+450 Hz double ring, EU 425 Hz 1/4 s) whose first ring starts within
  one period of the recording's start, and music heard before the first speech (colour
  ringback, 彩铃). Tones, music and other sound Silero VAD hears no speech in are never speech
  regions (audio/vad.call_regions), so they are neither speaking time nor part of a silence's
  bounds. `rings` counts the rings heard, the last one also when the answer cut it short.
- connect: where the pre-answer audio ends; the recording start (0) when there is none. With
  a ringback: the end of the last ring (a ring the answer cut short ends where it was cut), or
  later, where the recording shows the line open: the first 50 ms frame after it in which a
  channel rises 10 dB over its level between the rings (and over -70 dBFS) to line noise
  (staying under -40 dBFS for 0.3 s, so not a voice), before the next ring was due (last ring
  start + the plan's period; a ring that is not heard means the call was answered before it).
  Music before the first speech: its end, when later. With nothing marking the answer inside
  the off-time: the end of the last ring when the first speech comes before the next ring was
  due (the delay can then read at most one off-time long); when the first speech comes after
  it, the time that ring was due, since a ring not heard means the call was answered by then
  (the agent is not charged for an off-time in which the call may already have connected).
- answer delay: connect -> start of the agent's first utterance (mono: of the first
  utterance, since the answering agent speaks first).
- response latency: end of a customer utterance -> start of the next utterance, when the
  next utterance is the agent's and no hold lies between.
- interruption (stereo only): the agent starts while a customer utterance is in progress and
  the two overlap for at least `interruption_overlap_s`; agent utterances shorter than
  `backchannel_max_s` or whose text is only backchannel words (嗯, 好的, 嗯，好的 ...) do not count.
- level: RMS dBFS over the agent's speech samples; spread: standard deviation of per-utterance
  levels; clipping: share of agent speech samples at or above 0.99 full scale. The caller's
  level and clipping likewise over the caller's speech only. Noise floor of a party: the
  20th-percentile power (dBFS) of the 20 ms frames of their channel outside anybody's speech.
- per minute of the call (the reviewer page's charts): the agent's speech rate over its
  utterances starting in that minute (when they hold at least 3 s of speech), and its level,
  the energy mean of those utterances' levels.
- silence classes: each silence is `dead_air` when it starts inside a dead-air span, `hold`
  inside an announced hold, else `silence`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from callaudit.audio.levels import SILENT_DBFS, mean_dbfs
from callaudit.metrics.acoustics import Acoustics
from callaudit.metrics.voice import Raised, raised_voice
from callaudit.records import Region, Utterance
from callaudit.settings import Settings
from callaudit.speech.match import Stream
from callaudit.speech.phrase_index import find_any
from callaudit.speech.text import spoken_units


@dataclass
class Span:
    start: float
    end: float
    kind: str = ""  # silence | hold | wait | dead_air | overlap | ...
    text: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": round(self.start, 3), "end": round(self.end, 3),
                             "duration_s": round(self.duration, 3)}
        if self.kind:
            d["kind"] = self.kind
        if self.text:
            d["text"] = self.text
        return d


@dataclass
class Metrics:
    duration_s: float
    stereo: bool
    agent_spoke: bool
    customer_spoke: bool
    connect_s: float
    rings: int | None
    answer_delay_s: float | None
    agent_speech_rate_cpm: float | None
    customer_speech_rate_cpm: float | None
    agent_speaking_s: float
    customer_speaking_s: float
    utterance_rates: list[tuple[Utterance, float]]
    silences: list[Span]
    max_silence_s: float
    waits: list[Span]  # silences >= hold_min_s the caller spent waiting on the agent
    holds: list[Span]  # announced hold spans (may contain reminders)
    dead_air: list[Span]
    response_gaps: list[Span]
    interruptions: list[Span] | None
    agent_level_dbfs: float | None
    agent_level_spread_db: float | None
    agent_clipping_share: float | None
    talk_ratio: dict[str, float] = field(default_factory=dict)
    # the caller's level and clipping, each party's noise floor (metrics/acoustics.py)
    customer_level_dbfs: float | None = None
    customer_clipping_share: float | None = None
    agent_noise_floor_dbfs: float | None = None
    customer_noise_floor_dbfs: float | None = None
    agent_rate_per_minute: list[float | None] = field(default_factory=list)
    agent_level_per_minute: list[float | None] = field(default_factory=list)
    # syllable nuclei per minute of agent speaking time (see the docstring); None: not measured
    agent_speech_rate_acoustic_cpm: float | None = None
    # caller utterances louder or higher than the caller's own start (metrics/voice.py)
    raised_voice: list[Raised] = field(default_factory=list)

    def to_json(self, settings: Settings) -> dict[str, Any]:
        r = lambda x: None if x is None else round(x, 2)  # noqa: E731
        return {
            "answer_delay_s": r(self.answer_delay_s),
            "connect_s": r(self.connect_s),
            "rings": self.rings,
            "agent_speech_rate_cpm": r(self.agent_speech_rate_cpm),
            "agent_speech_rate_acoustic_cpm": r(self.agent_speech_rate_acoustic_cpm),
            "customer_speech_rate_cpm": r(self.customer_speech_rate_cpm),
            "agent_speaking_s": r(self.agent_speaking_s),
            "customer_speaking_s": r(self.customer_speaking_s),
            "utterance_rates": [
                {"start": u.start, "end": u.end, "role": u.role, "cpm": round(c, 1)}
                for u, c in self.utterance_rates
            ],
            "max_silence_s": r(self.max_silence_s),
            "silences": [s.to_json() for s in self.silences],
            "holds": [s.to_json() for s in self.holds],
            "dead_air": [s.to_json() for s in self.dead_air],
            "response_latency": [s.to_json() for s in self.response_gaps],
            "agent_interruptions": None if self.interruptions is None else len(self.interruptions),
            "interruptions": None if self.interruptions is None
            else [s.to_json() for s in self.interruptions],
            "agent_level_dbfs": r(self.agent_level_dbfs),
            "agent_level_spread_db": r(self.agent_level_spread_db),
            "agent_clipping_share": None if self.agent_clipping_share is None
            else round(self.agent_clipping_share, 5),
            "customer_level_dbfs": r(self.customer_level_dbfs),
            "customer_clipping_share": None if self.customer_clipping_share is None
            else round(self.customer_clipping_share, 5),
            "agent_noise_floor_dbfs": r(self.agent_noise_floor_dbfs),
            "customer_noise_floor_dbfs": r(self.customer_noise_floor_dbfs),
            "talk_ratio": {k: round(v, 3) for k, v in self.talk_ratio.items()},
            "agent_rate_per_minute": [None if v is None else round(v) for v in
                                      self.agent_rate_per_minute],
            "agent_level_per_minute": [None if v is None else round(v, 1) for v in
                                       self.agent_level_per_minute],
            "duration_s": r(self.duration_s),
            "long_call": self.duration_s > settings.call_length_review_s,
            "agent_spoke": self.agent_spoke,
            "customer_spoke": self.customer_spoke,
            "caller_raised_voice": [r.to_json() for r in self.raised_voice],
        }


def compute(ac: Acoustics, regions: list[Region], utts: list[Utterance], stereo: bool,
            settings: Settings) -> Metrics:
    """`regions` must already exclude tones and music (see audio/vad.call_regions)."""
    agent = [u for u in utts if u.role == "agent"]
    customer = [u for u in utts if u.role != "agent"]
    duration = ac.duration_s
    rings, connect = ac.rings, ac.connect_s
    first = min((u.start for u in utts), default=None)
    if ac.answered_by_s is not None and first is not None and first > ac.answered_by_s:
        connect = ac.answered_by_s
    silences = find_silences(regions, settings.silence_min_s)
    waits, holds = find_holds(silences, utts, settings)
    hold_silences = [s for s in waits if s.kind == "hold"]
    callers = caller_waits(silences, utts, settings)
    dead = [s for s in silences if s.duration > settings.dead_air_s and s not in callers and
            (not _inside(s, hold_silences) or s.duration > settings.hold_reminder_s)]
    for s in silences:
        s.kind = silence_kind(s.start, [(h.start, h.end) for h in holds],
                              [(d.start, d.end) for d in dead])
    agent_s = sum(u.end - u.start for u in agent)
    cust_s = sum(u.end - u.start for u in customer)
    speech_union = _union_length([(r.start, r.end) for r in regions])
    return Metrics(
        duration_s=duration,
        stereo=stereo,
        agent_spoke=bool(agent),
        customer_spoke=bool(customer),
        connect_s=connect,
        rings=rings,
        # mono: roles from words can miss the agent's first words; the first voice after
        # connect is the answering agent's
        answer_delay_s=(round((agent[0].start if stereo else utts[0].start) - connect, 3)
                        if agent else None),
        agent_speech_rate_cpm=_rate(agent),
        agent_speech_rate_acoustic_cpm=(round(ac.agent_nuclei * 60 / agent_s, 1)
                                        if ac.agent_nuclei is not None and agent_s > 0 else None),
        customer_speech_rate_cpm=_rate(customer),
        agent_speaking_s=agent_s,
        customer_speaking_s=cust_s,
        utterance_rates=[(u, spoken_units(u.text) * 60 / (u.end - u.start)) for u in utts
                         if u.end - u.start >= settings.speech_rate_min_utterance_s],
        silences=silences,
        max_silence_s=max((s.duration for s in silences), default=0.0),
        waits=waits,
        holds=holds,
        dead_air=dead,
        response_gaps=response_gaps(utts, hold_silences + callers, settings.response_latency_s),
        interruptions=find_interruptions(utts, settings) if stereo else None,
        agent_level_dbfs=ac.agent_level_dbfs,
        agent_level_spread_db=(float(np.std([u.level_dbfs for u in agent])) if len(agent) > 1
                               else None),
        agent_clipping_share=ac.agent_clipping_share,
        customer_level_dbfs=ac.customer_level_dbfs,
        customer_clipping_share=ac.customer_clipping_share,
        agent_noise_floor_dbfs=ac.agent_noise_floor_dbfs,
        customer_noise_floor_dbfs=ac.customer_noise_floor_dbfs,
        talk_ratio={
            "agent": agent_s / duration if duration else 0.0,
            "customer": cust_s / duration if duration else 0.0,
            "silence": 1 - speech_union / duration if duration else 1.0,
        },
        agent_rate_per_minute=per_minute_rate(agent, duration),
        agent_level_per_minute=per_minute_level(agent, duration),
        raised_voice=raised_voice(utts, ac.customer_pitch, settings),
    )


def silence_kind(start: float, holds: list[tuple[float, float]],
                 dead_air: list[tuple[float, float]]) -> str:
    """The class of a silence starting at `start` (see the docstring): dead_air, hold or silence."""
    if any(a <= start < b for a, b in dead_air):
        return "dead_air"
    return "hold" if any(a <= start < b for a, b in holds) else "silence"


RATE_MINUTE_MIN_S = 3.0  # a minute with less agent speech than this shows no rate


def _minutes(utts: list[Utterance], duration: float) -> list[list[Utterance]]:
    """Utterances by the minute of the call they start in, one list per minute."""
    out: list[list[Utterance]] = [[] for _ in range(int(duration // 60) + 1)]
    for u in utts:
        out[min(len(out) - 1, int(u.start // 60))].append(u)
    return out


def per_minute_rate(utts: list[Utterance], duration: float) -> list[float | None]:
    """Syllables per minute of speaking time, per minute of the call (see the docstring)."""
    out: list[float | None] = []
    for us in _minutes(utts, duration):
        secs = sum(u.end - u.start for u in us)
        out.append(spoken_units("".join(u.text for u in us)) * 60 / secs
                   if secs >= RATE_MINUTE_MIN_S else None)
    return out


def per_minute_level(utts: list[Utterance], duration: float) -> list[float | None]:
    """Energy mean of the utterances' levels (dBFS), per minute of the call."""
    return [mean_dbfs([(u.end - u.start, u.level_dbfs) for u in us if u.level_dbfs > SILENT_DBFS])
            for us in _minutes(utts, duration)]


def _rate(utts: list[Utterance]) -> float | None:
    secs = sum(u.end - u.start for u in utts)
    return spoken_units("".join(u.text for u in utts)) * 60 / secs if secs > 0 else None


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _union_length(spans: list[tuple[float, float]]) -> float:
    return sum(e - s for s, e in _union(spans))


def find_silences(regions: list[Region], min_s: float) -> list[Span]:
    merged = _union([(r.start, r.end) for r in regions])
    return [Span(a[1], b[0], "silence") for a, b in zip(merged, merged[1:], strict=False)
            if b[0] - a[1] >= min_s]


def _inside(s: Span, spans: list[Span]) -> bool:
    return any(h.start <= s.start + 1e-6 and s.end <= h.end + 1e-6 for h in spans)


def find_holds(silences: list[Span], utts: list[Utterance], settings: Settings,
               ) -> tuple[list[Span], list[Span]]:
    """Waits (silences the caller spent waiting on the agent) and announced hold spans."""
    phrases = settings.hold_phrases
    threshold = settings.match_threshold
    waits: list[Span] = []
    for s in silences:
        if s.duration < settings.hold_min_s:
            continue
        before = [u for u in utts if u.end <= s.start + 0.05]
        after = [u for u in utts if u.start >= s.end - 0.05]
        if not after or after[0].role == "customer":
            continue  # the caller spoke next: the caller, not the agent, took the time
        # (on mono an `unknown` next speaker counts: the wait is not blamed on the caller)
        # the agent's last words before it: the caller's 好的 after 请您稍等 does not
        # cancel the announcement (on mono an `unknown` speaker may be the agent)
        last = next((u for u in reversed(before) if u.role != "customer"), None)
        announced = (last is not None
                     and find_any(Stream.of([last]), phrases, threshold) is not None)
        waits.append(Span(s.start, s.end, "hold" if announced else "wait",
                          last.text if last else ""))
    # A hold span runs from its announcement to the agent's return; an agent reminder
    # in between (followed by more waiting) continues the same span.
    holds: list[Span] = []
    for w in waits:
        if w.kind != "hold" and not (holds and _only_agent_between(utts, holds[-1].end, w.start)):
            continue
        if holds and _only_agent_between(utts, holds[-1].end, w.start) and \
                w.start - holds[-1].end < settings.hold_reminder_s:
            holds[-1].end = w.end
            w.kind = "hold"
        elif w.kind == "hold":
            holds.append(Span(w.start, w.end, "hold", w.text))
    return waits, holds


CALLER_WAIT_MATCH = 0.95  # as said, up to homophones: near misses (我想找) are requests


def caller_waits(silences: list[Span], utts: list[Utterance], settings: Settings) -> list[Span]:
    """Silences after the caller said they would look for something (我找一下): theirs."""
    out = []
    for s in silences:
        before = [u for u in utts if u.end <= s.start + 0.05]
        if before and before[-1].role == "customer" and \
                find_any(Stream.of([before[-1]]), settings.caller_wait_phrases,
                         CALLER_WAIT_MATCH) is not None:
            out.append(s)
    return out


def _only_agent_between(utts: list[Utterance], a: float, b: float) -> bool:
    between = [u for u in utts if u.start >= a - 0.05 and u.end <= b + 0.05]
    return bool(between) and all(u.role == "agent" for u in between)


def response_gaps(utts: list[Utterance], holds: list[Span], limit: float) -> list[Span]:
    gaps = []
    ordered = sorted(utts, key=lambda u: u.start)
    for prev, nxt in zip(ordered, ordered[1:], strict=False):
        if prev.role == "customer" and nxt.role == "agent" and nxt.start - prev.end > limit:
            gap = Span(prev.end, nxt.start, "response_gap", nxt.text)
            if not any(h.start < gap.end and gap.start < h.end for h in holds):
                gaps.append(gap)
    return gaps


def is_backchannel(u: Utterance, settings: Settings) -> bool:
    """Short, or only backchannel words, alone or strung together (嗯，好的 / 对对对)."""
    core = re.sub(r"[^\u4e00-\u9fff]", "", u.text)
    words = sorted(settings.backchannels, key=len, reverse=True)
    only_words = bool(core) and bool(words) and \
        re.fullmatch("(?:" + "|".join(map(re.escape, words)) + ")+", core) is not None
    return u.end - u.start < settings.backchannel_max_s or only_words


def find_interruptions(utts: list[Utterance], settings: Settings) -> list[Span]:
    out = []
    customers = [u for u in utts if u.role == "customer"]
    for a in (u for u in utts if u.role == "agent"):
        if is_backchannel(a, settings):
            continue
        for c in customers:
            if c.start < a.start < c.end:
                overlap = min(a.end, c.end) - a.start
                if overlap >= settings.interruption_overlap_s:
                    out.append(Span(a.start, min(a.end, c.end), "interruption", a.text))
                    break
    return out
