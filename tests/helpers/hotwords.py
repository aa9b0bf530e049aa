"""A synthesized week of calls for the hot words (results/hotwords.py): what callers said,
chosen per call, stored as hand-made results (no model). One complaint is planted in rising
numbers; the rest is the week's ordinary talk, drawn with a fixed seed."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from typing import Any

from callaudit.results.store import CallMeta, write_result
from tests.helpers import record
from tests.helpers.results import ACOUSTICS, REGIONS, result

DAYS = tuple(f"2026-11-{d}" for d in range(24, 31))  # a week; the night is the last
NIGHT = DAYS[-1]
CALLS_A_DAY = 40
PLANTED = "扣款"  # the complaint that spreads
PLANTED_SAID = "怎么又被扣款了"  # its only term is PLANTED
PLANTED_CALLS = (0, 1, 1, 2, 4, 7, 12)  # calls with it, day by day
# the week's ordinary talk: (what the caller says, share of calls)
ORDINARY = (("我想查一下这个月的话费", 0.35), ("套餐能不能换一个便宜的", 0.25),
            ("家里宽带老是断网", 0.2), ("积分怎么兑换礼品", 0.15), ("我要改一下收货地址", 0.15),
            ("发票什么时候能开出来", 0.1), ("会员自动续费怎么取消", 0.1))
LINES = ("手机", "宽带")  # the planted calls are all of the first line


def utterance(text: str, start: float, role: str = "customer") -> dict[str, Any]:
    return {"role": role, "start": start, "end": start + 3.0, "text": text,
            "channel": 1 if role == "customer" else 0, "level_dbfs": -24.0}


def said(*texts: str, late: tuple[str, ...] = ()) -> dict[str, Any]:
    """A result in which the agent greets and the caller says `texts` in the first 30 s of
    the call and `late` after it."""
    r = result()
    r["utterances"] = [utterance("您好，请问有什么可以帮您？", 0.5, "agent")]
    r["utterances"] += [utterance(t, 4.0 + 4 * i) for i, t in enumerate(texts)]
    r["utterances"] += [utterance(t, 45.0 + 4 * i) for i, t in enumerate(late)]
    return r


def store(conn: sqlite3.Connection, key: str, day: str, r: dict[str, Any], agent: str = "A1",
          line: str | None = None) -> None:
    sha = hashlib.sha256(key.encode()).hexdigest()
    write_result(conn, CallMeta(file=f"/rec/{key}.wav", sha256=sha, call_id=key, agent_id=agent,
                                day=day, line=line), record(r, REGIONS, ACOUSTICS))


def week(conn: sqlite3.Connection, planted: tuple[int, ...] = PLANTED_CALLS) -> None:
    """CALLS_A_DAY calls on each of DAYS: ordinary talk, and PLANTED in `planted[d]` calls
    of day d (said in the first 30 s, all in the first line's calls)."""
    rnd = random.Random(36)
    for d, day in enumerate(DAYS):
        for k in range(CALLS_A_DAY):
            texts = [t for t, p in ORDINARY if rnd.random() < p] or [ORDINARY[0][0]]
            if k < planted[d]:
                texts.insert(0, PLANTED_SAID)
            store(conn, f"{day[-2:]}-{k:02d}", day, said(*texts), agent=f"A{k % 4 + 1}",
                  line=LINES[0] if k < CALLS_A_DAY // 2 else LINES[1])
