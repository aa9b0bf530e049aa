"""Hand-made audit results and a small results database written from them (no model), for
the tests of the store and of what happens when it cannot be written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callaudit.results.store import CallMeta, connect, write_failure, write_result
from tests.helpers import record


def result(score: float = 80.0, failed_rule: str = "greeting", review: bool = False) -> dict[str, Any]:
    """A small audit.call/1 result: two utterances, one failed finding, one passed."""
    utts = [{"role": "agent", "start": 0.5, "end": 3.0, "text": "您好，请问有什么可以帮您？",
             "channel": 0, "level_dbfs": -20.0},
            {"role": "customer", "start": 3.5, "end": 5.0, "text": "我想查一下订单。",
             "channel": 1, "level_dbfs": -24.0}]
    ev = [{"start": 0.5, "end": 3.0, "role": "agent", "text": utts[0]["text"]}]
    findings = [{"rule": failed_rule, "section": "professional", "severity": "major",
                 "applicable": True, "passed": False, "deduction": 0.0 if review else 20.0,
                 "message": "m", "detail": "d", "evidence": ev, "review": review},
                {"rule": "closing", "section": "professional", "severity": "minor",
                 "applicable": True, "passed": True, "deduction": 0.0, "message": "m",
                 "detail": "", "evidence": []}]
    return {"schema": "audit.call/1", "file": "x.wav", "duration_s": 60.0, "sample_rate": 8000,
            "channels": 2, "agent_channel": "left", "roles_reason": "", "separation": None,
            "score": score, "passed": score >= 60, "fatal": False, "sections": {},
            "metrics": {"agent_speech_rate_cpm": 200.0, "max_silence_s": 1.5, "customer_spoke": True,
                        "silences": []},
            "findings": findings, "utterances": utts,
            "timing_s": {"decode": 0.1, "vad": 0.1, "asr": 1.0, "rules": 0.1, "total": 1.3},
            "versions": {"audit": "test", "model": "none", "rules": "r1"}}


REGIONS = [{"channel": 1, "start": 3.5, "end": 5.0, "level_dbfs": -24.0},
           {"channel": 0, "start": 0.5, "end": 3.0, "level_dbfs": -20.0}]
ACOUSTICS = {"duration_s": 60.0}


def meta(i: int, agent: str = "A001", day: str = "2026-11-22") -> CallMeta:
    return CallMeta(file=f"/rec/c{i}.wav", sha256=f"h{i}", call_id=f"c{i}", agent_id=agent, day=day)


def written(tmp_path: Path) -> Path:
    db = tmp_path / "night.sqlite"
    conn = connect(db)
    write_result(conn, meta(1), record(result(70.0), REGIONS, ACOUSTICS))
    write_result(conn, meta(2, "A002"), record(result(90.0, review=True), REGIONS, ACOUSTICS))
    write_failure(conn, meta(3), "/rec/c3.wav: not a readable audio file")
    conn.close()
    return db
