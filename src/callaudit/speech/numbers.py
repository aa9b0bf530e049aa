"""Numbers as people say them on the phone, and what a party said as one text.

A phone number comes as 13812345678, 138 1234 5678, 一三八一二三四五六七八, 幺三八… (幺
for one, so it is not heard as 七), 两 for two, mixed, or split over two utterances with a
pause while the caller reads it off a card. `digit_runs` reads them all as one run of
ASCII digits with the characters it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from callaudit.records import Utterance

DIGITS = {**{c: c for c in "0123456789"}, "零": "0", "〇": "0", "○": "0", "一": "1", "幺": "1",
          "二": "2", "两": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8",
          "九": "9",
          # a digit masked as personal data (privacy/mask.py): a stored masked transcript still
          # holds a number of that length, so `rescore` judges its read-back as the audit did
          "*": "*"}
# What may stand between the digits of one number: spaces, dashes, commas, a full stop
# (Whisper punctuates the groups of a number read with pauses), a joined pause, a filler.
_SEPARATORS = " \t-－—,，、.。;；:：…嗯呃额"
_TAIL = ("艾克斯", "叉", "X", "x")  # the check character X of a resident ID, as said
_RUN = re.compile(rf"[0-9*](?:[{re.escape(_SEPARATORS)}]{{0,6}}[0-9*])*")
_RUN_UNMASKED = re.compile(rf"[0-9](?:[{re.escape(_SEPARATORS)}]{{0,6}}[0-9])*")


@dataclass
class Text:
    """What one party said, as one text: `text`, and for each character the utterance and
    the position in it that it comes from (None for the joint between two utterances)."""

    role: str
    text: str
    owner: list[tuple[int, int] | None]


def party_texts(utts: list[Utterance], join_gap_s: float) -> list[Text]:
    """Each party's utterances (by role, in time order) joined into one Text: a space where
    the next one starts within `join_gap_s` of the end of the last (a number read in parts),
    a line break otherwise (nothing is found across it)."""
    out: dict[str, Text] = {}
    last_end: dict[str, float] = {}
    for i, u in enumerate(utts):
        t = out.setdefault(u.role, Text(u.role, "", []))
        if u.role in last_end:
            t.text += " " if u.start - last_end[u.role] <= join_gap_s else "\n"
            t.owner.append(None)
        t.text += u.text
        t.owner += [(i, j) for j in range(len(u.text))]
        last_end[u.role] = max(last_end.get(u.role, u.end), u.end)
    return list(out.values())


@dataclass
class Run:
    start: int  # character positions in the text it was found in
    end: int
    digits: str  # the digits as ASCII, separators dropped; a final X upper-case
    groups: list[tuple[int, int, str]]  # the parts between separators: (start, end, digits)


def digit_runs(text: str, min_digits: int = 1, masked: bool = True) -> list[Run]:
    """Every run of `min_digits`+ digits in `text`, spoken forms read as digits; a masked
    digit (*) is one of them unless `masked` is False."""
    mapped = "".join(DIGITS.get(c, c) for c in text)
    out = []
    for m in (_RUN if masked else _RUN_UNMASKED).finditer(mapped):
        a, b = m.span()
        tail = next((t for t in _TAIL if text.startswith(t, b)), "")
        groups = [(g.start() + a, g.end() + a, g.group()) for g in re.finditer(r"[0-9*]+", m.group())]
        if tail:
            groups[-1] = (groups[-1][0], b + len(tail), groups[-1][2] + "X")
            b += len(tail)
        digits = "".join(g[2] for g in groups)
        if len(digits) >= min_digits:
            out.append(Run(a, b, digits, groups))
    return out


_UNITS = "年元块万千百岁次个天月日号多分秒点%"  # 2023年, 1500块, 3.5元: a quantity, not a number
_SHORT_UNITS = "号分点"  # 3号楼, 5分钟, 10点: a quantity only when short (13812345678号 is not)


def without_quantity(text: str, run: Run) -> Run | None:
    """The run, less an amount, a year or a count it ends with (a unit or a decimal follows:
    2023年, 1500块, 3.5元), which nobody reads back and which is nobody's personal data: None
    when that is all of it; its other groups when it has some (…零三四七，两个号码)."""
    after = text[run.end:run.end + 2]
    if not (after and (after[0] in _UNITS or (after[0] == "." and after[1:].isdigit()))):
        return run
    if after[0] in _SHORT_UNITS and len(run.groups[-1][2]) > 4:
        return run
    if len(run.groups) == 1 or "," in text[run.groups[-2][1]:run.groups[-1][0]] and \
            len(run.groups[-1][2]) == 3:  # 2,356,780元: thousands, one amount
        return None
    groups = run.groups[:-1]
    return Run(run.start, groups[-1][1], "".join(g[2] for g in groups), groups)


def is_digit(ch: str) -> bool:
    return ch in DIGITS


@dataclass
class NumberSaid:
    utterance: Utterance  # the one it starts in
    digits: str
    end: float  # when the utterance of its last digit ends
    parts: list[str]  # its digits in each utterance it spans (one part: one utterance)


def numbers_said(utts: list[Utterance], min_len: int, gap_s: float) -> list[NumberSaid]:
    """Digit strings (order, phone, card numbers) of `min_len`+ digits: read across one
    party's utterances `gap_s` apart (幺三八， / 一二三四， / 五六七八 is one number,
    speech/numbers.py); not years, amounts or counts."""
    out = []
    for text in party_texts(utts, gap_s):
        for whole in digit_runs(text.text, min_len):
            run = without_quantity(text.text, whole)
            if run is None or len(run.digits) < min_len:
                continue
            parts: dict[int, str] = {}
            for i in range(run.start, run.end):
                o = text.owner[i]
                if o is not None and text.text[i] in DIGITS:
                    parts[o[0]] = parts.get(o[0], "") + DIGITS[text.text[i]]
            first, last = min(parts), max(parts)
            out.append(NumberSaid(utts[first], run.digits, utts[last].end, list(parts.values())))
    return out
