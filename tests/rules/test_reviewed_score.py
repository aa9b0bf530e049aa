"""The score after review (rules/reviewed.py): each verdict's effect, on stored results."""

from __future__ import annotations

import copy

import pytest

from callaudit.records import CallResult, Finding
from callaudit.review.words import WORDS
from callaudit.rules.pack import load
from callaudit.rules.reviewed import reviewed_score
from tests.helpers import stored

PACK = load(None)


def _failed(result: CallResult) -> dict[str, Finding]:
    return {f.rule: f for f in result.findings if f.applicable and not f.passed}


def test_unreviewed_is_the_machine_score() -> None:
    for name in ("demo_call", "bad_call", "mono_call", "ringback_call"):
        r = stored(name)
        s = reviewed_score(r, {}, [], PACK)
        assert (s.score, s.passed, s.fatal) == (r.score, r.passed, r.fatal), name


def test_overturning_gives_back_the_points_and_lifts_a_fatal() -> None:
    r = stored("bad_call")
    failed = _failed(r)
    assert failed["ask_secret"].severity == "fatal" and r.fatal
    lost = sum(f.deduction for f in failed.values())
    s = reviewed_score(r, {"ask_secret": "overturned"}, [], PACK)
    assert not s.fatal
    assert s.score == pytest.approx(max(0.0, 100 - (lost - failed["ask_secret"].deduction)))
    keep = {rule: "not_applicable" for rule in failed if rule != "speech_rate"}
    s = reviewed_score(r, keep, [], PACK)
    assert s.score == pytest.approx(100 - failed["speech_rate"].deduction)
    assert s.passed  # 95 >= 80 and nothing fatal left
    # confirming changes nothing the machine deducted
    s = reviewed_score(r, dict.fromkeys(failed, "confirmed"), [], PACK)
    assert (s.score, s.fatal) == (r.score, True)


def _needs_review(f: Finding) -> None:
    f.applicable, f.passed, f.deduction, f.severity = True, False, 0.0, "major"
    f.review_id = "review_unknown_speaker"


def test_a_confirmed_finding_that_needed_review_deducts_its_rule() -> None:
    r = copy.deepcopy(stored("demo_call"))
    _needs_review(next(f for f in r.findings if f.rule == "forbidden_phrase"))
    assert r.score is not None
    assert reviewed_score(r, {}, [], PACK).score == r.score  # unreviewed: still 0 points
    rule = next(x for x in PACK.rules if x.id == "forbidden_phrase")
    s = reviewed_score(r, {"forbidden_phrase": "confirmed"}, [], PACK)
    assert s.score == pytest.approx(max(0.0, r.score - rule.deduction))
    # a fatal rule confirmed by a person is fatal again
    _needs_review(next(f for f in r.findings if f.rule == "ask_secret"))
    assert reviewed_score(r, {"ask_secret": "confirmed"}, [], PACK).fatal


def test_a_missed_finding_deducts_once_and_not_over_a_standing_failure() -> None:
    r = stored("demo_call")
    assert "greeting" not in _failed(r) and r.score is not None
    greeting = next(x for x in PACK.rules if x.id == "greeting")
    s = reviewed_score(r, {}, ["greeting", "greeting"], PACK)
    assert s.score == pytest.approx(r.score - greeting.deduction)
    assert reviewed_score(r, {}, ["no_such_rule"], PACK).score == r.score
    bad = stored("bad_call")
    assert reviewed_score(bad, {}, ["speech_rate"], PACK).score == bad.score


def test_the_workbench_says_everything_in_each_language() -> None:
    assert set(WORDS["zh"]) == set(WORDS["en"])
