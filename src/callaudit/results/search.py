"""The transcript index: every utterance of every call, found by words, by exact phrase and
by sound (`audit search`, the workbench's search box).

One SQLite FTS5 table, `transcript_index`, contentless (the text stays in `utterances`
only; the index adds its terms, not a copy), one row per utterance, rowid
`call * 2**20 + idx`: the call's id (an INTEGER PRIMARY KEY, kept by VACUUM) and the
utterance's place in it. Its columns:
  words   the utterance's words as jieba cuts them in search mode (speech/segment.cut:
          jieba's dictionary only; 客服中心 also gives 客服 and 中心)
  sounds  its folded toneless pinyin, one syllable per character (speech/text.syllables, as
          the rules match by sound: 工号 and 宫号 are both `gon hao`)
  who     the speaker's role (agent, customer)

Triggers on `utterances` keep it in step with every write, whatever writes (a batch's
insert, a replaced or deleted call, rescore's and redact's new text): each calls the
connection's functions `callaudit_words` / `callaudit_sounds` (`register`; a connection
without them, e.g. the sqlite3 shell, cannot change utterances, rather than leave the index
behind). A contentless row is deleted by giving its terms again, so the terms must come out
the same at any later time: jieba's own dictionary (not the center's added words) and the
versions of jieba and pypinyin are the index's `signature` (meta `transcript_index`); a
writer meeting another signature rebuilds the index (`keep_current`). A masked database's
utterances are masked before they are stored, so it indexes masked text only; `optimize`
after masking leaves no old term in the index's pages.

Queries (`parse`): words (a run of Chinese is cut into words and found as a phrase),
"an exact phrase", ~sound (~工号, ~"gong hao": by pinyin), AND (or a space), OR, NOT or
-word, and parentheses. Results are moments (`Moment`): the call, the utterance's time,
speaker and text, and where in it the query matched.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from callaudit.errors import AuditError
from callaudit.speech.segment import cut
from callaudit.speech.text import fold, is_han, spell_digits, syllables

TABLE = "transcript_index"
ROW_BITS = 20  # utterances per call: up to 2**20 (a 4-hour call has a few thousand)
FORMAT = 1  # what the columns hold; a change rebuilds every index
WHO = ("agent", "customer")
# Moments counted at most: a word said in most calls has hundreds of thousands, and counting
# them all would cost what finding them costs; 20 pages of 50 are enough to read.
COUNT_UPTO = 1000

_CREATE = (f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5(words, sounds, who, "
           "content='', columnsize=0, tokenize='unicode61 remove_diacritics 0')")
_ROW = f"{{0}}.call * {1 << ROW_BITS} + {{0}}.idx"
_TERMS = "callaudit_words({0}.text), callaudit_sounds({0}.text), {0}.role"
_ADD = f"INSERT INTO {TABLE}(rowid, words, sounds, who) VALUES ({_ROW.format('new')}, {_TERMS.format('new')})"
_DROP = (f"INSERT INTO {TABLE}({TABLE}, rowid, words, sounds, who) VALUES "
         f"('delete', {_ROW.format('old')}, {_TERMS.format('old')})")
# a trigger's body holds ';': each is its own statement
_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS utterances_index_add AFTER INSERT ON utterances BEGIN {_ADD}; END",
    f"CREATE TRIGGER IF NOT EXISTS utterances_index_drop AFTER DELETE ON utterances BEGIN {_DROP}; END",
    "CREATE TRIGGER IF NOT EXISTS utterances_index_change AFTER UPDATE OF call, idx, role, text "
    f"ON utterances BEGIN {_DROP}; {_ADD}; END",
]
_FILL = (f"INSERT INTO {TABLE}(rowid, words, sounds, who) "
         f"SELECT {_ROW.format('u')}, {_TERMS.format('u')} FROM utterances u")


class QueryError(AuditError):
    """A search query that cannot be read (one line naming the problem)."""


# --- the index -----------------------------------------------------------------------------------
@lru_cache(maxsize=65536)  # a night's calls say the same lines again and again
def words_of(text: str | None) -> str:
    """The `words` column of an utterance: its jieba words in search mode, space-separated."""
    return " ".join(cut(text or "", search=True))


def sounds_of(text: str | None) -> str:
    """The `sounds` column: folded toneless pinyin, one syllable per spoken character."""
    return " ".join(syllables(text or ""))


@lru_cache(maxsize=1)
def signature() -> str:
    """What the index's terms depend on: its format and the segmenter's and pinyin's versions."""
    import jieba
    import pypinyin

    return f"{FORMAT}; jieba {jieba.__version__}; pypinyin {pypinyin.__version__}"


def register(conn: sqlite3.Connection) -> None:
    """Give `conn` the functions the index's triggers call (every connection that writes)."""
    conn.create_function("callaudit_words", 1, words_of, deterministic=True)
    conn.create_function("callaudit_sounds", 1, sounds_of, deterministic=True)


def has_index(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone() is not None


def create(conn: sqlite3.Connection) -> None:
    """The index, its triggers and every stored utterance in it (migration 10; a new
    database). Inside the caller's transaction; `conn` must be `register`ed."""
    conn.execute(_CREATE)
    for st in _TRIGGERS:
        conn.execute(st)
    rebuild(conn)


def rebuild(conn: sqlite3.Connection) -> int:
    """The index made again from scratch from the utterances as stored (inside the caller's
    transaction); the number of utterances indexed."""
    conn.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('delete-all')")
    n = conn.execute(_FILL).rowcount
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('transcript_index', ?)", (signature(),))
    return int(n)


def keep_current(conn: sqlite3.Connection) -> bool:
    """Rebuild the index when it was made with other terms (another jieba or pypinyin, an
    older format): a writer's check on opening, inside its transaction. Whether it did."""
    if not has_index(conn):
        return False
    row = conn.execute("SELECT value FROM meta WHERE key = 'transcript_index'").fetchone()
    if row is not None and row[0] == signature():
        return False
    rebuild(conn)
    return True


def optimize(conn: sqlite3.Connection) -> None:
    """Merge the index into one segment: no deleted term (text as it was before masking)
    is left in its pages."""
    if has_index(conn):
        conn.execute(f"INSERT INTO {TABLE}({TABLE}) VALUES ('optimize')")


def index_terms(conn: sqlite3.Connection) -> list[tuple[str, str, int, int]]:
    """What the index holds: (term, column, rows, occurrences), every term in order
    (fts5vocab; an index kept in step and one rebuilt from scratch hold the same)."""
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.index_vocab USING fts5vocab(main, {TABLE}, col)")
    try:
        return [(r[0], r[1], int(r[2]), int(r[3])) for r in conn.execute(
            "SELECT term, col, doc, cnt FROM temp.index_vocab ORDER BY term, col")]
    finally:
        conn.execute("DROP TABLE temp.index_vocab")


# --- queries -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """One thing to find: `words` (jieba words, found next to each other) or, by sound,
    `sounds` (folded pinyin syllables, in order); `text` as typed."""

    text: str
    words: tuple[str, ...] = ()
    sounds: tuple[str, ...] = ()

    def match(self) -> str:
        col, toks = ("sounds", self.sounds) if self.sounds else ("words", self.words)
        return f'{col} : "{" ".join(t.replace(chr(34), chr(34) * 2) for t in toks)}"'


@dataclass(frozen=True)
class Query:
    """A parsed query: the FTS5 expression, and the terms it looks for (the NOT-ed ones apart),
    whose places a moment's text marks."""

    text: str
    match: str
    terms: tuple[Term, ...]
    excluded: tuple[Term, ...] = ()


# operators: AND, OR, NOT (upper case), - before a term, parentheses; ~ before a term: by sound
_TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|(?P<sound>~)?"(?P<phrase>[^"]*)(?P<close>"?)|'
                    r'(?P<sound2>~)?(?P<minus>-)?(?P<word>[^\s()"]+))')
_SYLLABLE = re.compile(r"[a-zü]+")


def _term(text: str, by_sound: bool) -> Term:
    if by_sound:
        if any(is_han(ch) for ch in spell_digits(text)):
            sounds = tuple(syllables(text))
        else:
            sounds = tuple(fold(s.replace("ü", "v")) for s in _SYLLABLE.findall(text.lower()))
        if not sounds:
            raise QueryError(f"~{text}: nothing to find by sound (Chinese, or pinyin such as "
                             '~"gong hao")')
        return Term(text, sounds=sounds)
    # cut as the text was (search mode: 验证码 gives 验证, 验证码), so a phrase's words
    # come in the order the index holds them
    words = tuple(t.lower() for w in text.split() for t in cut(w, search=True))
    if not words:
        raise QueryError(f"«{text}»: no word to search for")
    return Term(text, words=words)


@dataclass
class _Parser:
    items: list[tuple[str, object]]
    at: int = 0
    terms: list[Term] = field(default_factory=list)
    excluded: list[Term] = field(default_factory=list)

    def peek(self) -> tuple[str, object] | None:
        return self.items[self.at] if self.at < len(self.items) else None

    def take(self) -> tuple[str, object]:
        self.at += 1
        return self.items[self.at - 1]

    def any_of(self) -> str:
        parts = [self.all_of()]
        while self.peek() == ("op", "OR"):
            self.take()
            parts.append(self.all_of())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def all_of(self) -> str:
        yes: list[str] = []
        no: list[str] = []
        while (nxt := self.peek()) is not None and nxt not in (("op", "OR"), ("paren", ")")):
            if nxt == ("op", "AND"):
                self.take()
                continue
            negated = nxt == ("op", "NOT")
            if negated:
                self.take()
            (no if negated else yes).append(self.one(negated))
        if not yes:
            what = "NOT or - alone finds nothing: say what to find too" if no else \
                "an operator (AND, OR, NOT) with nothing to join"
            raise QueryError(what)
        found = yes[0] if len(yes) == 1 else "(" + " AND ".join(yes) + ")"
        return found if not no else f"({found} NOT {no[0] if len(no) == 1 else '(' + ' OR '.join(no) + ')'})"

    def one(self, negated: bool) -> str:
        kind, value = self.take() if self.peek() is not None else ("end", None)
        if kind == "paren" and value == "(":
            inner = self.any_of()
            if self.peek() != ("paren", ")"):
                raise QueryError("a ( is not closed")
            self.take()
            return inner
        if kind == "term" and isinstance(value, Term):
            (self.excluded if negated else self.terms).append(value)
            return value.match()
        raise QueryError("NOT needs a word after it" if kind in ("end", "op") else "a ) without its (")


def _lex(text: str) -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        if m.group("paren"):
            items.append(("paren", m.group("paren")))
        elif m.group("phrase") is not None:
            if not m.group("close"):
                raise QueryError(f'a " is not closed: «{text}»')
            if m.group("phrase").strip():
                items.append(("term", _term(m.group("phrase"), bool(m.group("sound")))))
        elif m.group("word") in ("AND", "OR", "NOT") and not m.group("sound2") and not m.group("minus"):
            items.append(("op", m.group("word")))
        else:
            if m.group("minus"):
                items.append(("op", "NOT"))
            items.append(("term", _term(m.group("word"), bool(m.group("sound2")))))
    return items


def parse(text: str) -> Query:
    """The query `text` (see the module's docstring) as an FTS5 expression over the index.
    QueryError (one line) when it cannot be read: unclosed quotes or parentheses, an
    operator with nothing to join, only NOT-ed terms, nothing searchable."""
    if not text.strip():
        raise QueryError("an empty query: give a word, a \"phrase\" or ~sound")
    p = _Parser(_lex(text))
    expr = p.any_of()
    if p.peek() is not None:
        raise QueryError("a ) without its (")
    return Query(text.strip(), expr, tuple(p.terms), tuple(p.excluded))


# --- moments -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    """Which calls' moments: an agent's (`agent_id`; the workbench forces an agent's own),
    days (`day_from`..`day_to`, YYYY-MM-DD, inclusive), said by `who` (agent|customer), in
    calls that failed `rule` (the machine's verdict)."""

    agent_id: str | None = None
    day_from: str | None = None
    day_to: str | None = None
    who: str | None = None
    rule: str | None = None


@dataclass(frozen=True)
class Moment:
    """Where a query matched: the call (sha256, call_id, agent_id, day), the utterance (its
    `idx`, `start`/`end` in seconds, `role`, `text` as stored) and `marks`, the character
    spans [start, end) of `text` the query's terms match."""

    sha256: str
    call_id: str | None
    agent_id: str | None
    day: str | None
    idx: int
    start: float
    end: float
    role: str
    text: str
    marks: tuple[tuple[int, int], ...]

    def parts(self) -> list[tuple[str, bool]]:
        """`text` in pieces, (piece, marked): what a page escapes and marks."""
        out, at = [], 0
        for a, b in self.marks:
            if a > at:
                out.append((self.text[at:a], False))
            out.append((self.text[a:b], True))
            at = b
        if at < len(self.text):
            out.append((self.text[at:], False))
        return out

    def to_json(self) -> dict[str, object]:
        return {"sha256": self.sha256, "call_id": self.call_id, "agent_id": self.agent_id,
                "day": self.day, "idx": self.idx, "start": self.start, "end": self.end,
                "role": self.role, "text": self.text, "marks": [list(m) for m in self.marks]}


@dataclass(frozen=True)
class Found:
    """A page of moments (the calls stored last first: a night's after the night before's;
    within a call, by time) and how many there are, counted up to COUNT_UPTO (`more`: there
    are more than `total`)."""

    moments: list[Moment]
    total: int
    more: bool = False


def _where(f: Filters) -> tuple[str, list[object]]:
    where, args = [], []
    for sql, v in (("c.day >= ?", f.day_from), ("c.day <= ?", f.day_to)):
        if v is not None:
            where.append(sql)
            args.append(v)
    if f.rule is not None:
        where.append("EXISTS (SELECT 1 FROM findings fi WHERE fi.call = c.id AND fi.applicable = 1 "
                     "AND fi.passed = 0 AND fi.rule = ?)")
        args.append(f.rule)
    return "".join(f" AND {w}" for w in where), args


def search(conn: sqlite3.Connection, query: Query | str, filters: Filters = Filters(),
           limit: int = 50, offset: int = 0) -> Found:
    """The moments of the calls `filters` allow where `query` matches: `limit` of them from
    `offset` (the calls stored last first, each call's by time), and how many (up to
    COUNT_UPTO). QueryError for a query that cannot be read, or a database without the
    index (made before schema version 10 and opened read-only)."""
    q = parse(query) if isinstance(query, str) else query
    if not has_index(conn):
        raise QueryError(f"{_file(conn)}: no transcript index (a database from before schema "
                         f"version 10): open it once with a writer, e.g. `audit db reindex --db "
                         f"{_file(conn)}`")
    if filters.who is not None and filters.who not in WHO:
        raise QueryError(f"who: {filters.who!r} is not one of {', '.join(WHO)}")
    match = q.match if filters.who is None else f'({q.match}) AND who : "{filters.who}"'
    where, args = _where(filters)
    mask, k = (1 << ROW_BITS) - 1, 1 << ROW_BITS
    if filters.agent_id is None:  # the index first, read from its end
        frm = f"FROM {TABLE} f JOIN calls c ON c.id = f.rowid >> {ROW_BITS} WHERE {TABLE} MATCH ?{where}"
        args, order = [match, *args], "f.rowid DESC"
    else:  # an agent's calls first (calls_agent), each call's rows of the index by their range
        frm = (f"FROM calls c CROSS JOIN {TABLE} f WHERE c.agent_id = ? AND f.rowid BETWEEN "
               f"c.id * {k} AND c.id * {k} + {mask} AND {TABLE} MATCH ?{where}")
        args, order = [filters.agent_id, match, *args], "c.id DESC, f.rowid"  # FTS5 reads backwards slowly
    try:
        # the index's own order (rowid: call, then utterance), read backwards: the scan
        # stops at the page's end, never sorting every match
        total = int(conn.execute(f"SELECT COUNT(*) FROM (SELECT 1 {frm} LIMIT ?)",  # noqa: S608
                                 (*args, COUNT_UPTO + 1)).fetchone()[0])
        rows = conn.execute(f"""
            WITH hits AS (SELECT f.rowid AS rid, c.id AS call, c.sha256, c.call_id, c.agent_id,
                                 c.day {frm} ORDER BY {order} LIMIT ? OFFSET ?)
            SELECT h.sha256, h.call_id, h.agent_id, h.day, u.idx, u.start, u."end", u.role, u.text
            FROM hits h JOIN utterances u ON u.call = h.call AND u.idx = (h.rid & {mask})
            ORDER BY h.call DESC, h.rid""",  # noqa: S608
            (*args, limit, offset)).fetchall()
    except sqlite3.OperationalError as e:  # the parser quotes every term; this is not expected
        raise QueryError(f"«{q.text}»: {e}") from None
    return Found([Moment(r[0], r[1], r[2], r[3], int(r[4]), float(r[5] or 0), float(r[6] or 0),
                         r[7] or "", r[8] or "", marks(r[8] or "", q.terms)) for r in rows],
                 min(total, COUNT_UPTO), total > COUNT_UPTO)


def _file(conn: sqlite3.Connection) -> str:
    try:
        return str(conn.execute("PRAGMA database_list").fetchone()[2])
    except sqlite3.Error:
        return "results database"


# --- where a moment's text matched ---------------------------------------------------------------
def marks(text: str, terms: Sequence[Term]) -> tuple[tuple[int, int], ...]:
    """The character spans [start, end) of `text` that `terms` match, merged and in order:
    each word's occurrences (case aside), each sound's run of characters said so."""
    spans: list[tuple[int, int]] = []
    low = text.lower()
    for t in terms:
        whole = _found(low, "".join(t.words)) if t.words else []
        spans += whole or [s for w in t.words for s in _found(low, w)]  # a phrase: as said
        if t.sounds:
            spans += _sound_spans(text, t.sounds)
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return tuple(merged)


def _found(text: str, word: str) -> list[tuple[int, int]]:
    out, at = [], text.find(word)
    while word and at >= 0:
        out.append((at, at + len(word)))
        at = text.find(word, at + len(word))
    return out


def _sound_spans(text: str, sounds: tuple[str, ...]) -> list[tuple[int, int]]:
    # speakable characters (speech/text.speakable: Han, and digits spelled) and where they are
    at = [i for i, ch in enumerate(text) if is_han(spell_digits(ch))]
    said = syllables(text)
    if len(said) != len(at):  # one syllable per speakable character, always; else mark nothing
        return []
    n = len(sounds)
    return [(at[k], at[k + n - 1] + 1) for k in range(len(said) - n + 1)
            if tuple(said[k:k + n]) == sounds]
