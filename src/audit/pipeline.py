"""One recording in, one scored CallResult out: decode -> VAD -> ASR -> roles -> metrics ->
rules -> score. The Auditor loads the model and the rule pack once and audits many calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from audit import __version__
from audit.audio.condition import distinct_channels
from audit.audio.decode import Audio, decode
from audit.audio.tones import detect_ringback
from audit.audio.vad import VadOptions, speech_regions
from audit.metrics.acoustics import Acoustics, measure
from audit.metrics.timing import Metrics, compute
from audit.records import CallResult, Finding, Region, Utterance
from audit.rules.checks import Context, evaluate
from audit.rules.pack import RulePack, load
from audit.rules.score import Score, score
from audit.speech.asr import AsrOptions, Transcriber
from audit.speech.diarize import Diarization, default_embedder, diarize
from audit.speech.model import describe, resolve
from audit.speech.roles import RoleDecision, apply_mono, apply_stereo, decide_stereo

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class AuditOptions:
    model_dir: str | None = None
    rules: str | None = None
    agent_channel: str = "auto"  # auto | left | right
    lang: str = "zh"
    asr: AsrOptions = field(default_factory=AsrOptions)
    vad: VadOptions = field(default_factory=VadOptions)
    max_duration_s: float = 4 * 3600
    separate: bool = True  # mono calls: split the two speakers (False: roles from words only)


class Auditor:
    def __init__(self, opts: AuditOptions | None = None, pack: RulePack | None = None) -> None:
        self.opts = opts or AuditOptions()
        self.pack = pack or load(self.opts.rules)  # rule errors before the model loads
        self.model_dir = resolve(self.opts.model_dir)
        self.transcriber = Transcriber(self.model_dir, self.opts.asr)
        self.embedder = default_embedder(max(1, self.opts.asr.cpu_threads or 1)) \
            if self.opts.separate else None
        self.versions = {"audit": __version__, "model": describe(self.model_dir),
                         "rules": self.pack.fingerprint()}

    def audit(self, path: str, progress: Progress | None = None) -> CallResult:
        t0 = time.perf_counter()
        audio = decode(path, self.opts.max_duration_s)
        t1 = time.perf_counter()
        channels = distinct_channels(audio)
        ringback = detect_ringback(audio)
        regions: list[Region] = []
        for ch in channels:
            regions += speech_regions(audio.channels[ch], ch, self.opts.vad)
        # webrtcvad takes the ringback tone for speech
        regions = sorted((r for r in regions if not ringback.overlaps(r.start, r.end)),
                         key=lambda r: r.start)
        sep = None
        if len(channels) == 1 and self.embedder is not None:
            sep = diarize(audio.channels[0], regions, self.embedder)
        separated = sep is not None and sep.speakers == 2
        if separated:
            # each speaker becomes a channel over the same samples (no copy): from here on
            # the call is audited as stereo
            audio = Audio(audio.path, [audio.channels[0]] * 2, audio.source_rate,
                          audio.source_channels)
            regions = sep.regions(audio.channels[0])
            channels = [0, 1]
        t2 = time.perf_counter()
        stage0 = dict(self.transcriber.stage_s)
        utts = self.transcriber.transcribe(
            audio, regions, (lambda d, n: progress("asr", d, n)) if progress else None,
            shared_mix=separated)
        utts.sort(key=lambda u: (u.start, u.channel))
        t3 = time.perf_counter()
        stereo = len(channels) == 2
        if separated:
            decision = decide_stereo(utts, regions, "auto", names=("speaker 1", "speaker 2"))
            apply_stereo(utts, decision)
            decision = RoleDecision(decision.agent_channel, "mono",
                                    f"{sep.method} separation, {sep.reason}, confidence "
                                    f"{sep.confidence:.2f}; agent: {decision.reason}")
        elif stereo:
            decision = decide_stereo(utts, regions, self.opts.agent_channel)
            apply_stereo(utts, decision)
        else:
            decision = apply_mono(utts)
            if sep is not None:
                decision.reason += f" ({sep.method}: {sep.reason})"
        acoustics = measure(audio, utts, ringback)
        separation = _separation(sep, decision)
        metrics, findings, s = judge(self.pack, acoustics, regions, utts, stereo, self.opts.lang,
                                     separation_unsure(separation, self.pack.settings))
        t4 = time.perf_counter()
        return CallResult(
            file=path, duration_s=audio.duration, sample_rate=audio.source_rate,
            channels=audio.source_channels, agent_channel=decision.label, score=s.score,
            passed=s.passed, fatal=s.fatal, sections=s.sections,
            metrics=metrics.to_json(self.pack.settings), findings=findings, utterances=utts,
            timing_s={"decode": t1 - t0, "vad": t2 - t1, "asr": t3 - t2, "rules": t4 - t3,
                      "total": t4 - t0,
                      **{f"asr_{k}": v - stage0[k] for k, v in self.transcriber.stage_s.items()}},
            versions=self.versions, roles_reason=decision.reason,
            regions=regions, acoustics=asdict(acoustics), separation=separation,
        )


def judge(pack: RulePack, acoustics: Acoustics, regions: list[Region], utts: list[Utterance],
          stereo: bool, lang: str = "zh", unsure: bool = False,
          ) -> tuple[Metrics, list[Finding], Score]:
    """Metrics, findings and score from what was heard: the part a new rule pack re-runs.
    `unsure`: the speakers of a mono call were separated with low confidence."""
    metrics = compute(acoustics, regions, utts, stereo, pack.settings)
    findings = evaluate(pack, Context(utts, metrics, pack.settings, mono=not stereo, lang=lang,
                                      unsure_speakers=unsure))
    return metrics, findings, score(findings, list(pack.sections), pack.settings["pass_mark"])


def separation_unsure(separation: dict | None, settings: dict) -> bool:
    """Two speakers were separated, but not confidently enough to blame either one."""
    return bool(separation) and separation["speakers"] == 2 and \
        separation["confidence"] < settings["separation_min_confidence"]


def _separation(sep: Diarization | None, decision: RoleDecision) -> dict | None:
    if sep is None:
        return None
    return {"method": sep.method, "speakers": sep.speakers, "confidence": sep.confidence,
            "reason": sep.reason, "agent_speaker": decision.agent_channel,
            "overlaps": [list(o) for o in sep.overlaps],
            "timing_s": {k: round(v, 3) for k, v in sep.timing_s.items()}}
