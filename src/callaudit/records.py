"""The plain records that flow through the pipeline, in order:

Audio -> Region (VAD) -> Utterance (ASR + roles) -> Metrics + Finding -> CallResult.
Times are seconds from the start of the recording; VAD's times are the clock.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from callaudit.parts import (
    CallMetrics,
    ChannelLayout,
    JudgedWith,
    PrivacyReport,
    Reason,
    Separation,
)
from callaudit.strings import detail_text

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
    工号 in `text`; speech/vocabulary.py), else None. `dense`: the text is denser than
    speech can be for its sound (speech/filters.unsupported): it may be the recognizer's,
    not the speaker's, so a failure resting on it goes to a person (rules/doubt.py).
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
    dense: bool = False

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
            conf = round(self.confidence, 3)  # avg_logprob from what is written: it reads back
            d.update(confidence=conf,
                     avg_logprob=round(math.log(max(conf, 1e-9)), 3),
                     no_speech_prob=None if self.no_speech_prob is None else round(self.no_speech_prob, 3),
                     compression_ratio=None if self.compression_ratio is None
                     else round(self.compression_ratio, 2))
        if self.heard is not None:
            d["heard"] = self.heard
        if self.dense:
            d["dense"] = True
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Utterance:
        return cls(channel=d["channel"], start=d["start"], end=d["end"], text=d["text"],
                   role=d["role"], level_dbfs=d.get("level_dbfs", -99.0),
                   confidence=d.get("confidence"), no_speech_prob=d.get("no_speech_prob"),
                   compression_ratio=d.get("compression_ratio"), heard=d.get("heard"),
                   dense=bool(d.get("dense", False)))


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
    """Where a finding points: seconds of the recording (`start`, `end`), who spoke there
    (`role`: agent, customer, unknown) and what they said (`text`, the utterance); `match`
    the words in it that triggered the rule, `category` a forbidden phrase's list."""

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

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Evidence:
        return cls(d["start"], d["end"], d.get("role", "unknown"), d.get("text", ""),
                   d.get("match", ""), d.get("category", ""))


@dataclass
class Finding:
    """One rule's verdict on one call.

    `applicable` False: the rule did not apply (no hold, no request ...), `detail` says why.
    Otherwise `passed`, and for a failure `deduction` points taken from `section` (0 when the
    failure needs `review`: the recognizer may have misheard, so a person decides; rules/
    doubt.py). `severity`: minor, major, fatal (a fatal failure fails the call). `message`
    and `detail` are in the audit's language; `detail_id`/`detail_args` and `review_id` are
    the same as keys of strings.DETAILS, for any language. `evidence` in time order."""

    rule: str
    section: str
    severity: Severity
    applicable: bool
    passed: bool
    deduction: float  # points actually deducted (0 when passed or not applicable)
    message: str
    evidence: list[Evidence] = field(default_factory=list)
    detail: str = ""  # why: the measured value, the phrase found, why it does not apply
    # the detail as a key of strings.DETAILS and its values, so any language can show it
    detail_id: str = ""
    detail_args: dict[str, Any] = field(default_factory=dict)
    # why it failed but needs a person (a key of strings.DETAILS: review_unheard, ...), ""
    # when it does not; such a failure deducts 0 points and is never fatal
    review_id: str = ""
    # the lowest recognition confidence (0-1) of the utterances its evidence quotes; None
    # when they carry none (timing rules, results stored before confidence was kept)
    confidence: float | None = None

    @property
    def review(self) -> bool:
        """Failed, but a person decides (`review_id` says why)."""
        return bool(self.review_id)

    def detail_in(self, lang: str) -> str:
        """The detail in `lang`: from its key when it has one, else the text it was stored
        with (results written before details had keys); why it needs review after it."""
        if not self.detail_id:
            return self.detail
        text = detail_text(self.detail_id, self.detail_args, lang)
        if self.review_id:
            text += "; " + detail_text(self.review_id, {}, lang)
        return text

    @property
    def verdict(self) -> str:
        """"na" (not applicable), "pass", "fail", or "review" (failed, a person decides)."""
        if not self.applicable:
            return "na"
        return "pass" if self.passed else "review" if self.review else "fail"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["evidence"] = [e.to_json() for e in self.evidence]
        # the JSON keeps `review` where it always was, before detail_id (audit.call/1)
        order = list(d)
        order.insert(order.index("detail_id"), "review")
        return {k: (self.review if k == "review" else d[k]) for k in order}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Finding:
        """A finding as `to_json` wrote it (a result stored before a field existed gets its
        default; one stored with `review` before `review_id` existed needed review because
        who spoke was unsure, the only reason then)."""
        known = {k: v for k, v in d.items() if k in _FINDING_FIELDS and k != "evidence"}
        if d.get("review") and not known.get("review_id"):
            known["review_id"] = "review_unknown_speaker"
        return cls(**known, evidence=[Evidence.from_json(e) for e in d.get("evidence") or []])


@dataclass
class CallResult:
    """The audit of one recording: the record `Auditor.audit` returns, `to_json()` writes as
    audit.call/1 (src/callaudit/call.schema.json, docs/RESULT.md) and `from_json` reads back.

    `score` 0-100 (None when there was no call to score: `outcome` "no_speech" or
    "not_connected"), `passed` against the pack's pass mark and never True for those, `fatal`
    when a fatal rule failed; `sections` points by section; `findings` one per enabled rule;
    `utterances` who said what when (seconds of the recording); `metrics` the measured
    values (a CallMetrics, units in the names: _s, _cpm, _dbfs); `layout`, `separation`,
    `privacy`, `judged_with`, `warnings`, `outcome_why`, `roles_why`: the typed parts of
    parts.py. Durations in s,
    `sample_rate` in Hz as the file stored it. `regions` and `acoustics` are kept with a
    stored result for re-scoring and are not part of the JSON."""

    file: str
    duration_s: float
    sample_rate: int
    channels: int
    agent_channel: str  # left | right | mono
    score: float | None  # None when there is no call to score (outcome "no_speech")
    passed: bool
    fatal: bool
    sections: dict[str, float]
    metrics: CallMetrics
    findings: list[Finding]
    utterances: list[Utterance]
    timing_s: dict[str, float]
    versions: dict[str, str]
    roles_reason: str = ""  # how the agent was told apart, in the audit's language
    roles_why: Reason | None = None  # the same as a key of strings.DETAILS
    # Kept with a stored result (not in the JSON) so it can be re-scored without the audio.
    regions: list[Region] = field(default_factory=list)
    acoustics: dict[str, Any] = field(default_factory=dict)
    separation: Separation | None = None  # mono calls: how the two speakers were separated
    # the rule pack it was judged with: fingerprint, effective settings, sections, messages
    judged_with: JudgedWith = field(default_factory=JudgedWith)
    # what is wrong with the recording itself (truncated, a bad header)
    warnings: list[Reason] = field(default_factory=list)
    declared_s: float | None = None  # the length the file's header declares, when it does
    # which channels were audited and why (audio/condition.py Layout)
    layout: ChannelLayout | None = None
    # "audited"; "no_speech": nobody was heard (line noise, music, an abandoned call);
    # "not_connected": the call never reached a person (a carrier's announcement, ringing
    # with no answer, a busy tone, a voicemail greeting; speech/connection.py). Neither is a
    # call to judge: no score, never a pass; `outcome_why` says what was found
    outcome: str = "audited"
    outcome_why: Reason | None = None
    # speech regions (VAD) in which no word was heard, even decoded alone: text "", role
    unheard: list[Utterance] = field(default_factory=list)
    # personal data found in what was said (privacy/mask.py privacy_report): types, times
    # and masked forms, never the values
    privacy: PrivacyReport | None = None
    # sound on a party's channel that is not that party: machine speech, echo, background
    not_party: list[NotParty] = field(default_factory=list)

    def message_of(self, f: Finding, lang: str) -> str:
        """Finding `f`'s rule message in `lang`, as the pack it was judged with words it."""
        return self.judged_with.messages.get(f.rule, {}).get(lang) or f.message

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "file": self.file,
            "outcome": self.outcome,
            "outcome_why": _json(self.outcome_why),
            "layout": _json(self.layout),
            "duration_s": round(self.duration_s, 3),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "agent_channel": self.agent_channel,
            "roles_reason": self.roles_reason,
            "roles_why": _json(self.roles_why),
            "separation": _json(self.separation),
            "score": self.score,
            "passed": self.passed,
            "fatal": self.fatal,
            "sections": self.sections,
            "metrics": self.metrics.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "utterances": [u.to_json() for u in self.utterances],
            "timing_s": {k: round(v, 3) for k, v in self.timing_s.items()},
            "versions": self.versions,
            "judged_with": self.judged_with.to_json(),
            "warnings": [w.to_json() for w in self.warnings],
            # sound that is not speech: [start, end, label, channel] (audio/tones.py labels)
            "not_speech": [[round(a, 2), round(b, 2), lab, ch]
                           for a, b, lab, ch in self.acoustics.get("not_speech", [])],
            "declared_s": None if self.declared_s is None else round(self.declared_s, 3),
            # [start, end, role, channel] of speech in which no word was heard
            "unheard": [[round(u.start, 3), round(u.end, 3), u.role, u.channel]
                        for u in self.unheard],
            "privacy": _json(self.privacy),
            "not_party": [n.to_json() for n in self.not_party],
        }


    @classmethod
    def from_json(cls, d: dict[str, Any], regions: list[Region] | None = None,
                  acoustics: dict[str, Any] | None = None, check: bool = True) -> CallResult:
        """The record of an audit.call/1 JSON result (`to_json`'s output, or one read from a
        file or the database): `to_json(from_json(d)) == d`. The parts the JSON does not hold
        (`regions`, `acoustics`: kept beside a stored result for re-scoring) are given, or
        empty (`acoustics` then holds only `not_speech`). Raises ValueError naming the first
        problem when `d` is not such a result (`result_problem`). `check=False` skips the
        schema check (11 ms) for a result this package wrote (the database's): a malformed
        one still raises ValueError."""
        problem = result_problem(d) if check else ""
        if problem:
            raise ValueError(problem)
        try:
            return cls._from_json(d, regions, acoustics)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(result_problem(d) or f"{SCHEMA} result: {e!r}") from e

    @classmethod
    def _from_json(cls, d: dict[str, Any], regions: list[Region] | None,
                   acoustics: dict[str, Any] | None) -> CallResult:
        if acoustics is None:
            acoustics = {"not_speech": [tuple(x) for x in d.get("not_speech") or []]}
        return cls(
            file=d["file"], duration_s=d["duration_s"], sample_rate=d.get("sample_rate", 0),
            channels=d.get("channels", 0), agent_channel=d.get("agent_channel", "mono"),
            score=d["score"], passed=d["passed"], fatal=d["fatal"], sections=d["sections"],
            metrics=CallMetrics.from_json(d["metrics"]),
            findings=[Finding.from_json(f) for f in d["findings"]],
            utterances=[Utterance.from_json(u) for u in d["utterances"]],
            timing_s=d.get("timing_s") or {}, versions=d.get("versions") or {},
            roles_reason=d.get("roles_reason", ""), roles_why=Reason.from_json(d.get("roles_why")),
            regions=list(regions or []), acoustics=acoustics,
            separation=Separation.from_json(d.get("separation")),
            judged_with=JudgedWith.from_json(d.get("judged_with")),
            warnings=[w for w in map(Reason.from_json, d.get("warnings") or []) if w],
            declared_s=d.get("declared_s"), layout=ChannelLayout.from_json(d.get("layout")),
            outcome=d.get("outcome", "audited"), outcome_why=Reason.from_json(d.get("outcome_why")),
            unheard=[Utterance(ch, a, b, "", role) for a, b, role, ch in d.get("unheard") or []],
            privacy=PrivacyReport.from_json(d.get("privacy")),
            not_party=[NotParty.from_json(n) for n in d.get("not_party") or []],
        )


def _json(part: Any) -> Any:
    return None if part is None else part.to_json()


_FINDING_FIELDS = {f for f in Finding.__dataclass_fields__}
ROLES = ("agent", "customer", "unknown")


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an audit.call/1 result, shipped in the package
    (callaudit/call.schema.json)."""
    text = resources.files("callaudit").joinpath("call.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def result_problem(d: Any) -> str:
    """The first reason a JSON value is not an audit.call/1 result (against `schema()`), as
    one line naming where ("utterances/2/role: 'boss' is not one of ..."), or ""."""
    if not isinstance(d, dict) or d.get("schema") != SCHEMA:
        return f"not an {SCHEMA} result"
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(d))
    if error is None:
        return ""
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{SCHEMA} result: {where + ': ' if where else ''}{error.message}"
