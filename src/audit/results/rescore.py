"""Re-run the rules of a new rule pack over stored calls, without the audio or the model.

What was heard (utterances with roles, VAD regions, measured acoustics) is kept in the
database; metrics, findings and score are recomputed from it exactly as a fresh audit would.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from audit.metrics.acoustics import Acoustics
from audit.pipeline import judge, separation_unsure
from audit.records import Region, Utterance
from audit.results.store import connect, update_scores
from audit.rules.pack import load


def rescore(db: str, rules: str | None, lang: str = "zh",
            on_call: Callable[[int, int], None] | None = None) -> int:
    pack = load(rules)
    conn = connect(db)
    rows = conn.execute(
        "SELECT id, result_json, acoustics_json FROM calls WHERE status = 'ok'").fetchall()
    for n, row in enumerate(rows, start=1):
        result = json.loads(row["result_json"])
        utts = [Utterance(channel=u["channel"], start=u["start"], end=u["end"], text=u["text"],
                          role=u["role"], level_dbfs=u.get("level_dbfs", -99.0))
                for u in result["utterances"]]
        regions = [Region(r["channel"], r["start"], r["end"], r["level_dbfs"]) for r in
                   conn.execute('SELECT channel, start, "end", level_dbfs FROM regions '
                                "WHERE call = ? ORDER BY start", (row["id"],))]
        acoustics = Acoustics(**json.loads(row["acoustics_json"]))
        sep = result.get("separation")
        stereo = result["agent_channel"] != "mono" or bool(sep and sep["speakers"] == 2)
        metrics, findings, s = judge(pack, acoustics, regions, utts, stereo, lang,
                                     separation_unsure(sep, pack.settings))
        result.update(score=s.score, passed=s.passed, fatal=s.fatal, sections=s.sections,
                      metrics=metrics.to_json(pack.settings),
                      findings=[f.to_json() for f in findings])
        result["versions"]["rules"] = pack.fingerprint()
        update_scores(conn, row["id"], result)
        if on_call:
            on_call(n, len(rows))
    conn.close()
    return len(rows)
