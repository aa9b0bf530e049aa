"""bench/der.py against hand-computed cases (each comment shows the arithmetic)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import DATA, bench

der = bench("der").der
role_accuracy = bench("der").role_accuracy

TWO = [(0.0, 5.0, "A"), (5.0, 10.0, "B")]


def test_perfect() -> None:
    r = der(TWO, [(0.0, 5.0, 0), (5.0, 10.0, 1)], collar=0)
    assert r["der"] == 0 and r["total"] == 10
    assert r["mapping"] == {"0": "A", "1": "B"}


def test_swapped_labels_map_to_zero() -> None:
    r = der(TWO, [(0.0, 5.0, 1), (5.0, 10.0, 0)], collar=0)
    assert r["der"] == 0
    assert r["mapping"] == {"1": "A", "0": "B"}


def test_all_missed() -> None:
    r = der(TWO, [], collar=0)
    assert (r["missed"], r["false_alarm"], r["confusion"], r["der"]) == (10, 0, 0, 1.0)


def test_false_alarm() -> None:
    # 2 s of hypothesis speech where nobody talks: 2 / 5
    r = der([(0.0, 5.0, "A")], [(0.0, 5.0, 0), (6.0, 8.0, 0)], collar=0)
    assert (r["false_alarm"], r["der"]) == (2, 0.4)


def test_confusion() -> None:
    # one speaker, split 6 + 4 into two labels: the 6 s label maps, 4 s is confusion
    r = der([(0.0, 10.0, "A")], [(0.0, 6.0, 0), (6.0, 10.0, 1)], collar=0)
    assert (r["confusion"], r["missed"], r["false_alarm"], r["der"]) == (4, 0, 0, 0.4)
    assert r["mapping"] == {"0": "A"}


def test_overlap_counts_once_per_speaker() -> None:
    # A 0-6, B 4-10: 12 s of reference speech. Hypothesis has one speaker at a time, so in
    # 4-6 one of the two is missed: 2 s missed, nothing confused: 2 / 12.
    ref = [(0.0, 6.0, "A"), (4.0, 10.0, "B")]
    hyp = [(0.0, 5.0, 0), (5.0, 10.0, 1)]
    r = der(ref, hyp, collar=0)
    assert (r["total"], r["missed"], r["confusion"]) == (12, 2, 0)
    assert r["der"] == pytest.approx(2 / 12, abs=1e-4)
    skip = der(ref, hyp, collar=0, skip_overlap=True)  # 4-6 left out: 8 s, all right
    assert (skip["total"], skip["der"]) == (8, 0)


def test_collar_forgives_boundary_error() -> None:
    hyp = [(0.0, 5.2, 0), (5.2, 10.0, 1)]  # the turn change is 0.2 s late
    assert der(TWO, hyp, collar=0)["confusion"] == pytest.approx(0.2)
    r = der(TWO, hyp, collar=0.25)
    # not scored: 0-0.25, 4.75-5.25, 9.75-10 -> 9 s of reference left
    assert (r["der"], r["total"]) == (0, 9)


def test_same_label_segments_merge() -> None:
    # overlapping segments of one hypothesis speaker are one speaker, not two
    r = der([(0.0, 4.0, "A")], [(0.0, 3.0, 0), (2.0, 4.0, 0)], collar=0)
    assert r["der"] == 0


def test_extra_hypothesis_speaker_is_confusion() -> None:
    # three hypothesis labels for two reference speakers: label 2 (1 s) maps to nobody
    r = der(TWO, [(0.0, 5.0, 0), (5.0, 9.0, 1), (9.0, 10.0, 2)], collar=0)
    assert (r["confusion"], r["der"]) == (1, 0.1)
    assert "2" not in r["mapping"]


def test_role_accuracy() -> None:
    ref = [(0.0, 4.0, "agent"), (5.0, 7.0, "customer")]
    hyp = [(0.0, 3.0, "agent"), (3.0, 4.0, "unknown"), (6.0, 7.0, "customer")]
    r = role_accuracy(ref, hyp)
    # agent: 3 of 4 labelled seconds right; customer: 5-6 not labelled at all (coverage 0.5)
    assert r == {"agent": 0.75, "agent_coverage": 1.0, "customer": 1.0, "customer_coverage": 0.5}
    assert role_accuracy(ref[:1], hyp)["customer"] is None


def test_eval_runs_on_the_fixtures(tmp_path: Path) -> None:
    """bench/diarize_eval.py end to end on tests/data/mono, with a stub diarizer (one speaker
    per call) instead of callaudit.diarize, and without the Whisper auditor."""
    from types import SimpleNamespace

    diarize_eval = bench("diarize_eval")

    def one_speaker(samples: object, regions: list, embedder: object = None) -> SimpleNamespace:
        turns = [SimpleNamespace(start=r.start, end=r.end, speaker=0) for r in regions]
        return SimpleNamespace(turns=turns, overlaps=[], method="stub", confidence=1.0)

    fixtures = DATA / "mono"
    res = diarize_eval.run(tmp_path, fixtures, auditor=False, diarizer=one_speaker, campp=False)
    assert set(res["calls"]) == {"music_hold", "one_second", "one_speaker"}
    rows = {(r["call"], r["embedder"]): r for r in res["diarization"]}
    solo = rows["one_speaker", "default"]["der"]
    assert solo["confusion"] == 0 and solo["der"] < 0.1  # one voice: only VAD edges can err
    assert rows["music_hold", "default"]["der"]["confusion"] > 0  # the customer was not separated
    assert (tmp_path / "diarize_eval.md").read_text(encoding="utf-8").startswith("# Mono diarization")


def test_short_word_inside_collar_is_not_scored() -> None:
    # a 0.4 s word: its two 0.25 s collars cover it, so there is nothing to score
    r = der([(1.0, 1.4, "A")], [(1.0, 1.4, 0)])
    assert (r["total"], r["der"]) == (0, None)
