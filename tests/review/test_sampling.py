"""The nightly review queue (抽检): reasons, dedup, the month's top-up, determinism, and the
recognizer-confidence test on real stored results."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from callaudit.records import CallResult, Utterance
from callaudit.review.sampling import (
    REASONS,
    UNKNOWN_AGENT,
    Candidate,
    Pick,
    PlanRules,
    default_seed,
    draw,
    low_confidence,
    nights_left_in_month,
    top_up,
)
from callaudit.rules.pack import load
from callaudit.settings import Settings
from tests.helpers import stored, stored_result

NONE = PlanRules(lowest=0, per_agent=0, per_agent_month=0)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load(None).settings


def cand(sha: str, agent: str | None = "a1", score: float | None = 90.0, *, fatal: bool = False,
         needs: bool = False, low: bool = False) -> Candidate:
    return Candidate(sha, agent, score, fatal, needs, low)


def reasons(picks: list[Pick]) -> dict[str, str]:
    return {p.sha256: p.reason for p in picks}


# --- reasons ----------------------------------------------------------------------------------

def test_each_reason_in_order() -> None:
    calls = [
        cand("f1", score=20.0, fatal=True), cand("n1", score=85.0, needs=True),
        cand("l1", score=95.0, low=True), cand("s1", score=40.0), cand("s2", score=60.0),
        cand("ok1", score=99.0), cand("ok2", score=98.0),
    ]
    picks = draw(calls, PlanRules(lowest=2, per_agent=0, per_agent_month=0), "s")
    assert picks == [Pick("f1", "a1", "fatal"), Pick("n1", "a1", "needs_review"),
                     Pick("l1", "a1", "low_confidence"), Pick("s1", "a1", "lowest_score"),
                     Pick("s2", "a1", "lowest_score")]


def test_random_agent_reason() -> None:
    calls = [cand("x1", "a1"), cand("y1", "a2")]
    picks = draw(calls, PlanRules(lowest=0, per_agent=1, per_agent_month=0), "s")
    assert picks == [Pick("x1", "a1", "random_agent"), Pick("y1", "a2", "random_agent")]


def test_nothing_flagged_and_zero_rules_is_empty() -> None:
    assert draw([cand("a"), cand("b", score=None)], NONE, "s") == []
    assert draw([], PlanRules(5, 1, 10), "s") == []


def test_each_call_once_under_its_first_reason() -> None:
    calls = [
        cand("all", score=10.0, fatal=True, needs=True, low=True),
        cand("nl", score=11.0, needs=True, low=True),
        cand("lo", score=12.0, low=True),  # also the lowest score: stays low_confidence
        cand("s1", score=50.0), cand("s2", score=70.0),
    ]
    picks = draw(calls, PlanRules(lowest=1, per_agent=5, per_agent_month=0), "s")
    assert len(picks) == len({p.sha256 for p in picks}) == 5
    assert reasons(picks) == {"all": "fatal", "nl": "needs_review", "lo": "low_confidence",
                              "s1": "lowest_score", "s2": "random_agent"}


def test_lowest_ties_by_sha_and_none_never_lowest() -> None:
    calls = [cand("b", score=30.0), cand("a", score=30.0), cand("c", score=30.0),
             cand("n1", score=None), cand("n2", score=None), cand("hi", score=99.0)]
    picks = draw(calls, PlanRules(lowest=2, per_agent=0, per_agent_month=0), "s")
    assert [p.sha256 for p in picks] == ["a", "b"]
    # more slots than scored calls: only the scored ones
    picks = draw(calls, PlanRules(lowest=10, per_agent=0, per_agent_month=0), "s")
    assert [p.sha256 for p in picks] == ["a", "b", "c", "hi"]


def test_output_order_reason_then_score_none_last_then_sha() -> None:
    calls = [cand("f-none", score=None, fatal=True), cand("f-50", score=50.0, fatal=True),
             cand("f-30b", score=30.0, fatal=True), cand("f-30a", score=30.0, fatal=True),
             cand("n-10", score=10.0, needs=True)]
    picks = draw(calls, NONE, "s")
    assert [p.sha256 for p in picks] == ["f-30a", "f-30b", "f-50", "f-none", "n-10"]
    assert [p.reason for p in picks] == ["fatal"] * 4 + ["needs_review"]
    assert REASONS.index("fatal") < REASONS.index("needs_review")


# --- the random sample and the month's top-up -------------------------------------------------

def test_top_up_arithmetic() -> None:
    month = PlanRules(lowest=0, per_agent=1, per_agent_month=10)
    assert top_up(month, sampled=4, tonight=0, nights_left=3) == 2  # ceil(6 / 3)
    assert top_up(month, sampled=4, tonight=1, nights_left=3) == 2  # ceil(5 / 3)
    assert top_up(month, sampled=4, tonight=3, nights_left=3) == 1  # ceil(3 / 3)
    assert top_up(month, sampled=4, tonight=0, nights_left=1) == 6  # last night: all of it
    assert top_up(month, sampled=12, tonight=0, nights_left=3) == 1  # quota met: per_agent
    assert top_up(replace(month, per_agent=3), sampled=4, tonight=0, nights_left=3) == 3


def _agent_pool(agent: str | None, n: int, prefix: str) -> list[Candidate]:
    return [cand(f"{prefix}{i:03d}", agent, 80.0 + i / 100) for i in range(n)]


def test_month_top_up_through_draw() -> None:
    rules = PlanRules(lowest=0, per_agent=1, per_agent_month=10)
    pool = _agent_pool("a1", 20, "h")
    picks = draw(pool, rules, "s", {"a1": 4}, nights_left=3)
    assert [p.reason for p in picks] == ["random_agent"] * 2  # ceil((10 - 4 - 0) / 3)

    # one call already taken tonight for a fatal finding counts: ceil((10 - 4 - 1) / 3) = 2
    with_fatal = [replace(pool[0], fatal=True), *pool[1:]]
    picks = draw(with_fatal, rules, "s", {"a1": 4}, nights_left=3)
    assert [p.reason for p in picks] == ["fatal", "random_agent", "random_agent"]

    # every reason taken tonight counts (fatal, needs_review, lowest_score): ceil((10 - 4 - 3) / 3) = 1
    flagged = [replace(pool[0], fatal=True), replace(pool[1], needs_review=True), *pool[2:]]
    picks = draw(flagged, replace(rules, lowest=1), "s", {"a1": 4}, nights_left=3)
    assert [p.reason for p in picks] == ["fatal", "needs_review", "lowest_score", "random_agent"]

    # per_agent dominates a small shortfall
    picks = draw(pool, replace(rules, per_agent=3), "s", {"a1": 4}, nights_left=3)
    assert [p.reason for p in picks] == ["random_agent"] * 3

    # an agent with no history this month: ceil(10 / 3) = 4
    assert len(draw(pool, rules, "s", nights_left=3)) == 4


def test_picks_from_the_seeded_shuffle_of_sorted_calls() -> None:
    # pins the algorithm: a stored seed must redraw the same queue in a later version
    pool = _agent_pool("a1", 15, "h")
    picks = draw(list(reversed(pool)), PlanRules(0, 3, 0), "seed-x")
    expected = sorted(c.sha256 for c in pool)
    random.Random("seed-x:a1").shuffle(expected)
    assert {p.sha256 for p in picks} == set(expected[:3])


def test_agent_with_fewer_calls_than_k_gives_all() -> None:
    pool = _agent_pool("small", 2, "s") + _agent_pool("big", 30, "b")
    picks = draw(pool, PlanRules(lowest=0, per_agent=1, per_agent_month=10), "s", nights_left=2)
    by_agent = [p.agent_id for p in picks]
    assert by_agent.count("small") == 2 and by_agent.count("big") == 5


def test_unknown_agent_is_one_group_keyed_unknown() -> None:
    pool = _agent_pool(None, 10, "u") + _agent_pool("a1", 10, "k")
    rules = PlanRules(lowest=0, per_agent=0, per_agent_month=6)
    picks = draw(pool, rules, "s", {UNKNOWN_AGENT: 6, "a1": 3})
    assert [p.agent_id for p in picks] == ["a1"] * 3  # the unknown group's quota is already met
    picks = draw(pool, rules, "s", {"a1": 6})
    assert [p.agent_id for p in picks] == [None] * 6


def test_agents_not_called_tonight_get_nothing() -> None:
    picks = draw(_agent_pool("a1", 3, "h"), PlanRules(0, 1, 10), "s", {"absent": 0})
    assert {p.agent_id for p in picks} == {"a1"}


# --- determinism ------------------------------------------------------------------------------

def _big_pool() -> list[Candidate]:
    rng = random.Random(11)
    calls = []
    for i in range(200):
        calls.append(cand(f"{rng.getrandbits(64):016x}", f"agent{i % 5}",
                          None if i % 17 == 0 else round(rng.uniform(40, 100), 1),
                          fatal=i % 41 == 0, needs=i % 37 == 0, low=i % 29 == 0))
    return calls


def test_same_seed_same_queue_any_input_order() -> None:
    calls = _big_pool()
    rules = PlanRules(lowest=5, per_agent=3, per_agent_month=10)
    first = draw(calls, rules, "callaudit-2026-12-01", {"agent0": 2}, nights_left=10)
    shuffled = list(calls)
    random.Random(5).shuffle(shuffled)
    assert draw(shuffled, rules, "callaudit-2026-12-01", {"agent0": 2}, nights_left=10) == first
    assert {p.reason for p in first} == set(REASONS)


def test_another_seed_another_sample() -> None:
    calls = _big_pool()
    rules = PlanRules(lowest=5, per_agent=3, per_agent_month=0)
    a = draw(calls, rules, "callaudit-2026-12-01")
    b = draw(calls, rules, "callaudit-2026-12-02")
    # the flagged and lowest calls are the same; the random sample differs
    assert [p for p in a if p.reason != "random_agent"] == [p for p in b if p.reason != "random_agent"]
    assert {p.sha256 for p in a if p.reason == "random_agent"} != \
        {p.sha256 for p in b if p.reason == "random_agent"}
    assert len(a) == len(b)


def test_duplicate_calls() -> None:
    one = cand("h1", fatal=True)
    assert draw([one, one], NONE, "s") == [Pick("h1", "a1", "fatal")]
    with pytest.raises(ValueError, match="h1"):
        draw([one, replace(one, score=10.0)], NONE, "s")


@pytest.mark.parametrize("rules", [PlanRules(-1, 0, 0), PlanRules(0, -1, 0), PlanRules(0, 0, -1)])
def test_negative_rules_rejected(rules: PlanRules) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        draw([cand("h1")], rules, "s")


def test_nights_left_must_be_positive() -> None:
    with pytest.raises(ValueError, match="nights_left"):
        draw([cand("h1")], NONE, "s", nights_left=0)


# --- plan rules, seeds, dates -----------------------------------------------------------------

def test_plan_rules_from_default_pack(settings: Settings) -> None:
    rules = PlanRules.from_settings(settings)
    assert rules == PlanRules(lowest=5, per_agent=1, per_agent_month=10)
    assert rules.to_json() == {"lowest": 5, "per_agent": 1, "per_agent_month": 10}
    assert PlanRules(**rules.to_json()) == rules


def test_default_seed() -> None:
    assert default_seed("2026-12-01") == "callaudit-2026-12-01"
    with pytest.raises(ValueError):
        default_seed("2026-12-32")


@pytest.mark.parametrize(("day", "left"), [("2026-12-01", 31), ("2026-02-28", 1), ("2026-02-01", 28),
                                           ("2028-02-01", 29), ("2026-04-30", 1), ("2026-12-31", 1)])
def test_nights_left_in_month(day: str, left: int) -> None:
    assert nights_left_in_month(day) == left


@pytest.mark.parametrize("day", ["2026-02-29", "2026-13-01", "20261201", "2026-1-01", "", "tomorrow"])
def test_nights_left_bad_date(day: str) -> None:
    with pytest.raises(ValueError):
        nights_left_in_month(day)


# --- low confidence ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["demo_call", "bad_call", "ringback_call", "mono_call"])
def test_stored_results_are_confident_by_default(name: str, settings: Settings) -> None:
    # today's stored results carry no recognizer confidence: only the separation can make
    # them unsure
    assert not any("avg_logprob" in u for u in stored_result(name)["result"]["utterances"])
    result = stored(name)
    assert all(u.avg_logprob is None for u in result.utterances)
    assert low_confidence(result, settings) is False


def test_mono_call_separation_confidence(settings: Settings) -> None:
    result = stored("mono_call")
    sep = result.separation
    assert sep is not None and sep.speakers == 2 and sep.confidence == pytest.approx(0.682)
    assert low_confidence(result, replace(settings, separation_min_confidence=0.7)) is True
    assert low_confidence(result, replace(settings, separation_min_confidence=0.682)) is False
    # one speaker found: nothing was split, so the confidence of a split does not apply
    one = replace(result, separation=replace(sep, speakers=1, confidence=0.1))
    assert low_confidence(one, settings) is False
    # the stereo calls have no separation block at all
    assert stored("demo_call").separation is None


def _utt(start: float, end: float, logprob: float | None = None) -> Utterance:
    """An utterance whose words the recognizer heard with mean log-probability `logprob`."""
    conf = None if logprob is None else math.exp(logprob)
    return Utterance(channel=0, start=start, end=end, text="你好", role="agent", confidence=conf)


def _said(*utterances: Utterance) -> CallResult:
    """A stereo call (no separation) of these utterances."""
    return replace(stored("demo_call"), separation=None, utterances=list(utterances))


def test_avg_logprob_duration_weighted(settings: Settings) -> None:
    assert settings.sample_min_logprob == -1.0
    # 10 s at -0.2 and 1 s at -3.0: weighted (-2 - 3) / 11 = -0.45 (the plain mean, -1.6, would be low)
    sure = _said(_utt(0, 10, -0.2), _utt(10, 11, -3.0))
    assert low_confidence(sure, settings) is False
    # the other way round: (-0.2 - 30) / 11 = -2.75
    unsure = _said(_utt(0, 1, -0.2), _utt(1, 11, -3.0))
    assert low_confidence(unsure, settings) is True
    # a stricter threshold flags the first call too
    assert low_confidence(sure, replace(settings, sample_min_logprob=-0.4)) is True


def test_avg_logprob_only_from_utterances_that_have_it(settings: Settings) -> None:
    # the utterance without avg_logprob is not a zero: mean over the rest is -1.5
    mixed = _said(_utt(0, 30), _utt(30, 32, -1.5))
    assert low_confidence(mixed, settings) is True
    # exactly at the threshold is not below it
    edge = _said(_utt(0, 2, -1.0))
    assert low_confidence(edge, settings) is False
    assert low_confidence(_said(), settings) is False
    # zero-length utterances only: their plain mean, (-0.5 - 2.5) / 2 = -1.5
    points = _said(_utt(3, 3, -0.5), _utt(4, 4, -2.5))
    assert low_confidence(points, settings) is True


def test_avg_logprob_as_a_stored_result_reads(settings: Settings) -> None:
    # judged on the avg_logprob audit.call/1 writes (3 places), so a result judges the same
    # before it is stored and after it is read back
    u = _utt(0, 2, -1.0004)
    assert u.avg_logprob is not None and u.avg_logprob < -1.0
    assert low_confidence(_said(u), settings) is False
    back = CallResult.from_json(_said(u).to_json(), check=False)
    assert back.utterances[0].to_json()["avg_logprob"] == -1.0
    assert low_confidence(back, settings) is False
