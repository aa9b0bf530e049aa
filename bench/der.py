"""Diarization error rate, the NIST md-eval way, for two or three speakers.

    DER = (missed + false alarm + confusion) / total reference speech

- Each speaker's segments are merged first: one speaker talking counts once at any time.
- Overlapped reference speech counts once per speaker (two people = two seconds per second).
- At each instant with n_ref reference and n_hyp hypothesis speakers: missed = max(0, n_ref -
  n_hyp), false alarm = max(0, n_hyp - n_ref), confusion = min(n_ref, n_hyp) - correct, where
  correct counts reference speakers whose mapped hypothesis speaker is also talking.
- The mapping is one-to-one, hypothesis label -> reference label, chosen to maximize the
  correctly attributed time in the scored region (brute force: labels are few here).
- `collar` seconds either side of every reference segment boundary are not scored;
  `skip_overlap` leaves out time where two or more reference speakers talk.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Hashable, Sequence
from typing import Any

Seg = tuple[float, float, Hashable]


def _by_label(segs: Sequence[Seg]) -> dict[Hashable, list[tuple[float, float]]]:
    out: dict[Hashable, list[tuple[float, float]]] = {}
    for s, e, lab in sorted(segs, key=lambda x: (x[0], x[1])):
        if e <= s:
            continue
        spans = out.setdefault(lab, [])
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    return out


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return _by_label([(s, e, 0) for s, e in spans]).get(0, [])


def _active(spans: list[tuple[float, float]], starts: list[float], t: float) -> bool:
    """Is `t` inside one of `spans` (sorted, disjoint; `starts` their starts)?"""
    i = bisect.bisect_right(starts, t) - 1
    return i >= 0 and t < spans[i][1]


def der(reference: Sequence[Seg], hypothesis: Sequence[Seg], collar: float = 0.25,
        skip_overlap: bool = False) -> dict[str, Any]:
    """Scores `hypothesis` against `reference`, both (start, end, label) in seconds; labels of
    the two sides need not match (hypothesis 0/1 against reference "A"/"B"). `der` is None when
    no reference speech is scored (e.g. one 0.4 s word inside a 0.25 s collar)."""
    ref, hyp = _by_label(reference), _by_label(hypothesis)
    edges = {t for spans in (*ref.values(), *hyp.values()) for s, e in spans for t in (s, e)}
    no_score = _merged([(t - collar, t + collar) for spans in ref.values() for s, e in spans
                        for t in (s, e)] if collar > 0 else [])
    edges |= {t for s, e in no_score for t in (s, e)}
    cuts = sorted(edges)
    r_starts = {lab: [s for s, _ in spans] for lab, spans in ref.items()}
    h_starts = {lab: [s for s, _ in spans] for lab, spans in hyp.items()}
    ns_starts = [s for s, _ in no_score]
    # Elementary intervals: nobody starts or stops inside one, so a midpoint speaks for it.
    pieces: list[tuple[float, list[Hashable], list[Hashable]]] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        mid = (a + b) / 2
        if _active(no_score, ns_starts, mid):
            continue
        r = [lab for lab, spans in ref.items() if _active(spans, r_starts[lab], mid)]
        h = [lab for lab, spans in hyp.items() if _active(spans, h_starts[lab], mid)]
        if (r or h) and not (skip_overlap and len(r) > 1):
            pieces.append((b - a, r, h))
    mapping = _best_mapping(pieces, list(ref), list(hyp))
    missed = false_alarm = confusion = total = 0.0
    for d, r, h in pieces:
        correct = sum(1 for lab in h if mapping.get(lab) in r)
        missed += d * max(0, len(r) - len(h))
        false_alarm += d * max(0, len(h) - len(r))
        confusion += d * (min(len(r), len(h)) - correct)
        total += d * len(r)
    errors = missed + false_alarm + confusion
    return {
        "missed": round(missed, 3), "false_alarm": round(false_alarm, 3),
        "confusion": round(confusion, 3), "total": round(total, 3),
        "der": round(errors / total, 4) if total else None,  # undefined: nothing to score against
        "mapping": {str(k): v for k, v in mapping.items()},
        "collar": collar, "skip_overlap": skip_overlap,
    }


def _best_mapping(pieces: list[tuple[float, list[Hashable], list[Hashable]]],
                  ref_labels: list[Hashable], hyp_labels: list[Hashable]) -> dict[Hashable, Hashable]:
    """Hypothesis -> reference labels, one-to-one, maximizing the time both talk together."""
    co: dict[tuple[Hashable, Hashable], float] = {}
    for d, r, h in pieces:
        for a in h:
            for b in r:
                co[a, b] = co.get((a, b), 0.0) + d
    best: dict[Hashable, Hashable] = {}
    best_score = -1.0
    # Pad with None so every injective partial mapping is one permutation.
    refs: list[Hashable | None] = [*ref_labels, *([None] * len(hyp_labels))]
    for perm in itertools.permutations(refs, len(hyp_labels)):
        score = sum(co.get((h, r), 0.0) for h, r in zip(hyp_labels, perm, strict=True))
        if score > best_score + 1e-9:
            best_score = score
            best = {h: r for h, r in zip(hyp_labels, perm, strict=True) if r is not None}
    return best


def coverage(reference: Sequence[tuple[float, float]], hypothesis: Sequence[tuple[float, float]]) -> float:
    """Share of the reference time that the hypothesis spans also cover (0..1; 1 if no reference)."""
    ref, hyp = _merged(list(reference)), _merged(list(hypothesis))
    total = sum(e - s for s, e in ref)
    hit = sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in ref for s2, e2 in hyp)
    return hit / total if total else 1.0


def role_accuracy(reference: Sequence[tuple[float, float, str]],
                  hypothesis: Sequence[tuple[float, float, str]]) -> dict[str, float | None]:
    """Per role ("agent", "customer"): of that role's true speech time that the hypothesis
    labels at all, the share labelled with the same role ("unknown" counts as wrong); and
    `ROLE_coverage`, the share labelled at all (ASR drops some regions). None: no such speech."""
    out: dict[str, float | None] = {}
    for role in ("agent", "customer"):
        ref = [(s, e) for s, e, r in reference if r == role]
        total = sum(e - s for s, e in _merged(ref))
        covered = coverage(ref, [(s, e) for s, e, _ in hypothesis]) * total
        right = coverage(ref, [(s, e) for s, e, r in hypothesis if r == role]) * total
        out[role] = round(right / covered, 4) if covered > 0 else None
        out[f"{role}_coverage"] = round(covered / total, 4) if total else None
    return out
