"""What a draft rule pack would change on a stored night, written nowhere (`audit rules try`).

Every audited call of a results database is judged again under the draft (results/rescore.py's
`rejudge`: the stored words, times and measures; no audio, no model) and its findings are
compared, rule by rule, with the stored ones. The database is opened read-only (SQLite
`mode=ro`): nothing, not even a -wal file's checkpoint, is written to it.

A finding's verdict is one of VERDICTS: "fail" (failed, points taken), "review" (failed, but a
person decides: no points), "pass", "na" (the rule did not apply, or is not in the pack: off).
A call's verdict of a rule that changed is counted once, under what it is now: newly failing
("fail" now), newly passing, newly n/a, newly needing review.

Where people reviewed the stored findings (audit serve), the draft is held against what they
decided, per rule, over the stored failures with a standing review (appeal decisions count,
calibration reviews do not, as in reviews.precision_by_rule):
  kept         the reviewer confirmed the failure, and the draft still fails the call
  lost         the reviewer confirmed it, and the draft no longer fails it
  still_wrong  the reviewer overturned it (or found the rule not applicable), the draft still fails
  fixed        the reviewer overturned it, and the draft no longer fails it
and `caught` of the `missed` findings reviewers added are failed by the draft.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from callaudit.records import Finding
from callaudit.results import reviews
from callaudit.results.rescore import rejudge
from callaudit.results.store import call_lines, calls_to_rescore, connect, ok_calls
from callaudit.rules.judge import judged_with
from callaudit.rules.pack import RulePack

VERDICTS = ("fail", "review", "pass", "na")
# a call's page on the review workbench (review/server.py, route /calls/<sha>)
CALL_PAGE = "/calls/{sha256}"


def verdict(finding: Finding | None) -> str:
    """A stored or re-judged finding's verdict (None: the rule was not judged: "na")."""
    return "na" if finding is None else finding.verdict


def failing(v: str) -> bool:
    """Failed, with points or for a person to decide."""
    return v in ("fail", "review")


@dataclass(frozen=True)
class CallRef:
    """A call named for a person: its call id, file, sha256 and its workbench page."""

    call_id: str
    file: str
    sha256: str
    page: str


@dataclass
class RuleChange:
    """One rule over the calls re-judged. Counts are of calls; `examples[kind]` names the first
    few calls of each kind ("fail", "pass", "na", "review": newly so)."""

    rule: str
    section: str
    judged_before: int = 0  # calls the rule applied to (any verdict but na), stored
    judged_after: int = 0  # ... under the draft
    failing_before: int = 0  # "fail" (points taken), stored
    failing_after: int = 0
    newly_failing: int = 0  # was pass, n/a or review; now fail
    newly_passing: int = 0  # was fail, review or n/a; now pass
    newly_na: int = 0  # now n/a (or off in the draft)
    newly_review: int = 0  # now failed for a person to decide
    deduction_before: float = 0.0  # points taken, summed over the calls
    deduction_after: float = 0.0
    examples: dict[str, list[CallRef]] = field(default_factory=dict)

    @property
    def deduction_change(self) -> float:
        return round(self.deduction_after - self.deduction_before, 6)

    @property
    def changed_calls(self) -> int:
        return self.newly_failing + self.newly_passing + self.newly_na + self.newly_review

    @property
    def changed(self) -> bool:
        return bool(self.changed_calls or self.deduction_change)


@dataclass
class ReviewAgreement:
    """One rule's reviewed failures against the draft (see the module's docstring)."""

    rule: str
    kept: int = 0
    lost: int = 0
    still_wrong: int = 0
    fixed: int = 0
    missed: int = 0  # findings reviewers said the machine missed
    caught: int = 0  # ... that the draft fails
    examples: dict[str, list[CallRef]] = field(default_factory=dict)  # "lost", "fixed", "caught"

    @property
    def reviewed(self) -> int:
        return self.kept + self.lost + self.still_wrong + self.fixed


@dataclass
class Preview:
    """What a draft pack changes on a stored night (nothing written)."""

    db: str
    draft: str  # the draft's fingerprint
    stored: list[str]  # the rules versions the calls were judged with
    calls: int = 0  # calls re-judged
    stored_calls: int = 0  # audited calls in the database (more than `calls` under a limit)
    changed_calls: int = 0  # calls with any rule's verdict or points changed
    pass_to_fail: int = 0
    fail_to_pass: int = 0
    mean_before: float | None = None
    mean_after: float | None = None
    rules: list[RuleChange] = field(default_factory=list)  # every rule seen, most changed first
    reviewed_calls: int = 0  # of the calls re-judged, those with a standing review
    agreement: list[ReviewAgreement] = field(default_factory=list)  # rules with reviews
    examples: dict[str, list[CallRef]] = field(default_factory=dict)  # "pass_to_fail", "fail_to_pass"
    seconds: float = 0.0

    @property
    def changed_rules(self) -> list[RuleChange]:
        return [r for r in self.rules if r.changed]

    def precision(self) -> tuple[float | None, float | None]:
        """Of the reviewed failures the stored pack made, the share reviewers confirmed; of
        those the draft still makes, the same share (None where there are none)."""
        kept = sum(a.kept for a in self.agreement)
        lost = sum(a.lost for a in self.agreement)
        wrong = sum(a.still_wrong for a in self.agreement)
        fixed = sum(a.fixed for a in self.agreement)
        before = (kept + lost) / (kept + lost + wrong + fixed) if kept + lost + wrong + fixed else None
        after = kept / (kept + wrong) if kept + wrong else None
        return before, after

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for r, row in zip(self.rules, d["rules"], strict=True):
            row["deduction_change"] = r.deduction_change
        for a, row in zip(self.agreement, d["agreement"], strict=True):
            row["reviewed"] = a.reviewed
        before, after = self.precision()
        d["reviewed_precision"] = {"before": before, "after": after}
        return d


def _add(examples: dict[str, list[CallRef]], kind: str, ref: CallRef, n: int) -> None:
    lst = examples.setdefault(kind, [])
    if len(lst) < n:
        lst.append(ref)


@dataclass
class _Judged:
    """One call judged again, as much as the counts need (small: it crosses processes)."""

    call: int
    version: str  # the rules version it was stored with
    before: tuple[float, bool]  # score, passed
    after: tuple[float, bool]
    # rule, section, verdict stored, verdict now, points stored, points now
    rules: list[tuple[str, str, str, str, float, float]]


def _judge_calls(db: str, pack: RulePack, lang: str, ids: list[int]) -> list[_Judged]:
    """The calls `ids` of `db` judged again."""
    norms = judged_with(pack)
    conn = connect(db, readonly=True)
    out = []
    try:
        for call, result in calls_to_rescore(conn, ids):
            new = rejudge(pack, result, lang, norms)
            old_f = {f.rule: f for f in result.findings}
            new_f = {f.rule: f for f in new.findings}
            rules = []
            for rule in {**old_f, **new_f}:
                a, b = old_f.get(rule), new_f.get(rule)
                va, vb = verdict(a), verdict(b)
                rules.append((rule, (b or a).section if (b or a) else "", va, vb,
                              a.deduction if a and va == "fail" else 0.0,
                              b.deduction if b and vb == "fail" else 0.0))
            out.append(_Judged(call, result.versions["rules"],
                               (result.score or 0.0, result.passed),
                               (new.score or 0.0, new.passed), rules))
    finally:
        conn.close()
    return out


def _judge_chunk(job: tuple[str, RulePack, str, list[int]]) -> list[_Judged]:
    return _judge_calls(*job)


# below this many calls one process does it all (starting others costs about a second)
PARALLEL_FROM = 200


def _judged(db: str, pack: RulePack, lang: str, ids: list[int], workers: int) -> Iterator[_Judged]:
    """The calls of `ids` judged again, in their order, by `workers` processes."""
    if workers <= 1 or len(ids) < PARALLEL_FROM:
        yield from _judge_calls(db, pack, lang, ids)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    size = max(20, len(ids) // (workers * 8) + 1)  # small shares: the pool stays busy to the end
    jobs = [(db, pack, lang, ids[i:i + size]) for i in range(0, len(ids), size)]
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        for part in pool.map(_judge_chunk, jobs):
            yield from part


def preview(db: str | Path, pack: RulePack, lang: str = "zh", limit: int | None = None,
            examples: int = 3, workers: int = 1, line: str | None = None) -> Preview:
    """Judge the audited calls of `db` (the first `limit` stored, or all; with `line`, only
    the calls of that business line, `batch --scorecards`) again under `pack` and count what
    changes; `examples` calls named per kind of change; `workers` processes (0: one per core)
    share the judging. The database is only read (AuditError when it cannot be, as
    connect() says)."""
    t0 = time.perf_counter()
    db = str(db)
    conn = connect(db, readonly=True)
    try:
        meta = {r["id"]: r for r in ok_calls(conn)}
        if line is not None:
            of_line = {c for c, ln in call_lines(conn).items() if ln == line}
            meta = {c: r for c, r in meta.items() if c in of_line}
        standing: dict[str, dict[str, dict[str, Any]]] = {}
        missed: dict[str, list[str]] = {}
        if reviews.has_review_tables(conn):
            for sha in reviews.reviewed_calls(conn):
                standing[sha] = reviews.reviews_of_call(conn, sha)
                missed[sha] = [m["rule"] for m in reviews.missed_of_call(conn, sha)]
    finally:
        conn.close()
    ids = sorted(meta)  # the order stored
    out = Preview(db=db, draft=pack.fingerprint(), stored=[], stored_calls=len(ids))
    ids = ids[:limit] if limit is not None else ids
    order = {r.id: i for i, r in enumerate(pack.rules)}
    by_rule: dict[str, RuleChange] = {}
    agree: dict[str, ReviewAgreement] = {}
    stored_versions: dict[str, None] = {}
    before_sum = after_sum = 0.0
    for j in _judged(db, pack, lang, ids, workers or os.cpu_count() or 1):
        m = meta.get(j.call, {})
        sha = m.get("sha256", "")
        ref = CallRef(m.get("call_id") or "", m.get("file") or "", sha,
                      CALL_PAGE.format(sha256=sha))
        out.calls += 1
        stored_versions[j.version] = None
        before_sum += j.before[0]
        after_sum += j.after[0]
        if j.before[1] and not j.after[1]:
            out.pass_to_fail += 1
            _add(out.examples, "pass_to_fail", ref, examples)
        elif j.after[1] and not j.before[1]:
            out.fail_to_pass += 1
            _add(out.examples, "fail_to_pass", ref, examples)
        changed = j.before[0] != j.after[0]
        now: dict[str, tuple[str, str]] = {}
        for rule, section, va, vb, da, dn in j.rules:
            now[rule] = (va, vb)
            rc = by_rule.get(rule)
            if rc is None:
                rc = by_rule[rule] = RuleChange(rule, section)
            rc.judged_before += va != "na"
            rc.judged_after += vb != "na"
            rc.failing_before += va == "fail"
            rc.failing_after += vb == "fail"
            rc.deduction_before += da
            rc.deduction_after += dn
            if va != vb:
                kind = {"fail": "newly_failing", "pass": "newly_passing", "na": "newly_na",
                        "review": "newly_review"}[vb]
                setattr(rc, kind, getattr(rc, kind) + 1)
                _add(rc.examples, vb, ref, examples)
            changed = changed or va != vb or da != dn
        out.changed_calls += changed
        if sha in standing or sha in missed:
            out.reviewed_calls += 1
        for rule, rev in standing.get(sha, {}).items():
            va, vb = now.get(rule, ("na", "na"))
            if not failing(va):
                continue  # only failures are reviewed; a passed finding's review is stale
            ag = agree.setdefault(rule, ReviewAgreement(rule))
            if rev["state"] == "confirmed":
                kind = "kept" if failing(vb) else "lost"
            else:  # overturned, not_applicable: the machine was wrong to fail it
                kind = "still_wrong" if failing(vb) else "fixed"
            setattr(ag, kind, getattr(ag, kind) + 1)
            if kind in ("lost", "fixed"):
                _add(ag.examples, kind, ref, examples)
        for rule in missed.get(sha, []):
            ag = agree.setdefault(rule, ReviewAgreement(rule))
            ag.missed += 1
            if failing(now.get(rule, ("na", "na"))[1]):
                ag.caught += 1
                _add(ag.examples, "caught", ref, examples)
    out.stored = list(stored_versions)
    if out.calls:
        out.mean_before = round(before_sum / out.calls, 2)
        out.mean_after = round(after_sum / out.calls, 2)
    for rc in by_rule.values():
        rc.deduction_before = round(rc.deduction_before, 6)
        rc.deduction_after = round(rc.deduction_after, 6)
    out.rules = sorted(by_rule.values(), key=lambda r: (-r.changed_calls, -abs(r.deduction_change),
                                                        order.get(r.rule, len(order)), r.rule))
    out.agreement = sorted(agree.values(), key=lambda a: (order.get(a.rule, len(order)), a.rule))
    out.seconds = round(time.perf_counter() - t0, 3)
    return out
