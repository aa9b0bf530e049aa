"""The benchmark's figures by layout (bench/run.py): who said what on the mono calls
(`attribution`, against the scripts' turns) and where a call's time goes (`split`), on
made-up results whose figures are known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import bench

run = bench("run")

TURNS = [{"role": "agent", "start": 0.0, "end": 4.0, "text": "您好请讲"},
         {"role": "customer", "start": 5.0, "end": 9.0, "text": "我要退款"}]


def _items_results(roles: list[str], texts: list[str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    items = [{"file": Path("call.wav"), "truth": {"layout": "mono", "turns": TURNS}},
             {"file": Path("stereo.wav"), "truth": {"layout": "stereo", "turns": TURNS}}]
    utts = [{"start": t["start"], "end": t["end"], "role": r, "text": x}
            for t, r, x in zip(TURNS, roles, texts, strict=True)]
    return items, {"call": {"utterances": utts}, "stereo": {"utterances": []}}


def test_every_word_on_its_speaker() -> None:
    a = run.attribution(*_items_results(["agent", "customer"], ["您好请讲", "我要退款"]))
    assert a["role_time_right"] == {"agent": 1.0, "customer": 1.0}
    assert a["role_cer"] == {"agent": 0.0, "customer": 0.0}
    assert a["der_utterances"] == 0.0
    assert a["der_confusion"] == 0.0 and a["der_missed"] == 0.0


def test_a_pause_inside_a_turn_is_missed_speech_not_confusion() -> None:
    items, results = _items_results(["agent", "customer"], ["您好请讲", "我要退款"])
    u = results["call"]["utterances"][1]  # the customer's turn heard as two utterances:
    results["call"]["utterances"][1:] = [{**u, "end": 6.5}, {**u, "start": 7.5}]  # 6.5-7.5 s a pause
    a = run.attribution(items, results)
    # 1 s in no utterance, of the 7 s of true speech scored (0.25 s collars at the turns' edges)
    assert a["der_missed"] == pytest.approx(1.0 / 7.0, abs=1e-3)
    assert a["der_confusion"] == 0.0
    assert a["der_utterances"] == pytest.approx(a["der_missed"], abs=1e-3)


def test_a_turn_given_to_the_other_speaker_is_confusion() -> None:
    items, results = _items_results(["agent", "agent"], ["您好请讲", "我要退款"])
    a = run.attribution(items, results)
    assert a["der_confusion"] > 0.4 and a["der_missed"] == 0.0


def test_roles_swapped_and_a_word_misheard() -> None:
    a = run.attribution(*_items_results(["customer", "agent"], ["您好请讲", "我要退还"]))
    assert a["role_time_right"] == {"agent": 0.0, "customer": 0.0}
    assert a["role_cer"]["agent"] == pytest.approx(1.0)  # the agent's text is the customer's
    # a role-blind DER maps the labels: the spans are right, so it is no worse
    assert a["der_utterances"] == pytest.approx(0.0)


def test_where_the_time_goes_sums_the_calls_asked_for() -> None:
    def result(sep: dict[str, float] | None, **timing: float) -> dict[str, Any]:
        return {"timing_s": timing, "separation": {"timing_s": sep} if sep is not None else None}

    results = {
        "mono1": result({"embed": 2.0, "cluster": 0.5, "redecode": 1.0}, vad=3.0, asr=10.0,
                        total=14.0, asr_encode=4.0, asr_decode=4.5, asr_align=1.0, asr_alone=0.5),
        "mono2": result({"embed": 1.0}, vad=1.5, asr=5.0, total=7.0, asr_encode=2.0),
        "stereo": result(None, vad=0.5, asr=8.0, total=9.0, asr_encode=3.0),
    }
    st = run.split(results, ["mono1", "mono2"])
    assert st["separation"] == pytest.approx(3.5)  # embed + cluster, not the turns decoded again
    assert st["redecode"] == pytest.approx(1.0)
    assert st["vad_total"] == pytest.approx(4.5) and st["total"] == pytest.approx(21.0)
    assert st["asr_encode"] == pytest.approx(6.0) and st["asr_alone"] == pytest.approx(0.5)
    assert run.split(results, ["stereo"])["separation"] == 0.0
