"""Build a call from a script of turns, without audio: for transcript-level rule tests.

A turn is (role, text) or (role, text, opts) with opts: `gap` (seconds after the previous
turn's end, default 0.6; negative overlaps), `at` (absolute start), `cpm` (speaking rate,
default 200 syllables per minute, which sets the turn's duration), `dur` (duration).
"""

from __future__ import annotations

from typing import Any

from audit.metrics import Acoustics
from audit.pipeline import judge
from audit.records import Finding, Region, Utterance
from audit.rulepack import RulePack, load
from audit.score import Score
from audit.text import spoken_units

Turn = tuple[str, str] | tuple[str, str, dict[str, Any]]
DEFAULT_PACK = load()

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


def utterances(turns: list[Turn], stereo: bool = True) -> list[Utterance]:
    out: list[Utterance] = []
    end = 0.0
    for t in turns:
        role, text = t[0], t[1]
        opts = t[2] if len(t) > 2 else {}  # type: ignore[misc]
        start = opts.get("at", end + opts.get("gap", 0.6))
        dur = opts.get("dur", max(0.4, spoken_units(text) * 60 / opts.get("cpm", 200)))
        channel = (0 if role == "agent" else 1) if stereo else 0
        out.append(Utterance(channel, round(start, 3), round(start + dur, 3), text,
                             role if stereo else opts.get("mono_role", "unknown"),
                             level_dbfs=opts.get("level", -20.0)))
        end = start + dur
    return sorted(out, key=lambda u: u.start)


def audit(turns: list[Turn], stereo: bool = True, pack: RulePack | None = None,
          level: float = -20.0, duration: float | None = None, rings: int | None = None,
          ) -> tuple[dict[str, Finding], Score, Any]:
    utts = utterances(turns, stereo)
    regions = [Region(u.channel, u.start, u.end, u.level_dbfs) for u in utts]
    dur = duration or (max((u.end for u in utts), default=0.0) + 2.0)
    ac = Acoustics(dur, rings, 0.0, level if any(u.role == "agent" for u in utts) else None,
                   0.0 if utts else None)
    metrics, findings, score = judge(pack or DEFAULT_PACK, ac, regions, utts, stereo)
    return {f.rule: f for f in findings}, score, metrics


def verdict(f: Finding) -> str:
    return "n/a" if not f.applicable else "pass" if f.passed else "fail"


def replace(turns: list[Turn], i: int, text: str | None = None, **opts: Any) -> list[Turn]:
    """A copy of `turns` with turn i's text and/or options changed."""
    out = list(turns)
    t = out[i]
    merged = {**(t[2] if len(t) > 2 else {}), **opts}  # type: ignore[misc]
    out[i] = (t[0], text if text is not None else t[1], merged)
    return out
