"""Build a call from a script of turns, without audio or model: for transcript-level rule tests.

A turn is one of
- (role, start, end, text): explicit times in seconds, for timing tests;
- (role, text) or (role, text, opts): placed after the previous turn, with opts `gap`
  (seconds after the previous turn's end, default 0.6; negative overlaps), `at` (absolute
  start), `cpm` (speaking rate, default 200 syllables per minute, which sets the duration),
  `dur` (duration), `level` (the utterance's dBFS), `mono_role` (its role on mono), `conf`
  (the recognizer's confidence, 0-1); a turn with text "" is speech in which the recognizer
  heard no word (unheard, rules/doubt.py).

Stereo puts the agent on channel 0 and the customer on channel 1; mono puts everything on
channel 0 with role `unknown` (as roles.apply_mono leaves an utterance it cannot place).
Each utterance becomes a VAD Region with the same times; rules.judge.judge (metrics, rules,
score) then runs exactly as in the pipeline, minus ASR. Details are in English (lang="en").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.metrics.acoustics import Acoustics, measure
from callaudit.metrics.timing import Metrics
from callaudit.records import Finding, Region, Utterance
from callaudit.rules.judge import judge
from callaudit.rules.pack import RulePack, load
from callaudit.rules.score import Score
from callaudit.speech.text import spoken_units

Turn = tuple[Any, ...]
DEFAULT_PACK = load()

# A compliant call: every script rule passes, every timing norm is met.
BASE: list[Turn] = [
    ("agent", "您好，这里是客户服务中心，工号001，很高兴为您服务，请问怎么称呼您？", {"at": 1.0}),
    ("customer", "你好，我姓王，我想查一下我的订单，订单号是2024001。"),
    ("agent", "王先生您好，跟您确认一下，订单号是2024001，对吗？"),
    ("customer", "对的。"),
    ("agent", "好的，请您稍等，我为您查询一下。"),
    ("agent", "感谢您的耐心等待，您的订单已经发货，预计明天送达，我这样说您清楚吗？", {"gap": 8.0}),
    ("customer", "清楚了。"),
    ("agent", "请问还有什么可以帮您？"),
    ("customer", "没有了，谢谢。"),
    ("agent", "不客气，感谢您的来电，祝您生活愉快，再见。"),
]


def utterances(turns: list[Turn], stereo: bool = True, level: float = -20.0) -> list[Utterance]:
    out: list[Utterance] = []
    end = 0.0
    for t in turns:
        if len(t) >= 4:  # (role, start, end, text[, opts])
            role, start, stop, text = t[:4]
            opts: dict[str, Any] = t[4] if len(t) > 4 else {}
        else:
            role, text = t[0], t[1]
            opts = t[2] if len(t) > 2 else {}
            start = opts.get("at", end + opts.get("gap", 0.6))
            stop = start + opts.get("dur", max(0.4, spoken_units(text or "一二三四五") * 60
                                               / opts.get("cpm", 200)))
        channel = (0 if role == "agent" else 1) if stereo else 0
        out.append(Utterance(channel, round(start, 3), round(stop, 3), text,
                             role if stereo else opts.get("mono_role", "unknown"),
                             level_dbfs=opts.get("level", level), confidence=opts.get("conf"),
                             dense=opts.get("dense", False)))
        end = stop
    return sorted(out, key=lambda u: u.start)


def silent_audio(duration_s: float, channels: int = 2) -> Audio:
    """Zeros at 16 kHz: what metrics.measure sees of a call we only have the words of."""
    n = int(round(duration_s * SAMPLE_RATE))
    return Audio("<silent>", [np.zeros(n, np.float32) for _ in range(channels)], SAMPLE_RATE,
                 channels)


def audit(turns: list[Turn], stereo: bool = True, pack: RulePack | None = None,
          level: float = -20.0, clipping: float = 0.0, duration: float | None = None,
          rings: int | None = None, connect: float = 0.0, audio: bool = False,
          unsure: bool = False, nuclei: int | None = None,
          ) -> tuple[dict[str, Finding], Score, Metrics]:
    """Findings by rule id, the score and the metrics of the call `turns` describe.

    The agent's level and clipping share are given (`level`, `clipping`), and the syllable
    nuclei heard in the agent's speech (`nuclei`), since there are no samples; with
    `audio=True` they are measured instead on a silent recording of the call's length (so
    the agent's level is silence, -100 dBFS).
    """
    pack = pack or DEFAULT_PACK
    every = utterances(turns, stereo, level)
    regions = [Region(u.channel, u.start, u.end, u.level_dbfs) for u in every]
    utts = [u for u in every if u.text]
    unheard = [u for u in every if not u.text]
    dur = duration or (max((u.end for u in utts), default=0.0) + 2.0)
    agent = any(u.role == "agent" for u in utts)
    if audio:
        ac = measure(silent_audio(dur, 2 if stereo else 1), utts)
    else:
        ac = Acoustics(dur, rings, connect, level if agent else None, clipping if agent else None,
                       agent_nuclei=nuclei)
    j = judge(pack, ac, regions, utts, stereo, lang="en",
              unsure="review_separation" if unsure else "", unheard=unheard)
    return {f.rule: f for f in j.findings}, j.score, j.metrics


def findings(turns: list[Turn], **kw: Any) -> dict[str, Finding]:
    return audit(turns, **kw)[0]


def verdict(f: Finding) -> str:
    return "n/a" if not f.applicable else "pass" if f.passed else "fail"


def replace(turns: list[Turn], i: int, text: str | None = None, **opts: Any) -> list[Turn]:
    """A copy of `turns` with turn i's text and/or options changed."""
    out = list(turns)
    t = out[i]
    merged = {**(t[2] if len(t) > 2 else {}), **opts}
    out[i] = (t[0], text if text is not None else t[1], merged)
    return out


def said(text: str, rule: str, at: int = 2) -> str:
    """The verdict of `rule` when the agent's turn `at` of BASE is replaced by `text`."""
    return verdict(findings(replace(BASE, at, text))[rule])
