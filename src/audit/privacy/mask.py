"""Mask personal data in an audit.call/1 result, wherever its text goes next.

    redacted = redact(result, pack)      # a new dict; `result` is left as it was

Masked text keeps its length and shape: each digit, letter or Han character of an entity
becomes `*` (one for one, so 一三八一二三四五六七八 reads 一三八****五六七八 with the kind's
`mask.keep`), separators stay; or, for a kind masked `as: label`, the whole of it becomes
`[手机号]`. The utterances are masked where the entities are; every other text of the
result (evidence, details, messages) has the same words replaced, and then any digit run
that is part of an entity's number, so a fragment quoted elsewhere is masked too.

The rules have already judged the unmasked words (a read-back needs the number itself);
what is written is the masked result. `result["privacy"]` says what was masked: the types,
counts, times and masked forms, never the values.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from audit.privacy.detect import Entity, detect
from audit.records import Utterance
from audit.rules.pack import RulePack
from audit.speech.numbers import digit_runs, is_digit

_SEPARATORS = " -,，、.。"
KEPT_MAX = 4  # digits a mask may leave in a row (the 5678 of 138****5678); more are masked
_MASKABLE = re.compile(r"[0-9A-Za-z\u3400-\u9fff]")


def _maskable(ch: str) -> bool:
    return bool(_MASKABLE.match(ch)) or is_digit(ch)


def mask_pieces(entity: Entity, utts: list[Utterance]) -> dict[int, tuple[int, int, str]]:
    """utterance index -> (start, end, masked text of that piece), for `entity`."""
    chars = [(p.utt, j) for p in entity.pieces for j in range(p.start, p.end)]
    positions = [i for i, (u, j) in enumerate(chars) if _maskable(utts[u].text[j])]
    keep_a, keep_b = entity.keep
    if keep_a + keep_b >= len(positions):  # too short to keep anything
        keep_a = keep_b = 0
    hidden = set(positions[keep_a:len(positions) - keep_b])
    out: dict[int, tuple[int, int, str]] = {}
    for i, (u, j) in enumerate(chars):
        ch = "*" if i in hidden else utts[u].text[j]
        a, b, s = out.get(u, (j, j, ""))
        out[u] = (a, j + 1, s + ch)
    if entity.as_label:  # the whole entity is one label, in its first utterance
        first = entity.pieces[0].utt
        out = {u: (a, b, entity.as_label if u == first else "") for u, (a, b, _) in out.items()}
    return out


def mask_utterances(utts: list[Utterance], entities: list[Entity]) -> list[str]:
    """The utterances' texts with every entity masked; sets each entity's `masked`."""
    texts = [u.text for u in utts]
    edits: dict[int, list[tuple[int, int, str]]] = {}
    for e in entities:
        parts = mask_pieces(e, utts)
        e.masked = " ".join(s for _, _, s in parts.values() if s)
        for u, edit in parts.items():
            edits.setdefault(u, []).append(edit)
    for u, es in edits.items():
        for a, b, s in sorted(es, reverse=True):  # from the end: earlier positions stay valid
            texts[u] = texts[u][:a] + s + texts[u][b:]
    return texts


def _scrubber(utts: list[Utterance], masked: list[str], entities: list[Entity]):  # type: ignore[no-untyped-def]
    """A function that masks personal data in any other text of the result."""
    pairs: dict[str, str] = {}
    for e in entities:
        for p in e.pieces:
            orig = utts[p.utt].text[p.start:p.end]
            if sum(map(_maskable, orig)) >= 2 or e.type == "name":
                pairs[orig] = masked[p.utt][p.start:p.start + len(orig)] if not e.as_label else e.as_label
    for u, m in zip(utts, masked, strict=True):
        if u.text != m:
            pairs[u.text] = m
    values = [e.value for e in entities if any(c.isdigit() for c in e.value)]
    ordered = sorted(pairs, key=len, reverse=True)

    def scrub(text: str) -> str:
        for k in ordered:
            if k in text:
                text = text.replace(k, pairs[k])
        for run in digit_runs(text, 4, masked=False):  # a fragment of a number quoted alone
            if len(run.digits) <= KEPT_MAX and _beside_mask(text, run.start, run.end):
                continue  # the part a mask keeps (138****5678)
            if any(run.digits in v or v in run.digits for v in values):
                text = text[:run.start] + "".join("*" if is_digit(c) else c
                                                  for c in text[run.start:run.end]) + text[run.end:]
        return text

    return scrub


def _beside_mask(text: str, a: int, b: int) -> bool:
    left = text[:a].rstrip(_SEPARATORS)
    right = text[b:].lstrip(_SEPARATORS)
    return left.endswith("*") or right.startswith("*")


def _walk(value: Any, scrub: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_walk(v, scrub) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, scrub) for k, v in value.items()}
    return value


# Result keys whose values are the machine's own (paths, versions, settings), not what was said.
_OWN = {"schema", "file", "versions", "judged_with", "timing_s", "metrics", "sections",
        "layout", "not_speech", "unheard", "privacy", "separation", "roles_why", "warnings"}


def entities_of(result: dict[str, Any], pack: RulePack) -> tuple[list[Utterance], list[Entity]]:
    utts = [Utterance.from_json(u) for u in result.get("utterances", [])]
    s = pack.settings
    return utts, detect(utts, pack.entities, s.number_join_gap_s, s.redact_context_s)


def privacy_report(entities: list[Entity], redacted: bool) -> dict[str, Any]:
    """What the result says of its personal data: whether its text is masked, how many of
    each type, and where (times, the masked form), never a value."""
    counts: dict[str, int] = {}
    labels: dict[str, dict[str, str]] = {}
    for e in entities:
        counts[e.type] = counts.get(e.type, 0) + 1
        labels.setdefault(e.type, e.label or {})
    return {"redacted": redacted, "counts": counts, "labels": labels,
            "entities": [e.to_json() for e in entities]}


def redact(result: dict[str, Any], pack: RulePack) -> dict[str, Any]:
    """`result` with its personal data masked (see the module's doc); a result already
    masked is returned as it is."""
    if (result.get("privacy") or {}).get("redacted"):
        return result
    utts, entities = entities_of(result, pack)
    out = copy.deepcopy(result)
    masked = mask_utterances(utts, entities)
    scrub = _scrubber(utts, masked, entities)
    for k, v in out.items():
        if k == "utterances":
            for u, text in zip(v, masked, strict=True):
                u["text"] = text
        elif k not in _OWN:
            out[k] = _walk(v, scrub)
    out["privacy"] = privacy_report(entities, redacted=True)
    return out
