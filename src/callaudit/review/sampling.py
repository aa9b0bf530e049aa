"""The nightly review queue (抽检): which of the day's audited calls a person reviews.

The queue takes every call the machine is most likely wrong or most harmful about (fatal
findings, findings that need review, calls the recognizer was unsure of), the night's lowest
scores, and a random sample per agent, so every agent is reviewed and the reviewed precision
of each rule is estimated on an unbiased share of calls, not only on the worst ones.

The draw is deterministic: the same calls, rules and seed give the same queue whatever order
the calls come in, so storing the seed with the plan lets anyone draw the same queue again.
"""

from __future__ import annotations

import calendar
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from callaudit.parts import roles_sure
from callaudit.settings import Settings

if TYPE_CHECKING:
    from callaudit.records import CallResult

REASONS = ("fatal", "needs_review", "low_confidence", "lowest_score", "random_agent")
UNKNOWN_AGENT = "(unknown)"  # the group, and the `sampled_this_month` key, of calls with no agent_id


@dataclass(frozen=True)
class Candidate:
    """One audited call of the day.

    Attributes:
      sha256: the call's identity (hash of the recording's content).
      agent_id: the agent who took the call; None when unknown.
      score: 0-100, None when the call was not scored.
      fatal: a fatal finding failed.
      needs_review: some failed finding is marked "needs review" (who spoke is unsure).
      low_confidence: the recognizer was unsure (see `low_confidence`).
    """

    sha256: str
    agent_id: str | None
    score: float | None
    fatal: bool
    needs_review: bool
    low_confidence: bool


@dataclass(frozen=True)
class PlanRules:
    """How many calls the queue takes; from the pack's settings (callaudit.settings.Settings).

    Attributes:
      lowest: the N lowest-scoring calls of the night (settings.sample_lowest).
      per_agent: random calls per agent per night (settings.sample_per_agent).
      per_agent_month: each agent has at least this many calls reviewed a month, when they
        take that many (settings.sample_per_agent_month).
    """

    lowest: int
    per_agent: int
    per_agent_month: int

    @classmethod
    def from_settings(cls, s: Settings) -> PlanRules:
        return cls(lowest=s.sample_lowest, per_agent=s.sample_per_agent,
                   per_agent_month=s.sample_per_agent_month)

    def to_json(self) -> dict[str, int]:
        """{"lowest": int, "per_agent": int, "per_agent_month": int}, stored with the plan."""
        return {"lowest": self.lowest, "per_agent": self.per_agent, "per_agent_month": self.per_agent_month}


@dataclass(frozen=True)
class Pick:
    """A call in the queue and why: `reason` is the first of REASONS that applies to it."""

    sha256: str
    agent_id: str | None
    reason: str


def draw(calls: Sequence[Candidate], rules: PlanRules, seed: str,
         sampled_this_month: Mapping[str, int] | None = None, nights_left: int = 1,
         shifts_left: Mapping[str, int] | None = None) -> list[Pick]:
    """The night's review queue.

    In REASONS order, each call taken once, under the first reason that applies:
      1. every fatal call; 2. every needs_review call; 3. every low_confidence call;
      4. the `rules.lowest` lowest-scoring calls not yet taken (score ascending, ties by sha256;
         a call with no score is never "lowest");
      5. per agent (agent_id None is one group, keyed UNKNOWN_AGENT), k of the agent's calls not
         yet taken: sorted by sha256, shuffled with random.Random(f"{seed}:{agent key}"), the
         first k, where
           k = max(per_agent, ceil(max(0, per_agent_month - sampled - tonight) / nights_left)),
         `sampled` = sampled_this_month.get(agent key, 0) (calls reviewed earlier this month)
         and `tonight` = the agent's calls taken above tonight (they are reviews too): the
         month's shortfall spread evenly over the nights left. An agent with fewer calls gives
         them all.

    `nights_left` counts tonight (see `nights_left_in_month`); `shifts_left` may give an
    agent's own count instead (an agent who works one night in three has a third of the
    nights left to reach the month's quota: review/queue.py estimates it). Returns the picks ordered by
    reason (REASONS order), then score ascending (None last), then sha256. The same calls (in
    any order), rules and seed give the same list: random.Random seeded with a str is stable
    across runs and Python versions 3.2+ (it hashes the str with SHA-512, not with hash()).

    Raises ValueError on a negative rules value, nights_left < 1, or two different calls with
    the same sha256 (identical duplicates count once).
    """
    for name, value in rules.to_json().items():
        if value < 0:
            raise ValueError(f"plan rule {name} must be >= 0, not {value}")
    if nights_left < 1:
        raise ValueError(f"nights_left must be >= 1 (tonight counts), not {nights_left}")
    sampled = sampled_this_month or {}
    unique: dict[str, Candidate] = {}
    for c in calls:
        if unique.setdefault(c.sha256, c) != c:
            raise ValueError(f"two different calls share sha256 {c.sha256}")
    pool = sorted(unique.values(), key=lambda c: c.sha256)  # input order must not matter

    reason_of: dict[str, str] = {}
    for reason, flag in (("fatal", "fatal"), ("needs_review", "needs_review"),
                         ("low_confidence", "low_confidence")):
        for c in pool:
            if getattr(c, flag) and c.sha256 not in reason_of:
                reason_of[c.sha256] = reason
    scored = sorted((c for c in pool if c.score is not None and c.sha256 not in reason_of),
                    key=lambda c: (c.score, c.sha256))
    for c in scored[:rules.lowest]:
        reason_of[c.sha256] = "lowest_score"

    by_agent: dict[str, list[Candidate]] = {}
    for c in pool:
        by_agent.setdefault(_agent_key(c.agent_id), []).append(c)
    for key, own in by_agent.items():
        tonight = sum(c.sha256 in reason_of for c in own)
        rest = [c for c in own if c.sha256 not in reason_of]  # still in sha256 order
        random.Random(f"{seed}:{key}").shuffle(rest)
        left = max(1, (shifts_left or {}).get(key, nights_left))
        for c in rest[:top_up(rules, sampled.get(key, 0), tonight, left)]:
            reason_of[c.sha256] = "random_agent"

    picked = sorted((c for c in pool if c.sha256 in reason_of),
                    key=lambda c: (REASONS.index(reason_of[c.sha256]), c.score is None,
                                   c.score or 0.0, c.sha256))
    return [Pick(c.sha256, c.agent_id, reason_of[c.sha256]) for c in picked]


def top_up(rules: PlanRules, sampled: int, tonight: int, nights_left: int) -> int:
    """k, the random calls to take from one agent tonight (see `draw`):
    max(per_agent, ceil(max(0, per_agent_month - sampled - tonight) / nights_left))."""
    short = max(0, rules.per_agent_month - sampled - tonight)
    return max(rules.per_agent, -(-short // nights_left))  # integer ceil: no float rounding


def _agent_key(agent_id: str | None) -> str:
    return UNKNOWN_AGENT if agent_id is None else agent_id


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(day: str) -> date:
    """The date of "YYYY-MM-DD"; ValueError otherwise (also for 2026-02-30)."""
    if not _DAY.fullmatch(day):
        raise ValueError(f"not a YYYY-MM-DD date: {day!r}")
    return date.fromisoformat(day)


def default_seed(day: str) -> str:
    """The seed of the queue drawn the night of `day` ("YYYY-MM-DD"): "callaudit-" + day,
    e.g. "callaudit-2026-12-01". Readable and reproducible from the day alone; a plan stores
    the seed it used, so a plan redrawn with another seed stays reproducible too.
    Raises ValueError on a bad date."""
    _day(day)
    return f"callaudit-{day}"


def nights_left_in_month(day: str) -> int:
    """Nights left in the month of `day` ("YYYY-MM-DD"), tonight included:
    "2026-12-01" -> 31, "2026-02-28" -> 1. Raises ValueError on a bad date."""
    d = _day(day)
    return calendar.monthrange(d.year, d.month)[1] - d.day + 1


def low_confidence(result: CallResult, settings: Settings) -> bool:
    """Whether the recognizer, the speaker separation or the roles were unsure of a call.

    `result` is a call's records.CallResult (the "result" of a stored audit). True when
      (a) its separation found two speakers and its confidence (0-1) is below
          settings.separation_min_confidence (a mono call split into two voices, unsurely), or
      (b) some utterances carry an avg_logprob (Whisper's mean token log-probability, nats, from
          their confidence; older results carry none) and their duration-weighted mean (weights
          end - start, seconds) is below settings.sample_min_logprob. Zero-length utterances
          weigh nothing; if all of them are zero-length the plain mean is used, or
      (c) which side is the agent was decided unsurely (speech/roles.py: weak cues against
          the side that spoke first).
    Otherwise False.
    """
    if not roles_sure(result.roles_why):
        return True
    sep = result.separation
    if sep is not None and sep.speakers == 2:
        conf = sep.confidence
        if isinstance(conf, (int, float)) and conf < settings.separation_min_confidence:
            return True
    # avg_logprob to 3 places, as audit.call/1 writes it: a stored result judged as it reads
    rated = [(max(0.0, float(u.end) - float(u.start)), round(u.avg_logprob, 3))
             for u in result.utterances if u.avg_logprob is not None]
    if not rated:
        return False
    total = sum(w for w, _ in rated)
    mean = (sum(w * lp for w, lp in rated) / total if total > 0
            else sum(lp for _, lp in rated) / len(rated))
    return mean < settings.sample_min_logprob
