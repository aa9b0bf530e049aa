"""The typed parts of a CallResult (records.py): what was measured (`CallMetrics`), which
channels were audited (`ChannelLayout`), how a mono call's speakers were separated
(`Separation`), what personal data was found (`PrivacyReport`), the norms it was judged
with (`JudgedWith`), and a stored reason in words (`Reason`).

Each is the record a program, a renderer, the store and the workbench read; `to_json` writes
the audit.call/1 part (call.schema.json) and `from_json` reads it back, a part stored before
a field existed getting that field's default. Times in seconds of the recording.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from callaudit.strings import stored_text

_NUMBER = (int, float)


def _known(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    """The items of `d` that are fields of the record class `cls`."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


@dataclass(frozen=True)
class Reason:
    """Why, in words a reader of any language can be given: `key` of strings.DETAILS with
    its `args`, and `text` as written in the audit's language when it was stored ("" when
    the result did not store one: roles_why)."""

    key: str
    args: dict[str, Any] = field(default_factory=dict)
    text: str | None = None

    def in_lang(self, lang: str) -> str:
        """The reason in `lang` (from its key; its stored text when the key is unknown)."""
        return stored_text(self.text or "", self.to_json(), lang)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"key": self.key, "args": self.args}
        if self.text is not None:
            d["text"] = self.text
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Reason | None:
        if d is None:
            return None
        return cls(d.get("key", ""), d.get("args") or {}, d.get("text"))


def roles_sure(why: Reason | None) -> bool:
    """Whether a stored decision of who is the agent (CallResult.roles_why) was sure: every
    reason but speech/roles.py's roles_unsure (weak cues against the side that spoke first),
    directly or as a separated mono call's agent (roles_separated's args["agent"])."""
    if why is None:
        return True
    agent = why.args.get("agent")
    if why.key == "roles_separated" and isinstance(agent, dict):
        return roles_sure(Reason.from_json(agent))
    return why.key != "roles_unsure"


@dataclass(frozen=True)
class ChannelLayout:
    """Which channels of the recording were audited, and why (audio/condition.py Layout).

    kind: "mono", "stereo" (a party per channel), "same_mix" (two copies of one mix,
    audited as mono), "one_live" (one channel live, audited as a mono mix); `channels` the
    audited channel indexes (0 = left); `why` the decision in words."""

    kind: str
    channels: list[int]
    why: Reason = field(default_factory=lambda: Reason(""))

    @property
    def stereo(self) -> bool:
        return self.kind == "stereo"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "channels": self.channels, **self.why.to_json()}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> ChannelLayout | None:
        if d is None:
            return None
        return cls(d["kind"], list(d["channels"]), Reason.from_json(d) or Reason(""))


@dataclass(frozen=True)
class Separation:
    """How a mono call's two voices were told apart (speech/diarize.py).

    method: the embedding used ("campp", "mfcc_pitch"); speakers: voices found (1 or 2);
    confidence 0-1 that the split is right; why: the decision in words; agent_speaker: the
    separated channel that is the agent (None: not decided); overlaps: [start, end] s where
    both spoke; timing_s: seconds spent per step."""

    method: str
    speakers: int
    confidence: float | None
    why: Reason
    agent_speaker: int | None = None
    overlaps: list[list[float]] = field(default_factory=list)
    timing_s: dict[str, float] = field(default_factory=dict)
    reason: str = ""  # `why` in the audit's language, as stored

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "speakers": self.speakers,
                "confidence": self.confidence, "reason": self.reason,
                "why": self.why.to_json(), "agent_speaker": self.agent_speaker,
                "overlaps": self.overlaps, "timing_s": self.timing_s}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Separation | None:
        if d is None:
            return None
        return cls(d.get("method", ""), d.get("speakers", 0), d.get("confidence"),
                   Reason.from_json(d.get("why")) or Reason(""), d.get("agent_speaker"),
                   [list(o) for o in d.get("overlaps") or []], d.get("timing_s") or {},
                   d.get("reason", ""))


@dataclass(frozen=True)
class PersonalItem:
    """One item of personal data found (privacy/detect.py Entity), never its value: `type`
    (phone, id_card, bank_card ...), the `kind` that found it, who said it (`role`), when
    (`start`, `end`), its masked form, and the pieces it was said in."""

    type: str
    start: float
    end: float
    kind: str = ""
    role: str = ""
    masked: str = ""
    pieces: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "kind": self.kind, "role": self.role, "start": self.start,
                "end": self.end, "masked": self.masked, "pieces": self.pieces}


@dataclass(frozen=True)
class PrivacyReport:
    """The personal data of a call (privacy/mask.py): whether this result's text is masked
    (`redacted`), how many items of each type (`counts`), each type's {zh, en} name
    (`labels`), and every item with its time and masked form (`items`)."""

    redacted: bool
    counts: dict[str, int] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    items: list[PersonalItem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"redacted": self.redacted, "counts": self.counts, "labels": self.labels,
                "entities": [e.to_json() for e in self.items]}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> PrivacyReport | None:
        if d is None:
            return None
        return cls(bool(d.get("redacted")), d.get("counts") or {}, d.get("labels") or {},
                   [PersonalItem(**_known(PersonalItem, e)) for e in d.get("entities") or []])


@dataclass(frozen=True)
class JudgedWith:
    """The norms a call was judged with, carried so it is shown against them and not the
    default pack: the pack's fingerprint (`rules`), its effective `settings`
    (settings.py names), its `sections` ({id: {zh, en}}) and every enabled rule's
    `messages` ({rule: {zh, en}}). Empty for results stored before it was kept."""

    rules: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    messages: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        if not (self.rules or self.settings or self.sections or self.messages):
            return {}
        return {"rules": self.rules, "settings": self.settings, "sections": self.sections,
                "messages": self.messages}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> JudgedWith:
        return cls(**_known(cls, d or {}))


@dataclass(frozen=True)
class Stretch:
    """A stretch of the call (metrics/timing.py Span as stored): `start`, `end`,
    `duration_s` seconds; `kind` (silence, hold, dead_air, wait ...) and `text` (the words
    around it) when they say something."""

    start: float
    end: float
    duration_s: float = 0.0
    kind: str = ""
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": self.start, "end": self.end, "duration_s": self.duration_s}
        if self.kind:
            d["kind"] = self.kind
        if self.text:
            d["text"] = self.text
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Stretch:
        dur = d.get("duration_s", round(d["end"] - d["start"], 3))
        return cls(d["start"], d["end"], dur, d.get("kind", ""), d.get("text", ""))


@dataclass(frozen=True)
class UtteranceRate:
    """One utterance's speech rate: `cpm` spoken characters per minute (digits as said)."""

    start: float
    end: float
    role: str
    cpm: float

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "role": self.role, "cpm": self.cpm}


@dataclass(frozen=True)
class RaisedVoice:
    """A caller's utterance louder (`db` over their own start) or higher (`semitones`, None
    when the pitch was not measured) than how they began (metrics/voice.py)."""

    start: float
    end: float
    db: float
    semitones: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "db": self.db, "semitones": self.semitones}


def _stretches(v: Any) -> list[Stretch]:
    return [Stretch.from_json(s) for s in v or []]


@dataclass(frozen=True)
class CallMetrics:
    """What was measured of a call (metrics/timing.py, metrics/acoustics.py, metrics/
    voice.py), units in the names: _s seconds, _cpm characters per minute (digits counted
    as said), _dbfs dB of full scale, _db dB, _share 0-1. None: not measurable on this call
    (no agent speech, a mono call's interruptions, a result stored before it was measured).

    The norms these are judged against are the pack's settings (settings.py); which rule
    judges which value is in rules/measures/."""

    answer_delay_s: float | None = None  # connect (or the last ring / prompt) to the agent's first word
    connect_s: float | None = None  # when the call was answered (after ringback)
    rings: int | None = None  # ringback cycles heard before the answer
    agent_speech_rate_cpm: float | None = None  # by the words heard
    agent_speech_rate_acoustic_cpm: float | None = None  # by syllable nuclei in the sound
    customer_speech_rate_cpm: float | None = None
    agent_speaking_s: float | None = None
    customer_speaking_s: float | None = None
    utterance_rates: list[UtteranceRate] = field(default_factory=list)
    max_silence_s: float | None = None
    silences: list[Stretch] = field(default_factory=list)  # every gap between the parties' speech
    holds: list[Stretch] = field(default_factory=list)  # announced holds
    dead_air: list[Stretch] = field(default_factory=list)  # silences nobody explained
    response_latency: list[Stretch] = field(default_factory=list)  # the agent slow to answer
    agent_interruptions: int | None = None  # None on mono calls
    interruptions: list[Stretch] | None = None
    agent_level_dbfs: float | None = None
    agent_level_spread_db: float | None = None
    agent_clipping_share: float | None = None
    customer_level_dbfs: float | None = None
    customer_clipping_share: float | None = None
    agent_noise_floor_dbfs: float | None = None
    customer_noise_floor_dbfs: float | None = None
    talk_ratio: dict[str, float] = field(default_factory=dict)  # agent/customer/silence shares
    agent_rate_per_minute: list[float | None] = field(default_factory=list)  # cpm by minute
    agent_level_per_minute: list[float | None] = field(default_factory=list)  # dBFS by minute
    duration_s: float | None = None
    long_call: bool = False  # over settings.call_length_review_s
    agent_spoke: bool = False
    customer_spoke: bool = False
    caller_raised_voice: list[RaisedVoice] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        """A value by its audit.call/1 name (the rule registry's metric keys), or `default`."""
        return getattr(self, key, default) if key in _METRIC_NAMES else default

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, list) and v and hasattr(v[0], "to_json"):
                v = [x.to_json() for x in v]
            d[f.name] = v
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> CallMetrics:
        d = _known(cls, d or {})
        for key in ("silences", "holds", "dead_air", "response_latency"):
            d[key] = _stretches(d.get(key))
        if d.get("interruptions") is not None:
            d["interruptions"] = _stretches(d["interruptions"])
        d["utterance_rates"] = [UtteranceRate(**u) for u in d.get("utterance_rates") or []]
        d["caller_raised_voice"] = [RaisedVoice(**_known(RaisedVoice, r))
                                    for r in d.get("caller_raised_voice") or []]
        return cls(**d)


_METRIC_NAMES = frozenset(f.name for f in fields(CallMetrics))
