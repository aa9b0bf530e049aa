"""Re-run the rules of a new rule pack over stored calls, without the audio or the model.

What was heard (utterances with roles, VAD regions, measured acoustics) is kept in the
database; metrics, findings and score are recomputed from it exactly as a fresh audit would.
`rejudge` does it for one stored call and writes nothing (`audit rules try`, results/preview.py,
uses it as is); `rescore` stores what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from callaudit.metrics.acoustics import Acoustics
from callaudit.parts import CallMetrics, JudgedWith, roles_sure
from callaudit.records import CallResult, Utterance
from callaudit.results import reviews
from callaudit.results.store import call_lines, calls_to_rescore, connect, update_scores
from callaudit.rules.judge import judge, judged_with, speakers_unsure
from callaudit.rules.pack import RulePack, load
from callaudit.speech import vocabulary


def rejudge(pack: RulePack, result: CallResult, lang: str = "zh",
            norms: JudgedWith | None = None) -> CallResult:
    """A stored call's result (as calls_to_rescore yields it: with its regions and measured
    acoustics) judged again under `pack`: a new result with the new utterance text (the
    pack's vocabulary), score, verdict, metrics, findings, norms (`norms`: judged_with(pack),
    given to save working it out per call) and rules version. `result` is left as it was;
    nothing is written."""
    # the transcript follows the new pack's vocabulary (from the recognizer's text)
    utts = vocabulary.apply([replace(u) for u in result.utterances], pack.settings.vocabulary)
    acoustics = Acoustics(**result.acoustics)
    sep = result.separation
    stereo = result.agent_channel != "mono" or bool(sep and sep.speakers == 2)
    unheard = [replace(u) for u in result.unheard]
    system = [Utterance(n.channel, n.start, n.end, n.text, "agent")
              for n in result.not_party if n.label == "prompt"]
    j = judge(pack, acoustics, result.regions, utts, stereo, lang,
              speakers_unsure(sep, roles_sure(result.roles_why), pack.settings), unheard,
              system=system)
    s = j.score
    norms = judged_with(pack) if norms is None else norms
    return replace(result, utterances=utts, score=s.score, passed=s.passed, fatal=s.fatal,
                   sections=s.sections,
                   metrics=CallMetrics.from_json(j.metrics.to_json(pack.settings)),
                   findings=j.findings, judged_with=norms,
                   versions={**result.versions, "rules": norms.rules})


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
    # by the pack object (fingerprint() hashes a whole pack), held here so its id stays its own
    norms: dict[int, tuple[RulePack, JudgedWith]] = {}
    rows = calls_to_rescore(conn)
    reviewed = reviews.reviewed_call_ids(conn)
    done = 0
    for n, (call, result) in enumerate(rows, start=1):
        pack = one if pack_of is None else pack_of(lines.get(call))
        if pack is not None:
            if id(pack) not in norms:
                norms[id(pack)] = (pack, judged_with(pack))
            update_scores(conn, call, rejudge(pack, result, lang, norms[id(pack)][1]))
            done += 1
            sha = reviewed.get(call)
            if sha:  # reviews are kept; the reviewed score follows the new findings
                reviews.refresh_reviewed(conn, sha, pack)
        if on_call:
            on_call(n, len(rows))
    conn.close()
    return done
