"""Hot words (热词): the caller's terms that rose most on a night against the days before it,
and the terms callers name in the first 30 s of a call (why they call).

A **caller's term** is a word of what the customer said (customer utterances only), as
speech/segment.py cuts it (jieba, with the rule pack's vocabulary and script phrases made
words of their own), counted once per call, and left out when it is:
- one character long (particles, 的 了 吗), a number (digits or 一二三 ...), or touches
  masked text (`*`, `＊`: what is left of a masked name or number is not shown as a term);
- a stop word (stopwords.txt beside this module, and the pack's `backchannels`,
  `closing_replies` and `attempt_words`);
- a script phrase: the `phrases` of the pack's rules judging the agent, its
  `hold_phrases`, and the parts of its opening and closing scripts (the center's own words
  said back are no news).

They are stored when a call is written (`call_terms`: call, term, n times said, opening 1
when said within OPENING_S of the call's first words), replaced when its text changes
(`audit redact`, `audit rescore`: writes.py), filled for an older database by its
migration (version 11, from the stored utterances).

**Rose most** (`hot_words`): for the night D and each term, `calls` = the night's calls with
the term; `usual` = the term's share of the calls of the `window` days before D (7 or 30),
times the night's calls (the calls it would have had on an ordinary night of that size);
`change` = calls − usual; ranked by `score` = change / sqrt(usual + 1): a count's ordinary
wobble is about the square root of the count, so a term from 0 to 1 scores 1 and a common
term's day-to-day noise stays small, while a complaint going from 1 to 12 scores about 8.
Only terms in at least MIN_CALLS calls of the night and above their usual are listed.

**Why callers call** (`opening_terms`): the terms callers said in the first OPENING_S of
their calls, by the number of calls. No intent model: a caller states the reason right
after the greeting, so the words of that moment, counted per call, are the reasons, and
each count links to its calls (an explainable list, not a classification).
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from itertools import groupby
from typing import TYPE_CHECKING

from callaudit.records import CallResult, Utterance
from callaudit.speech import segment

if TYPE_CHECKING:
    from callaudit.rules.pack import RulePack

OPENING_S = 30.0  # a call's first seconds, from its first words: where callers say why they call
MIN_CALLS = 3  # a term of fewer calls in the night is not listed, however it rose
TOP = 10  # terms listed
BEHIND = 30  # calls listed behind a term
WINDOWS = (7, 30)  # days before the night a term is compared with
MASKED = "*＊"  # privacy/mask.py's masking characters
NUMERALS = set("0123456789一二三四五六七八九十零〇幺两百千万亿")

TERMS_SCHEMA = """
CREATE TABLE IF NOT EXISTS call_terms (
  call INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
  term TEXT NOT NULL,
  n INTEGER NOT NULL,  -- times the caller said it in the call
  opening INTEGER NOT NULL,  -- 1: said within the first 30 s of the call's first words
  PRIMARY KEY (call, term)
) WITHOUT ROWID
"""


# --- what a caller's term is -------------------------------------------------------------------
@dataclass(frozen=True)
class Words:
    """What the segmenter is given and what is left out, from a rule pack: `added`, words
    made one word (the pack's vocabulary and script phrases); `left_out`, terms never
    counted (stop words, the pack's fillers, its script phrases)."""

    added: tuple[str, ...]
    left_out: frozenset[str]


@dataclass(frozen=True)
class CallerTerm:
    """A term the caller said in a call: `n` times, `opening` when within OPENING_S of the
    call's first words."""

    term: str
    n: int
    opening: bool


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """Our stop words (stopwords.txt beside this module)."""
    text = resources.files("callaudit.results").joinpath("stopwords.txt").read_text("utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


def _plain(phrase: str) -> list[str]:
    """A pack phrase as said: brackets (key syllables) dropped, a script cut at its gaps."""
    return [p.strip() for p in re.split(r"[…，,。]", phrase.replace("[", "").replace("]", ""))
            if len(p.strip()) >= 2]


def pack_words(pack: RulePack | None = None) -> Words:
    """The Words of `pack` (None: the default pack)."""
    if pack is None:
        return _default_words()
    return _pack_words(pack.fingerprint(), pack)


@lru_cache(maxsize=1)
def _default_words() -> Words:  # every call written asks: the pack read and hashed once
    from callaudit.rules.pack import load

    pack = load(None)
    return _pack_words(pack.fingerprint(), pack)


_WORDS: dict[str, Words] = {}


def _pack_words(key: str, pack: RulePack) -> Words:
    if key not in _WORDS:
        st = pack.settings
        scripts = [p for r in pack.rules if r.who != "customer" for ph in r.phrases for p in _plain(ph)]
        scripts += [p for ph in [*st.hold_phrases, *st.opening_scripts, *st.closing_scripts]
                    for p in _plain(ph)]
        fillers = {*st.backchannels, *st.closing_replies, *st.attempt_words}
        vocab = [v for v in st.vocabulary if len(v) >= 2]
        _WORDS[key] = Words(added=tuple(dict.fromkeys([*vocab, *scripts])),
                            left_out=frozenset({*stop_words(), *fillers, *scripts} - set(vocab)))
    return _WORDS[key]


def is_term(token: str, words: Words) -> bool:
    """Whether a segmenter's token counts as a caller's term (the module's definition)."""
    return (len(token) >= 2 and not all(ch in NUMERALS for ch in token[:-1])  # 138, 三天, 两次
            and token not in words.left_out and segment.is_word(token))


def _tokens(text: str, added: tuple[str, ...]) -> list[str]:
    """The words of `text` (jieba's and `added`), none touching masked characters (the rest
    of a masked entity)."""
    out: list[str] = []
    pieces = re.split(f"([{MASKED}]+)", text)
    for i in range(0, len(pieces), 2):
        piece = pieces[i]
        words = segment.cut(piece, added)
        if i > 0 and words and segment.is_word(piece[:1]):
            words = words[1:]  # right after a masked run
        if i + 1 < len(pieces) and words and segment.is_word(piece[-1:]):
            words = words[:-1]  # right before one
        out += words
    return out


def caller_terms(utterances: Sequence[Utterance], words: Words) -> list[CallerTerm]:
    """The caller's terms of a call (customer utterances of `utterances`), each once, with
    the times said and whether within OPENING_S of the call's first words; by term."""
    said = [u for u in utterances if u.text.strip()]
    if not said:
        return []
    first = min(u.start for u in said)
    n: dict[str, int] = defaultdict(int)
    opening: set[str] = set()
    for u in said:
        if u.role != "customer":
            continue
        for t in _tokens(u.text, words.added):
            t = t.lower()
            if is_term(t, words):
                n[t] += 1
                if u.start < first + OPENING_S:
                    opening.add(t)
    return [CallerTerm(t, k, t in opening) for t, k in sorted(n.items())]


# --- stored ------------------------------------------------------------------------------------
def store_terms(conn: sqlite3.Connection, call: int, result: CallResult) -> None:
    """Replace call `call`'s terms by those of `result` (inside the caller's transaction): the
    pack's words are the default pack's, with the vocabulary the call was judged with. A
    database without the table (an older schema written as it is, as tests build one) gets
    them when migrated."""
    if not has_terms(conn):
        return
    base = pack_words()
    vocab = result.judged_with.settings.get("vocabulary") or []
    words = Words(base.added + tuple(v for v in vocab if isinstance(v, str)), base.left_out)
    _insert(conn, call, caller_terms(result.utterances, words), delete=True)


def _insert(conn: sqlite3.Connection, call: int, terms: Iterable[CallerTerm], delete: bool) -> None:
    if delete:
        conn.execute("DELETE FROM call_terms WHERE call = ?", (call,))
    conn.executemany("INSERT INTO call_terms VALUES (?, ?, ?, ?)",
                     [(call, t.term, t.n, int(t.opening)) for t in terms])


def add_terms_table(conn: sqlite3.Connection) -> None:
    """Migration 11: the table, filled from every stored call's utterances (as stored: masked
    in a masked database), with the default pack's words."""
    conn.execute(TERMS_SCHEMA)
    words = pack_words()
    rows = conn.execute(
        "SELECT u.call, u.role, u.channel, u.start, u.\"end\", u.text FROM utterances u "
        "JOIN calls c ON c.id = u.call WHERE c.status = 'ok' ORDER BY u.call, u.idx").fetchall()
    for call, group in groupby(rows, key=lambda r: r[0]):
        utts = [Utterance(channel=r[2] or 0, start=r[3] or 0.0, end=r[4] or 0.0, text=r[5] or "",
                          role=r[1] or "") for r in group]
        _insert(conn, call, caller_terms(utts, words), delete=True)


def has_terms(conn: sqlite3.Connection) -> bool:
    """Whether the database has the terms table (a reader of a database no writer has
    upgraded to version 11 has none: no hot words until one does)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'call_terms'").fetchone() is not None


# --- what rose ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TermCall:
    """A call behind a term: its `sha256` (the workbench's key), call id, agent, line."""

    sha256: str
    call_id: str | None
    agent_id: str | None
    line: str | None


@dataclass(frozen=True)
class HotWord:
    """A term of the night: `calls` with it, its `usual` number (share of the earlier days'
    calls × the night's calls), `change` (calls − usual), `score` (change / sqrt(usual + 1)),
    `trend` (calls with it per day of HotWords.days; None: a day without audited calls)
    and the calls `behind` it (at most BEHIND, by call id)."""

    term: str
    calls: int
    usual: float
    change: float
    score: float
    trend: tuple[int | None, ...]
    behind: tuple[TermCall, ...]


@dataclass(frozen=True)
class HotWords:
    """The hot words of `night` against the `window` days before it, for business line
    `line` (None: every line): `days` the trend's days (oldest first, the night last),
    `night_calls` and `earlier_calls` the audited calls of the night and of the earlier days,
    `words` the terms that rose most, highest score first. `stored`: False for a database
    without the terms table (not upgraded yet)."""

    night: str | None
    window: int
    line: str | None
    days: tuple[str, ...]
    night_calls: int
    earlier_calls: int
    words: tuple[HotWord, ...]
    stored: bool = True


@dataclass(frozen=True)
class OpeningTerm:
    """A term callers said in their calls' first OPENING_S on the night: in `calls` calls,
    `share` of the night's (0-1), the calls `behind` it."""

    term: str
    calls: int
    share: float
    behind: tuple[TermCall, ...]


def nights(conn: sqlite3.Connection) -> list[str]:
    """The days with audited calls, newest first."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT day FROM calls WHERE status = 'ok' AND day IS NOT NULL ORDER BY day DESC")]


def lines_of(conn: sqlite3.Connection, night: str) -> list[str]:
    """The business lines with audited calls on `night`."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT line FROM calls WHERE status = 'ok' AND day = ? AND line IS NOT NULL "
        "ORDER BY line", (night,))]


def earlier_days(night: str, n: int, known: Sequence[str] = ()) -> list[str]:
    """The `n` calendar days before `night` (written YYYY-MM-DD or YYYYMMDD, as `night` is),
    oldest first; for a day written otherwise, the `n` days of `known` before it."""
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            d = _parse(night, fmt)
        except ValueError:
            continue
        return [(d - timedelta(days=k)).strftime(fmt) for k in range(n, 0, -1)]
    return sorted(k for k in known if k < night)[-n:]


def _parse(day: str, fmt: str) -> date:
    from datetime import datetime

    if len(day) != (10 if "-" in fmt else 8):
        raise ValueError(day)
    return datetime.strptime(day, fmt).date()


def _where(days: Sequence[str], line: str | None) -> tuple[str, list[str]]:
    marks = ", ".join("?" * len(days))
    sql = f"c.status = 'ok' AND c.day IN ({marks})" + (" AND c.line = ?" if line is not None else "")
    return sql, [*days, *([line] if line is not None else [])]


def _calls_by_day(conn: sqlite3.Connection, days: Sequence[str], line: str | None) -> dict[str, int]:
    where, args = _where(days, line)
    return {r[0]: r[1] for r in conn.execute(
        f"SELECT c.day, COUNT(*) FROM calls c WHERE {where} GROUP BY c.day", args)}  # noqa: S608


def _terms_by_day(conn: sqlite3.Connection, days: Sequence[str], line: str | None,
                  opening: bool = False) -> dict[str, dict[str, int]]:
    """term -> day -> calls with it (said in the opening only, `opening`)."""
    where, args = _where(days, line)
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for day, term, k in conn.execute(
            f"SELECT c.day, t.term, COUNT(*) FROM calls c JOIN call_terms t ON t.call = c.id "  # noqa: S608
            f"WHERE {where}{' AND t.opening = 1' if opening else ''} GROUP BY c.day, t.term", args):
        out[term][day] = k
    return out


def calls_behind(conn: sqlite3.Connection, night: str, term: str, line: str | None = None,
                 opening: bool = False, limit: int = BEHIND) -> tuple[TermCall, ...]:
    """The calls of `night` whose caller said `term` (in the opening, `opening`), by call id."""
    where, args = _where([night], line)
    rows = conn.execute(
        f"SELECT c.sha256, c.call_id, c.agent_id, c.line FROM calls c JOIN call_terms t "  # noqa: S608
        f"ON t.call = c.id WHERE {where} AND t.term = ?{' AND t.opening = 1' if opening else ''} "
        f"ORDER BY c.call_id, c.sha256 LIMIT ?", [*args, term, limit])
    return tuple(TermCall(*r) for r in rows)


def rise(calls: int, earlier_share: float, night_calls: int) -> tuple[float, float, float]:
    """(usual, change, score) of a term in `calls` of the night's `night_calls`, which was in
    `earlier_share` (0-1) of the earlier days' calls: the module's definition."""
    usual = earlier_share * night_calls
    change = calls - usual
    return usual, change, change / math.sqrt(usual + 1.0)


def hot_words(conn: sqlite3.Connection, night: str | None = None, window: int = 7,
              line: str | None = None, top: int = TOP, pack: RulePack | None = None) -> HotWords:
    """The terms of `night` (None: the newest day with audited calls) that rose most against
    the `window` days before it, among the calls of business line `line` (None: all); terms
    the pack `pack` (None: the default) leaves out are not listed."""
    if not has_terms(conn):
        return HotWords(night, window, line, (), 0, 0, (), stored=False)
    night = night or next(iter(nights(conn)), None)
    if night is None:
        return HotWords(None, window, line, (), 0, 0, ())
    before = earlier_days(night, window, nights(conn))
    days = (*before, night)
    per_day = _calls_by_day(conn, days, line)
    n_night = per_day.get(night, 0)
    n_before = sum(per_day.get(d, 0) for d in before)
    left_out = pack_words(pack).left_out
    found = []
    for term, by_day in _terms_by_day(conn, days, line).items():
        x = by_day.get(night, 0)
        if x < MIN_CALLS or term in left_out:
            continue
        share = sum(by_day.get(d, 0) for d in before) / n_before if n_before else 0.0
        usual, change, score = rise(x, share, n_night)
        if change > 0:
            trend = tuple(by_day.get(d, 0) if per_day.get(d) else None for d in days)
            found.append((score, x, term, usual, change, trend))
    found.sort(key=lambda f: (-f[0], -f[1], f[2]))
    words = tuple(HotWord(term, x, round(usual, 2), round(change, 2), round(score, 2), trend,
                          calls_behind(conn, night, term, line))
                  for score, x, term, usual, change, trend in found[:top])
    return HotWords(night, window, line, days, n_night, n_before, words)


def opening_terms(conn: sqlite3.Connection, night: str | None = None, line: str | None = None,
                  top: int = TOP, pack: RulePack | None = None) -> list[OpeningTerm]:
    """The terms callers said in the first OPENING_S of the calls of `night` (None: the
    newest day), most calls first, at least MIN_CALLS calls each."""
    if not has_terms(conn):
        return []
    night = night or next(iter(nights(conn)), None)
    if night is None:
        return []
    n_night = _calls_by_day(conn, [night], line).get(night, 0)
    left_out = pack_words(pack).left_out
    counts = sorted(((by_day[night], term) for term, by_day in
                     _terms_by_day(conn, [night], line, opening=True).items()
                     if by_day.get(night, 0) >= MIN_CALLS and term not in left_out),
                    key=lambda c: (-c[0], c[1]))
    return [OpeningTerm(term, k, k / n_night if n_night else 0.0,
                        calls_behind(conn, night, term, line, opening=True))
            for k, term in counts[:top]]


def sparkline(values: Sequence[float | None], width: int = 120, height: int = 24) -> str:
    """An SVG polyline's points for `values` (a trend, oldest first; None: no point, a day
    without calls) in a `width` × `height` box, the highest value at the top, 0 at the
    bottom: "x,y x,y ..."."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    top = max(known) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{round(i * step, 1)},{round(height - 2 - (height - 4) * v / top, 1)}"
                    for i, v in enumerate(values) if v is not None)


@dataclass(frozen=True)
class NightTerms:
    """What a night's callers talked about: `windows`, the hot words against each of
    WINDOWS; `lines`, against the first window per business line (when the night has two
    or more lines); `openings`, why callers called (opening_terms)."""

    night: str | None
    windows: tuple[HotWords, ...]
    lines: tuple[HotWords, ...]
    openings: tuple[OpeningTerm, ...]
    # why none are shown: "not_stored" (no terms table: no writer has upgraded the
    # database), "plain" (a page that masks, over a database of unmasked transcripts)
    why: str = ""


def masked_terms(conn: sqlite3.Connection) -> bool:
    """Whether the terms were cut from masked text (meta `transcripts`, results/writes.py)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'transcripts'").fetchone()
    return row is not None and row[0] == "masked"


def night_terms(conn: sqlite3.Connection, night: str | None = None, pack: RulePack | None = None,
                line: str | None = None, masked: bool = False, top: int = TOP,
                line_top: int = 5) -> NightTerms:
    """The hot words of `night` (None: the newest day with audited calls) for the dashboard
    and the workbench: every window and the openings, of business line `line` (None: all
    calls, and each line apart). `masked`: for a page that shows personal data masked; the
    terms of a database of unmasked transcripts are then not shown (they were cut from the
    text as said)."""
    if not has_terms(conn):
        return NightTerms(night, (), (), (), why="not_stored")
    if masked and not masked_terms(conn):
        return NightTerms(night, (), (), (), why="plain")
    night = night or next(iter(nights(conn)), None)
    if night is None:
        return NightTerms(None, (), (), ())
    lines = lines_of(conn, night) if line is None else []
    return NightTerms(
        night, tuple(hot_words(conn, night, w, line, top, pack) for w in WINDOWS),
        tuple(hot_words(conn, night, WINDOWS[0], each, line_top, pack) for each in lines)
        if len(lines) > 1 else (),
        tuple(opening_terms(conn, night, line, top, pack)))
