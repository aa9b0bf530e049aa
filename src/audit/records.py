"""The plain records that flow through the pipeline, in order:

Audio -> Region (VAD) -> Utterance (ASR + roles) -> Metrics + Finding -> CallResult.
Times are seconds from the start of the recording; VAD's times are the clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["agent", "customer", "unknown"]
Severity = Literal["info", "minor", "major", "fatal"]
SCHEMA = "audit.call/1"


@dataclass
class Region:
    """A stretch of speech on one channel, as the VAD found it."""

    channel: int
    start: float
    end: float
    level_dbfs: float = -99.0  # RMS level of the stretch, for the volume metric

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "start": self.start, "end": self.end,
                "level_dbfs": self.level_dbfs}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Region:
        return cls(d["channel"], d["start"], d["end"], d.get("level_dbfs", -99.0))


@dataclass
class Utterance:
    """What was said in one speech region. `start`/`end` are the region's (VAD) times.

    The recognizer's confidence, when known (None in results stored before it was kept):
    `confidence` the geometric mean of its words' probabilities (0-1; exp of their mean
    log-probability, Whisper's `avg_logprob` over the words of this region alone),
    `no_speech_prob` Whisper's no-speech probability for the window it was decoded in,
    `compression_ratio` that window's text's gzip compression ratio (over 2.4: a loop).
    `heard`: the recognizer's text when the rule pack's vocabulary rewrote it (宫号 heard,
    工号 in `text`; speech/vocabulary.py), else None.
    """

    channel: int
    start: float
    end: float
    text: str
    role: Role = "unknown"
    level_dbfs: float = -99.0
    confidence: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    heard: str | None = None

    @property
    def avg_logprob(self) -> float | None:
        import math

        return None if self.confidence is None else math.log(max(self.confidence, 1e-9))

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "role": self.role,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "channel": self.channel,
            "level_dbfs": self.level_dbfs,
        }
        if self.confidence is not None:
            d.update(confidence=round(self.confidence, 3),
                     avg_logprob=round(self.avg_logprob or 0.0, 3),
                     no_speech_prob=None if self.no_speech_prob is None else round(self.no_speech_prob, 3),
                     compression_ratio=None if self.compression_ratio is None
                     else round(self.compression_ratio, 2))
        if self.heard is not None:
            d["heard"] = self.heard
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Utterance:
        return cls(channel=d["channel"], start=d["start"], end=d["end"], text=d["text"],
                   role=d["role"], level_dbfs=d.get("level_dbfs", -99.0),
                   confidence=d.get("confidence"), no_speech_prob=d.get("no_speech_prob"),
                   compression_ratio=d.get("compression_ratio"), heard=d.get("heard"))


NotPartyKind = Literal["system", "echo", "background"]


@dataclass
class NotParty:
    """Sound on a party's channel that is not that party speaking, kept out of their words,
    speaking time, talk ratio and interruptions, and shown as what it is.

    kind: "system" (machine speech: a carrier announcement, an IVR / queue prompt, a hold
    message, a voicemail greeting; speech/system.py), "echo" (the other party's voice
    returned on this channel, delayed and attenuated; audio/echo.py), "background" (a voice
    far under the party's own, a TV or radio; audio/vad.py). `label` names it finer
    (announcement:powered_off, prompt, voicemail, echo, background); `text` the words heard
    in it (system audio only); `why` says how it was told, as {key, args} (strings.DETAILS).
    Times in seconds of the recording; `channel` as in Region (a speaker on a separated mono
    call)."""

    channel: int
    start: float
    end: float
    kind: NotPartyKind
    label: str
    text: str = ""
    why: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "start": round(self.start, 3), "end": round(self.end, 3),
                "kind": self.kind, "label": self.label, "text": self.text, "why": self.why}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NotParty:
        return cls(d["channel"], d["start"], d["end"], d["kind"], d.get("label", d["kind"]),
                   d.get("text", ""), d.get("why") or {})


@dataclass
class Evidence:
    start: float
    end: float
    role: str
    text: str
    match: str = ""  # the words in `text` that triggered the finding, when there are some
    category: str = ""  # for forbidden phrases: which list the phrase is on

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "role": self.role,
            "text": self.text,
        }
        if self.match:
            d["match"] = self.match
        if self.category:
            d["category"] = self.category
        return d


@dataclass
class Finding:
    rule: str
    section: str
    severity: Severity
    applicable: bool
    passed: bool
    deduction: float  # points actually deducted (0 when passed or not applicable)
    message: str
    evidence: list[Evidence] = field(default_factory=list)
    detail: str = ""  # why: the measured value, the phrase found, why it does not apply
    review: bool = False  # failed, but who said it is unsure: for a person to decide, 0 points
    # the detail as a key of strings.DETAILS and its values, so any language can show it
    detail_id: str = ""
    detail_args: dict[str, Any] = field(default_factory=dict)
    review_id: str = ""  # why it needs review (a key of strings.DETAILS), "" when it does not
    # the lowest recognition confidence (0-1) of the utterances its evidence quotes; None
    # when they carry none (timing rules, results stored before confidence was kept)
    confidence: float | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = [e.to_json() for e in self.evidence]
        return d


@dataclass
class CallResult:
    file: str
    duration_s: float
    sample_rate: int
    channels: int
    agent_channel: str  # left | right | mono
    score: float | None  # None when there is no call to score (outcome "no_speech")
    passed: bool
    fatal: bool
    sections: dict[str, float]
    metrics: dict[str, Any]
    findings: list[Finding]
    utterances: list[Utterance]
    timing_s: dict[str, float]
    versions: dict[str, str]
    roles_reason: str = ""  # how the agent was told apart, in the audit's language
    roles_why: dict[str, Any] | None = None  # the same as {key, args} (strings.DETAILS)
    # Kept with a stored result (not in the JSON) so it can be re-scored without the audio.
    regions: list[Region] = field(default_factory=list)
    acoustics: dict[str, Any] = field(default_factory=dict)
    separation: dict[str, Any] | None = None  # mono calls: how the two speakers were separated
    # the rule pack it was judged with: fingerprint, effective settings, sections, messages
    judged_with: dict[str, Any] = field(default_factory=dict)
    # what is wrong with the recording itself (truncated, a bad header): {key, args, text}
    warnings: list[dict[str, Any]] = field(default_factory=list)
    declared_s: float | None = None  # the length the file's header declares, when it does
    # which channels were audited and why (audio/condition.py Layout): {kind, channels, key,
    # args, text}
    layout: dict[str, Any] | None = None
    # "audited"; "no_speech": nobody was heard (line noise, music, an abandoned call);
    # "not_connected": the call never reached a person (a carrier's announcement, ringing
    # with no answer, a busy tone, a voicemail greeting; speech/connection.py). Neither is a
    # call to judge: no score, never a pass; `outcome_why` says what was found
    outcome: str = "audited"
    outcome_why: dict[str, Any] | None = None  # {key, args, text} (strings.DETAILS)
    # speech regions (VAD) in which no word was heard, even decoded alone: text "", role
    unheard: list[Utterance] = field(default_factory=list)
    # personal data found in what was said (privacy/mask.py privacy_report): {redacted,
    # counts by type, entities with types, times and masked forms}, never the values
    privacy: dict[str, Any] | None = None
    # sound on a party's channel that is not that party: machine speech, echo, background
    not_party: list[NotParty] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "file": self.file,
            "outcome": self.outcome,
            "outcome_why": self.outcome_why,
            "layout": self.layout,
            "duration_s": round(self.duration_s, 3),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "agent_channel": self.agent_channel,
            "roles_reason": self.roles_reason,
            "roles_why": self.roles_why,
            "separation": self.separation,
            "score": self.score,
            "passed": self.passed,
            "fatal": self.fatal,
            "sections": self.sections,
            "metrics": self.metrics,
            "findings": [f.to_json() for f in self.findings],
            "utterances": [u.to_json() for u in self.utterances],
            "timing_s": {k: round(v, 3) for k, v in self.timing_s.items()},
            "versions": self.versions,
            "judged_with": self.judged_with,
            "warnings": self.warnings,
            # sound that is not speech: [start, end, label, channel] (audio/tones.py labels)
            "not_speech": [[round(a, 2), round(b, 2), lab, ch]
                           for a, b, lab, ch in self.acoustics.get("not_speech", [])],
            "declared_s": None if self.declared_s is None else round(self.declared_s, 3),
            # [start, end, role, channel] of speech in which no word was heard
            "unheard": [[round(u.start, 3), round(u.end, 3), u.role, u.channel]
                        for u in self.unheard],
            "privacy": self.privacy,
            "not_party": [n.to_json() for n in self.not_party],
        }


ROLES = ("agent", "customer", "unknown")
_REQUIRED = ("file", "duration_s", "score", "passed", "fatal", "findings", "utterances",
             "metrics", "sections")


def result_problem(d: Any) -> str:
    """The first reason a JSON value is not an audit.call/1 result a page can show, or ""."""
    if not isinstance(d, dict) or d.get("schema") != SCHEMA:
        return f"not an {SCHEMA} result"
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        return f"{SCHEMA} result without {', '.join(missing)}"
    kinds = {"findings": list, "utterances": list, "metrics": dict, "sections": dict}
    for k, kind in kinds.items():
        if not isinstance(d[k], kind):
            return f"`{k}` is not a {'list' if kind is list else 'mapping'}"
    if not (d["score"] is None or isinstance(d["score"], (int, float))) or \
            not isinstance(d["duration_s"], (int, float)):
        return "`score` and `duration_s` must be numbers"
    for i, u in enumerate(d["utterances"]):
        if not isinstance(u, dict) or u.get("role") not in ROLES:
            role = u.get("role") if isinstance(u, dict) else u
            return f"utterance {i + 1} has role {role!r} (one of {', '.join(ROLES)})"
        if not all(isinstance(u.get(k), (int, float)) for k in ("start", "end")) or \
                not isinstance(u.get("text"), str):
            return f"utterance {i + 1} needs a start, an end (seconds) and a text"
    for i, f in enumerate(d["findings"]):
        if not isinstance(f, dict) or not all(k in f for k in ("rule", "applicable", "passed")) \
                or not isinstance(f.get("evidence", []), list):
            return f"finding {i + 1} needs a rule, applicable, passed and a list of evidence"
    return ""
