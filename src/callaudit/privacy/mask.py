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
from collections.abc import Callable
from typing import Any

from callaudit.parts import PrivacyReport
from callaudit.privacy.detect import LEAK_DIGITS, Entity, detect_in
from callaudit.records import CallResult, Utterance
from callaudit.rules.pack import RulePack
from callaudit.speech.numbers import digit_runs, is_digit

MASK_DIGIT = "*"  # a masked digit: still a digit to the read-back and the speech rate
MASK_OTHER = "＊"  # a masked letter or Han character (a name, an address): not a digit
_MASKABLE = re.compile(r"[0-9A-Za-z\u3400-\u9fff]")


def _maskable(ch: str) -> bool:
    return bool(_MASKABLE.match(ch)) or is_digit(ch)


def _masked_char(ch: str, number: bool) -> str:
    """* for a digit, and for every character of a number (an ID's X, 叉); ＊ for the rest."""
    return MASK_DIGIT if number or is_digit(ch) else MASK_OTHER


def mask_pieces(entity: Entity, utts: list[Utterance]) -> dict[int, tuple[int, int, str]]:
    """utterance index -> (start, end, masked text of that piece), for `entity`."""
    chars = [(p.utt, j) for p in entity.pieces for j in range(p.start, p.end)]
    positions = [i for i, (u, j) in enumerate(chars) if _maskable(utts[u].text[j])]
    keep_a, keep_b = entity.keep
    if keep_a + keep_b >= len(positions):  # too short to keep anything
        keep_a = keep_b = 0
    hidden = set(positions[keep_a:len(positions) - keep_b])
    number = entity.value.rstrip("X").isdigit()
    out: dict[int, tuple[int, int, str]] = {}
    for i, (u, j) in enumerate(chars):
        ch = utts[u].text[j]
        a, _, s = out.get(u, (j, j, ""))
        out[u] = (a, j + 1, s + (_masked_char(ch, number) if i in hidden else ch))
    if entity.as_label:  # the whole entity is one label, in its first utterance
        first = entity.pieces[0].utt
        out = {u: (a, b, entity.as_label if u == first else "") for u, (a, b, _) in out.items()}
    return out


def mask_utterances(utts: list[Utterance], entities: list[Entity]) -> list[str]:
    """The utterances' texts with every entity masked; sets each entity's `masked` and
    `replaced` (each piece as said -> as masked)."""
    texts = [u.text for u in utts]
    edits: dict[int, list[tuple[int, int, str]]] = {}
    for e in entities:
        parts = mask_pieces(e, utts)
        e.masked = " ".join(s for _, _, s in parts.values() if s)
        e.replaced = [(utts[u].text[a:b], s) for u, (a, b, s) in parts.items()]
        for u, edit in parts.items():
            edits.setdefault(u, []).append(edit)
    for u, es in edits.items():
        for a, b, s in sorted(es, reverse=True):  # from the end: earlier positions stay valid
            texts[u] = texts[u][:a] + s + texts[u][b:]
    return texts


def _scrubber(utts: list[Utterance], masked: list[str], entities: list[Entity],
              ) -> Callable[[str], str]:
    """A function that masks personal data in any other text of the result: the utterances
    and pieces it quotes (of two characters or more: one, 高, is any word's), then any run
    of LEAK_DIGITS+ digits that is part of a number found."""
    pairs: dict[str, str] = {u.text: m for u, m in zip(utts, masked, strict=True) if u.text != m}
    for e in entities:
        pairs.update((a, b) for a, b in e.replaced if sum(map(_maskable, a)) >= 2)
    values = [e.value for e in entities if any(c.isdigit() for c in e.value)]
    ordered = sorted(pairs, key=len, reverse=True)

    def scrub(text: str) -> str:
        for k in ordered:
            if k in text:
                text = text.replace(k, pairs[k])
        for run in digit_runs(text, LEAK_DIGITS, masked=False):  # a number quoted alone
            if any(run.digits in v or v in run.digits for v in values):
                text = text[:run.start] + "".join(MASK_DIGIT if is_digit(c) else c
                                                  for c in text[run.start:run.end]) + text[run.end:]
        return text

    return scrub


def _walk(value: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_walk(v, scrub) for v in value]
    if isinstance(value, dict):
        return {k: _walk(v, scrub) for k, v in value.items()}
    return value


# Result keys that hold nothing anybody said: paths, versions, the pack's own words. Every
# other key is scrubbed (metrics quote utterances: a response gap, an interruption).
_OWN = {"schema", "file", "versions", "judged_with", "timing_s", "not_speech", "unheard", "privacy"}


def privacy_report(entities: list[Entity], redacted: bool) -> PrivacyReport:
    """What the result says of its personal data: whether its text is masked, how many of
    each type, and where (times, the masked form), never a value."""
    counts: dict[str, int] = {}
    labels: dict[str, dict[str, str]] = {}
    for e in entities:
        counts[e.type] = counts.get(e.type, 0) + 1
        labels.setdefault(e.type, e.label or {})
    return PrivacyReport.from_json({"redacted": redacted, "counts": counts, "labels": labels,
                                    "entities": [e.to_json() for e in entities]})


def _masked_alike(text: str, masked: str, heard: str) -> str | None:
    """`heard` (the text before the vocabulary wrote its terms: the same length, other Han
    characters in places) masked where `text` became `masked`; None when they do not line
    up, so the unmasked words are dropped rather than kept."""
    if not (len(text) == len(masked) == len(heard)):
        return None
    return "".join(m if m != t else h for t, m, h in zip(text, masked, heard, strict=True))


def redact(result: dict[str, Any], pack: RulePack, found: list[Entity] | None = None,
           ) -> dict[str, Any]:
    """`result` with its personal data masked (see the module's doc); a result already
    masked is returned as it is. `found`: the entities already detected in its utterances
    (the pipeline's), so they are not looked for twice; None: detected here."""
    if (result.get("privacy") or {}).get("redacted"):
        return result
    utts = [Utterance.from_json(u) for u in result.get("utterances", [])]
    entities = detect_in(utts, pack) if found is None else found
    out = copy.deepcopy(result)
    masked = mask_utterances(utts, entities)
    # the machine's words (an announcement, a prompt) are searched on their own: a number
    # a prompt reads out is in no party's words
    machine = [n for n in out.get("not_party") or [] if n.get("text")]
    words = [Utterance(n["channel"], n["start"], n["end"], n["text"]) for n in machine]
    found = detect_in(words, pack)
    heard = mask_utterances(words, found)
    scrub = _scrubber(utts + words, masked + heard, entities + found)
    for k, v in out.items():
        if k == "utterances":
            for u, text in zip(v, masked, strict=True):
                if u.get("heard") is not None:  # the recognizer's text: masked where text is
                    u["heard"] = _masked_alike(u["text"], text, u["heard"])
                u["text"] = text
        elif k not in _OWN:
            out[k] = _walk(v, scrub)
    for n, text in zip([n for n in out.get("not_party") or [] if n.get("text")], heard, strict=True):
        n["text"] = text
    out["privacy"] = privacy_report(entities, redacted=True).to_json()
    return out


def redact_result(result: CallResult, pack: RulePack, found: list[Entity] | None = None,
                  ) -> CallResult:
    """`redact` of a record: the same call masked, with the regions and acoustics it
    carries (a result already masked is returned as it is)."""
    if result.privacy is not None and result.privacy.redacted:
        return result
    return CallResult.from_json(redact(result.to_json(), pack, found), regions=result.regions,
                                acoustics=result.acoustics, check=False)
