"""Re-run the rules of a new rule pack over stored calls, without the audio or the model.

What was heard (utterances with roles, VAD regions, measured acoustics) is kept in the
database; metrics, findings and score are recomputed from it exactly as a fresh audit would.
`rejudge` does it for one stored call and writes nothing (`audit rules try`, results/preview.py,
uses it as is); `rescore` stores what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from callaudit.metrics.acoustics import Acoustics
from callaudit.records import Region, Utterance
from callaudit.results import reviews
from callaudit.results.store import call_lines, calls_to_rescore, connect, update_scores
from callaudit.rules.judge import judge, judged_with, separation_unsure
from callaudit.rules.pack import RulePack, load
from callaudit.speech import vocabulary


def rejudge(pack: RulePack, result: dict[str, Any], stored_regions: list[dict[str, Any]],
            measured: dict[str, Any], lang: str = "zh",
            norms: dict[str, Any] | None = None) -> dict[str, Any]:
    """A stored call's audit.call/1 `result` judged again under `pack` from its `stored_regions`
    and `measured` acoustics (as calls_to_rescore yields them): a new result dict with the new
    utterance text (the pack's vocabulary), score, verdict, metrics, findings, norms
    (`norms`: judged_with(pack), given to save working it out per call) and rules version.
    `result` is left as it was; nothing is written."""
    # the transcript follows the new pack's vocabulary (from the recognizer's text)
    utts = vocabulary.apply([Utterance.from_json(u) for u in result["utterances"]],
                            pack.settings.vocabulary)
    regions = [Region.from_json(r) for r in stored_regions]
    acoustics = Acoustics(**measured)
    sep = result.get("separation")
    stereo = result["agent_channel"] != "mono" or bool(sep and sep["speakers"] == 2)
    unheard = [Utterance(ch, a, b, "", role) for a, b, role, ch in result.get("unheard", [])]
    system = [Utterance(n["channel"], n["start"], n["end"], n.get("text", ""), "agent")
              for n in result.get("not_party", []) if n.get("label") == "prompt"]
    j = judge(pack, acoustics, regions, utts, stereo, lang,
              separation_unsure(sep, pack.settings), unheard, system=system)
    s = j.score
    norms = judged_with(pack) if norms is None else norms
    new = dict(result)
    new.update(utterances=[u.to_json() for u in utts], score=s.score, passed=s.passed,
               fatal=s.fatal, sections=s.sections, metrics=j.metrics.to_json(pack.settings),
               findings=[f.to_json() for f in j.findings],
               judged_with=norms, versions={**result["versions"], "rules": norms["rules"]})
    return new


def rescore(db: str, rules: str | None, lang: str = "zh",
            on_call: Callable[[int, int], None] | None = None,
            pack_of: Callable[[str | None], RulePack | None] | None = None) -> int:
    """Judge every audited call of database `db` again under pack `rules` (None: the
    default), or, with `pack_of`, under the pack of the call's business line (`pack_of(line)`;
    None: the call is left as stored), and store the new verdicts and norms; the number of
    calls judged. `on_call(n, total)` after each."""
    conn = connect(db)
    lines = call_lines(conn) if pack_of else {}
    one = None if pack_of else load(rules)
    norms: dict[str, dict[str, Any]] = {}
    rows = calls_to_rescore(conn)
    reviewed = reviews.reviewed_call_ids(conn)
    done = 0
    for n, (call, result, stored_regions, measured) in enumerate(rows, start=1):
        pack = one if pack_of is None else pack_of(lines.get(call))
        if pack is not None:
            key = pack.fingerprint()
            if key not in norms:
                norms[key] = judged_with(pack)
            update_scores(conn, call, rejudge(pack, result, stored_regions, measured, lang,
                                              norms[key]))
            done += 1
            sha = reviewed.get(call)
            if sha:  # reviews are kept; the reviewed score follows the new findings
                reviews.refresh_reviewed(conn, sha, pack)
        if on_call:
            on_call(n, len(rows))
    conn.close()
    return done
