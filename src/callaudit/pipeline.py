"""One recording in, one scored CallResult out. Each stage is a public function of its
package, and `Auditor.audit` is their composition:

    decode -> remove_offset -> channel_layout -> cancel_echoes -> detect_ringback
    -> call_regions (background voices apart)                           (audio/)
    -> separate -> transcribe -> find_system -> assign_roles
    -> not_connected                                                    (speech/)
    -> measure                                                          (metrics/)
    -> judge: metrics, findings, score                                  (rules/)
    -> detect personal data (reported; masked by `result_json` with redact)  (privacy/)

The Auditor loads the model and the rule pack once and audits many calls.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from callaudit.audio.condition import Layout, channel_layout, remove_offset
from callaudit.audio.decode import Audio, decode
from callaudit.audio.echo import EchoPath, cancel_echoes, echo_spans
from callaudit.audio.tones import Ringback, detect_ringback
from callaudit.audio.vad import VadOptions, call_regions
from callaudit.errors import InputError
from callaudit.metrics.acoustics import measure
from callaudit.numerics import one_blas_thread
from callaudit.parts import CallMetrics, ChannelLayout, Reason, Separation
from callaudit.privacy.detect import Entity, detect_in
from callaudit.privacy.mask import mask_utterances, privacy_report, redact, redact_result
from callaudit.records import CallResult, NotParty, Region, Role, Utterance
from callaudit.rules.judge import judge, judged_with, speakers_unsure
from callaudit.rules.pack import RulePack, load
from callaudit.speech import vocabulary
from callaudit.speech.asr import AsrOptions, Transcriber
from callaudit.speech.connection import not_connected
from callaudit.speech.diarize import Diarization, Separated, default_embedder, separate
from callaudit.speech.model import describe, resolve
from callaudit.speech.roles import RoleDecision, assign_roles
from callaudit.speech.system import find_system
from callaudit.strings import Detail
from callaudit.version import __version__

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class AuditOptions:
    """How an Auditor audits; every field has a default.

    model_dir: a CTranslate2 Whisper directory (None: models/whisper-base, or
        $CALLAUDIT_MODEL; speech/model.py).
    rules: a rule pack YAML merged over the default (None: the default pack).
    agent_channel: "auto" (told from the words and the voices), "left" or "right" (stereo).
    lang: the language of messages and details, "zh" or "en".
    asr: the recognizer's options (speech/asr.py AsrOptions, field by field).
    vad: voice activity detection options (audio/vad.py VadOptions).
    max_duration_s: seconds; a longer recording is refused (InputError).
    separate: mono calls: split the two speakers by voice (False: roles from words only).
    max_missing_s: seconds; a recording missing more than this of its declared length is
        refused (None: audited, with a warning in the result).
    raw: a headerless file's format, "ulaw:8000" (audio/decode.parse_raw); None: refused.
    redact: personal data is masked in the result `audit` returns and in its JSON
        (privacy/mask.py); what was found is still reported, as types and times.
    mono_words: a mono call of two speakers (speech/asr.Transcriber.transcribe_mix,
        speech/attribution.py; figures in bench/mono_speed.md): "regions" transcribes the
        stretches of speech one speaker holds in the mix, densely, as a stereo channel is,
        and the turns of a stretch in which the speaker changes speaker by speaker;
        "words" transcribes the whole mix so and gives each word to the turn it overlaps
        most, decoding again alone the turns at a change a word straddles; "turns" decodes
        each speaker's turns apart (the default: neither other way measured faster at
        the same attribution on the two-voice mixes of bench/mono, issue 37).
    """

    model_dir: str | None = None
    rules: str | None = None
    agent_channel: str = "auto"
    lang: str = "zh"
    asr: AsrOptions = field(default_factory=AsrOptions)
    vad: VadOptions = field(default_factory=VadOptions)
    max_duration_s: float = 4 * 3600
    separate: bool = True
    max_missing_s: float | None = None
    raw: str | None = None
    redact: bool = False
    mono_words: Literal["turns", "regions", "words"] = "turns"


class Auditor:
    """Audits calls: loads the Whisper model and the rule pack once, then `audit(path)` per
    recording, in any order. Raises ModelError (no usable model) or RulePackError (a bad
    pack) when built. One Auditor is not for two threads at once (its recognizer is
    stateful); a process per worker is how the batch runs in parallel (batch/pool.py).

        auditor = Auditor(AuditOptions(redact=True))
        result = auditor.audit("samples/demo_call.wav")
        result.score, [f.rule for f in result.findings if f.deduction]
    """

    def __init__(self, opts: AuditOptions | None = None, pack: RulePack | None = None) -> None:
        self.opts = opts or AuditOptions()
        self.pack = pack or load(self.opts.rules)  # rule errors before the model loads
        self.model_dir = resolve(self.opts.model_dir)
        self.transcriber = Transcriber(self.model_dir, self.opts.asr)
        self.embedder = default_embedder(max(1, self.opts.asr.cpu_threads or 1)) \
            if self.opts.separate else None
        self.versions = {"audit": __version__, "model": describe(self.model_dir),
                         "rules": self.pack.fingerprint()}
        self.judged_with = judged_with(self.pack)

    def with_pack(self, pack: RulePack) -> Auditor:
        """This Auditor judging with another rule pack: the model (and the speaker embedder)
        are shared, not loaded again (a batch with scorecards holds one per business line).
        The two are not for two threads at once, as one Auditor is not."""
        other = copy.copy(self)
        other.pack = pack
        other.versions = {**self.versions, "rules": pack.fingerprint()}
        other.judged_with = judged_with(pack)
        return other

    def with_options(self, **changes: Any) -> Auditor:
        """This Auditor with some options of AuditOptions changed (`separate=False`,
        `lang="en"`, `agent_channel="right"`, ...): the model and the embedder are shared,
        not loaded again, unless `model_dir` or `asr` changes (then a new Auditor, which
        loads its own). `rules` loads that pack. TypeError for a name AuditOptions has not.
        Not for two threads at once beside this one, as one Auditor is not."""
        opts = replace(self.opts, **changes)
        if opts.model_dir != self.opts.model_dir or opts.asr != self.opts.asr:
            return Auditor(opts)
        other = self.with_pack(load(opts.rules)) if opts.rules != self.opts.rules \
            else copy.copy(self)
        other.opts = opts
        if opts.separate and other.embedder is None:
            other.embedder = default_embedder(max(1, opts.asr.cpu_threads or 1))
        elif not opts.separate:
            other.embedder = None
        return other

    def result_json(self, result: CallResult) -> dict[str, Any]:
        """The result as audit.call/1 JSON, its personal data masked when `opts.redact`
        (a result `audit` returned is masked already)."""
        d = result.to_json()
        return redact(d, self.pack) if self.opts.redact else d

    def audit(self, path: str, progress: Progress | None = None, raw: str | None = None,
              agent_channel: str | None = None,
              on_decoded: Callable[[float], None] | None = None) -> CallResult:
        """Decode the recording at `path` and audit it. InputError (one line: the file and the
        problem) for a recording that cannot be audited. `progress(stage, done, total)` is
        called as the recognizer's windows are decoded. `raw`: a headerless file's format,
        e.g. "ulaw:8000" (default `opts.raw`); `agent_channel`: this call's (default
        `opts.agent_channel`); `on_decoded(seconds)`: called with the recording's length once
        it is decoded (the batch sets a call's time limit by it)."""
        t0 = time.perf_counter()
        audio = decode(path, self.opts.max_duration_s, raw or self.opts.raw)
        if on_decoded is not None:
            on_decoded(audio.duration)
        return self._audit(audio, progress, time.perf_counter() - t0, agent_channel)

    def audit_audio(self, audio: Audio, progress: Progress | None = None,
                    decode_s: float = 0.0, agent_channel: str | None = None) -> CallResult:
        """Audit a recording already decoded (`decode`), as `audit` does; `audio` is left as
        it was (the audit conditions a copy of its samples)."""
        own = Audio(audio.path, [c.copy() for c in audio.channels], audio.source_rate,
                    audio.source_channels, audio.declared_s, list(audio.warnings))
        return self._audit(own, progress, decode_s, agent_channel)

    def _audit(self, audio: Audio, progress: Progress | None, decode_s: float,
               agent_channel: str | None) -> CallResult:
        # NumPy's BLAS on one thread while this call is audited, as in every process that
        # audits (numerics.py); the host program's setting is back afterwards
        with one_blas_thread():
            r, found = self._audit_owned(audio, progress, decode_s,
                                         agent_channel or self.opts.agent_channel)
        if self.opts.redact:  # the record a program receives is masked, not only its JSON
            r = redact_result(r, self.pack, found)
        return r

    def _audit_owned(self, audio: Audio, progress: Progress | None, decode_s: float,
                     agent_channel: str) -> tuple[CallResult, list[Entity]]:
        if self.opts.max_missing_s is not None and audio.missing_s > self.opts.max_missing_s:
            raise InputError(audio.path, f"truncated: the header declares {audio.declared_s:.1f} s, "
                             f"the file holds {audio.duration:.1f} s (more than "
                             f"{self.opts.max_missing_s:g} s missing)")
        t1 = time.perf_counter()
        remove_offset(audio)
        layout = channel_layout(audio)
        stereo = layout.kind == "stereo"  # a party per channel
        echoes = cancel_echoes(audio, stereo, self.opts.vad)
        channels = [0, 1] if layout.kind == "one_live" else layout.channels  # both, see below
        ringback = detect_ringback(audio)
        regions = call_regions(audio, channels, ringback, self.opts.vad, party_channels=stereo)
        others = _echo(echoes, regions, ringback) + _background(ringback, self.opts.vad)
        sep = separate(audio, _live(regions, layout), layout.channels, self.embedder)
        t2 = time.perf_counter()
        stage0 = dict(self.transcriber.stage_s)
        on_window = (lambda d, n: progress("asr", d, n)) if progress else None
        if sep.two_speakers and sep.diarization is not None and self.opts.mono_words != "turns":
            heard = self.transcriber.transcribe_mix(
                audio, _live(regions, layout), sep.audio, sep.regions, sep.diarization.overlaps,
                on_window, by_region=self.opts.mono_words == "regions")
            sep.diarization.timing_s["redecode"] = self.transcriber.redecoded[1]
        else:
            heard = self.transcriber.transcribe_all(sep.audio, sep.regions, on_window,
                                                    shared_mix=sep.two_speakers)
        utts = vocabulary.apply(sorted(heard.utterances, key=lambda u: (u.start, u.channel)),
                                self.pack.settings.vocabulary)
        # the machine's words are nobody's (an utterance holds its region's channel and times)
        system = find_system(utts, self.pack.settings)
        machine_at = {(n.channel, n.start, n.end) for n in system}
        utts = [u for u in utts if (u.channel, u.start, u.end) not in machine_at]
        others += system
        t3 = time.perf_counter()
        decision = assign_roles(utts, _party(sep.regions, machine_at), sep.channels,
                                agent_channel, sep.diarization)
        if _one_party(layout, sep, utts):
            # One voice on the only live channel, and no word of it a caller's: a stereo call
            # whose other party never spoke (the silent call), not a mix.
            layout = Layout([0, 1], "stereo", Detail("layout_one_voice", layout.why.args))
            sep = Separated(audio, regions, [0, 1], None)
            decision = assign_roles(utts, _party(regions, machine_at), [0, 1],
                                    agent_channel, None)
        # the parties' speech: machine speech is neither speaking time nor the bound of a
        # silence (a hold message inside a hold leaves one hold)
        heard_regions = _party(sep.regions, machine_at)
        _after_prompts(ringback, system, utts, decision, layout.kind == "stereo")
        acoustics = measure(sep.audio, utts, ringback)
        separation = _separation(sep.diarization, decision, self.opts.lang)
        unheard = [Utterance(r.channel, r.start, r.end, "", _role_of(r.channel, decision),
                             r.level_dbfs) for r in heard.unheard]
        j = judge(self.pack, acoustics, heard_regions, utts, len(sep.channels) == 2, self.opts.lang,
                  speakers_unsure(separation, decision.sure, self.pack.settings), unheard,
                  system=[_as_agent(n) for n in system if n.label == "prompt" and
                          (layout.kind != "stereo" or n.channel == decision.agent_channel)])
        found = detect_in(utts, self.pack)  # after the rules: they judge the words as said
        mask_utterances(utts, found)  # each entity's masked form, for the report
        t4 = time.perf_counter()
        s = j.score
        unconnected = not_connected(system, utts, ringback,
                                    layout.kind == "stereo", self.pack.settings)
        silent = None if unconnected else no_speech(heard_regions, utts)
        lang = self.opts.lang
        r = CallResult(
            file=audio.path, duration_s=audio.duration, sample_rate=audio.source_rate,
            channels=audio.source_channels, agent_channel=decision.label, score=s.score,
            passed=s.passed, fatal=s.fatal, sections=s.sections,
            metrics=CallMetrics.from_json(j.metrics.to_json(self.pack.settings)),
            findings=j.findings, utterances=utts,
            timing_s={"decode": decode_s, "vad": t2 - t1, "asr": t3 - t2, "rules": t4 - t3,
                      "total": decode_s + t4 - t1,
                      **{f"asr_{k}": v - stage0[k] for k, v in self.transcriber.stage_s.items()}},
            versions=self.versions, roles_reason=decision.why.text(lang),
            roles_why=Reason(decision.why.key, decision.why.to_json()["args"]), regions=heard_regions,
            acoustics=asdict(acoustics), separation=separation, judged_with=self.judged_with,
            warnings=[_reason(w, lang) for w in audio.warnings],
            declared_s=audio.declared_s, layout=ChannelLayout.from_json(layout.to_json(lang)),
            unheard=unheard,
            privacy=privacy_report(found, redacted=False),
            not_party=sorted(others, key=lambda n: (n.start, n.channel)),
        )
        for outcome, why in (("not_connected", unconnected), ("no_speech", silent)):
            if why is not None:  # no call to judge: no score, no findings, never a pass
                r.score, r.passed, r.fatal, r.sections, r.findings = None, False, False, {}, []
                r.outcome, r.outcome_why = outcome, _reason(why, lang)
                break
        return r, found


def no_speech(regions: list[Region], utts: list[Utterance]) -> Detail | None:
    """Why a recording holds no call to audit (None when somebody said something).

    Judged on words, not on the VAD alone: line hiss, hum and music can pass for voice, but
    a recognizer that hears no word in any of it means that nobody spoke. A call in which
    one party spoke is a call (the rules judge the silence of the other)."""
    if any(u.text.strip() for u in utts):
        return None
    if not regions:
        return Detail("no_speech_none", {})
    return Detail("no_speech_no_words", {"seconds": round(sum(r.duration for r in regions), 1)})


def _party(regions: list[Region], machine: set[tuple[int, float, float]]) -> list[Region]:
    """The regions that are not machine speech (an utterance holds its region's times)."""
    return [r for r in regions if (r.channel, r.start, r.end) not in machine]


def _echo(paths: list[EchoPath], regions: list[Region], ringback: Ringback) -> list[NotParty]:
    """What cancelling each echo took out of its leg's speech (not what is labelled as
    other sound: tones, music, background voices), as NotParty records."""
    return [NotParty(p.leg, s, e, "echo", "echo", why=Detail("echo_of", p.to_json()).to_json())
            for p in paths for s, e in echo_spans(p, regions, ringback.on_channel(p.leg))]


def _background(ringback: Ringback, opts: VadOptions) -> list[NotParty]:
    """The background voices call_regions labelled, moved from the not-speech spans."""
    why = Detail("background_voice", {"db": opts.background_below_db}).to_json()
    out = [NotParty(ch, s, e, "background", "background", why=why)
           for s, e, label, ch in ringback.spans if label == "background"]
    ringback.spans = [sp for sp in ringback.spans if sp[2] != "background"]
    return out


def _after_prompts(ringback: Ringback, system: list[NotParty], utts: list[Utterance],
                   decision: RoleDecision, stereo: bool) -> None:
    """System prompts before the agent's first words are pre-answer audio, like colour
    ringback: the answer delay runs from the end of the last of them (on the agent's leg,
    when each party has a channel)."""
    first = min((u.start for u in utts if u.role == "agent"), default=None)
    if first is None:
        return
    ends = [n.end for n in system if n.label == "prompt" and n.start < first and
            (not stereo or n.channel == decision.agent_channel)]
    if ends and max(ends) > ringback.connect_s:
        ringback.connect_s = round(min(max(ends), first), 3)
        ringback.answered_by_s = None


def _as_agent(n: NotParty) -> Utterance:
    """A system prompt's words as the agent's, for the rules in settings.system_credits."""
    return Utterance(n.channel, n.start, n.end, n.text, "agent")


def _role_of(channel: int, decision: RoleDecision) -> Role:
    """The role of a channel (or separated speaker) as the roles were decided."""
    if decision.agent_channel is None:
        return "unknown"
    return "agent" if channel == decision.agent_channel else "customer"


def _live(regions: list[Region], layout: Layout) -> list[Region]:
    """The regions of the audited channels (one_live: VAD ran on both, see _one_party)."""
    return [r for r in regions if r.channel in layout.channels]


def _one_party(layout: Layout, sep: Separated, utts: list[Utterance]) -> bool:
    """One live channel beside a dead one is a mono mix (two voices, or a caller's words in
    it) or a stereo call whose other party never spoke (one voice, nobody's words a caller's)."""
    return layout.kind == "one_live" and sep.diarization is not None and \
        sep.diarization.speakers == 1 and not any(u.role == "customer" for u in utts)


def _separation(sep: Diarization | None, decision: RoleDecision, lang: str,
                ) -> Separation | None:
    if sep is None:
        return None
    return Separation(sep.method, sep.speakers, sep.confidence,
                      Reason(sep.why.key, sep.why.to_json()["args"]), decision.agent_channel,
                      [list(o) for o in sep.overlaps],
                      {k: round(v, 3) for k, v in sep.timing_s.items()}, sep.why.text(lang))


def _reason(why: Detail, lang: str) -> Reason:
    """A Detail as stored in a result: its key and args, and its text in `lang`."""
    return Reason(why.key, why.to_json()["args"], why.text(lang))


def audit_file(path: str, **options: Any) -> CallResult:
    """Audit one recording in one line: `audit_file("call.wav", rules="my.yaml")`. `options`
    are AuditOptions' fields. It loads the model for this one call (seconds): for many
    calls, build one Auditor and call its `audit`. Raises InputError, ModelError or
    RulePackError (one line each)."""
    return Auditor(AuditOptions(**options)).audit(path)
