"""One recording in, one scored CallResult out: decode -> VAD -> ASR -> roles -> metrics ->
rules -> score. The Auditor loads the model and the rule pack once and audits many calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from . import __version__
from .asr import AsrOptions, Transcriber
from .audio import SAMPLE_RATE, Audio, decode
from .engine import Context, evaluate
from .metrics import Acoustics, Metrics, compute, detect_ringback, measure
from .modeldir import describe, resolve
from .records import CallResult, Finding, Region, Utterance
from .roles import apply_mono, apply_stereo, decide_stereo
from .rulepack import RulePack, load
from .score import Score, score
from .vad import VadOptions, speech_regions

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


class Auditor:
    def __init__(self, opts: AuditOptions | None = None, pack: RulePack | None = None) -> None:
        self.opts = opts or AuditOptions()
        self.pack = pack or load(self.opts.rules)  # rule errors before the model loads
        self.model_dir = resolve(self.opts.model_dir)
        self.transcriber = Transcriber(self.model_dir, self.opts.asr)
        self.versions = {"audit": __version__, "model": describe(self.model_dir),
                         "rules": self.pack.fingerprint()}

    def audit(self, path: str, progress: Progress | None = None) -> CallResult:
        t0 = time.perf_counter()
        audio = decode(path, self.opts.max_duration_s)
        t1 = time.perf_counter()
        channels = _distinct_channels(audio)
        ringback = detect_ringback(audio)
        regions: list[Region] = []
        for ch in channels:
            regions += speech_regions(audio.channels[ch], ch, self.opts.vad)
        # webrtcvad takes the ringback tone for speech
        regions = sorted((r for r in regions if not ringback.overlaps(r.start, r.end)),
                         key=lambda r: r.start)
        t2 = time.perf_counter()
        stage0 = dict(self.transcriber.stage_s)
        utts = self.transcriber.transcribe(
            audio, regions, (lambda d, n: progress("asr", d, n)) if progress else None)
        utts.sort(key=lambda u: (u.start, u.channel))
        t3 = time.perf_counter()
        stereo = len(channels) == 2
        if stereo:
            decision = decide_stereo(utts, regions, self.opts.agent_channel)
            apply_stereo(utts, decision)
        else:
            decision = apply_mono(utts)
        acoustics = measure(audio, utts, ringback)
        metrics, findings, s = judge(self.pack, acoustics, regions, utts, stereo, self.opts.lang)
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
            regions=regions, acoustics=asdict(acoustics),
        )


def judge(pack: RulePack, acoustics: Acoustics, regions: list[Region], utts: list[Utterance],
          stereo: bool, lang: str = "zh") -> tuple[Metrics, list[Finding], Score]:
    """Metrics, findings and score from what was heard: the part a new rule pack re-runs."""
    metrics = compute(acoustics, regions, utts, stereo, pack.settings)
    findings = evaluate(pack, Context(utts, metrics, pack.settings, mono=not stereo, lang=lang))
    return metrics, findings, score(findings, list(pack.sections), pack.settings["pass_mark"])


def _distinct_channels(audio: Audio) -> list[int]:
    """Both channels of a stereo file, unless they carry the same mix (then audit it as mono)."""
    if len(audio.channels) < 2:
        return [0]
    a, b = audio.channels[0], audio.channels[1]
    n = min(len(a), 60 * SAMPLE_RATE)
    if np.allclose(a[:n], b[:n], atol=1e-3):
        return [0]
    return [0, 1]
