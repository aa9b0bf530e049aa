"""Conditions as data: what a `check: condition` rule looks for, composed in YAML.

A condition is a mapping with one operator:

    said:    {who, <matchers>, <scopes>}   utterances of `who` that match (all matchers at once)
    silence: {after, before, over_s}       a silence over `over_s` between two parties' turns
    metric:  {name, above | below}         a measured value of the call (metrics/timing.py)
    all: [c, ...] / any: [c, ...] / not: c

Matchers of `said` (docs/RULES.md, "Conditions"): `phrases` by sound (fuzzily, key syllables
in brackets, `threshold`), `words` exact, `regex` (RE2) with `exclude` (RE2: the utterance
must not match), `like` (example sentences, `similarity` by sound, default 0.8), `number`
(a run of `min_digits`+ digits, speech/numbers.py), `rate` ({above | below} characters/min,
utterances of settings.speech_rate_min_utterance_s+), `unless` (words before a match in its
clause cancel it). Scopes: `in` ({first_s | last_s | first_share | last_share} of the call,
or `part: opening | closing`), `after` / `before` / `around` another condition `within`
{utterances: N | seconds: S}, `nth` (only the Nth match counts), `repeat` ({times: N,
within: M}: N matches within M consecutive utterances of the call).

A condition holds when it found something (`said`, `silence`, `metric`), all / any of its
parts hold, or (`not`) its part does not; what it found is the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from callaudit.records import Evidence, Utterance
from callaudit.rules.context import Context, last_request, neutralised, requests
from callaudit.rules.patterns import compile_pattern, pattern_problem
from callaudit.rules.units import closest
from callaudit.speech.match import Stream, brackets_pair, encode, parse_phrase
from callaudit.speech.numbers import numbers_said
from callaudit.speech.phrase_index import find_any
from callaudit.speech.text import is_han, spell_digits, spoken_units, syllables

OPERATORS = ("said", "silence", "metric", "all", "any", "not")
MATCHERS = ("phrases", "words", "regex", "like", "number", "rate")
SAID_KEYS = ("who", "threshold", "exclude", "similarity", "unless", "in", "after", "before",
             "around", "within", "nth", "repeat") + MATCHERS
IN_KEYS = ("first_s", "last_s", "first_share", "last_share", "part")
WHO = ("agent", "customer", "any")
# the call-level values a `metric` condition may compare (metrics/timing.Metrics fields)
METRIC_VALUES = ("duration_s", "answer_delay_s", "connect_s", "rings", "agent_speech_rate_cpm",
                 "agent_speech_rate_acoustic_cpm", "customer_speech_rate_cpm",
                 "agent_speaking_s", "customer_speaking_s", "max_silence_s",
                 "agent_level_dbfs", "customer_level_dbfs", "agent_clipping_share")
LIKE_SIMILARITY = 0.8  # `like` without `similarity`: four syllables in five


@dataclass
class Found:
    """Whether a condition holds, and the utterances (index in the call, matched words) or
    spans that show it."""

    holds: bool
    hits: list[tuple[int, str]] = field(default_factory=list)
    spans: list[Evidence] = field(default_factory=list)


def evaluate(node: dict[str, Any], ctx: Context, allowed: set[int] | None = None,
             strict: bool = False) -> Found:
    """Evaluate condition `node` on the call; `allowed`: the indices of ctx.utterances it may
    look at (a window around a moment), None for all; `strict`: on mono, a voice nobody could
    place (role unknown) is nobody's (see kinds/condition.py)."""
    op = next(k for k in OPERATORS if k in node)
    arg = node[op]
    if op == "all":
        parts = [evaluate(c, ctx, allowed, strict) for c in arg]
        return Found(all(p.holds for p in parts), [h for p in parts for h in p.hits],
                     [s for p in parts for s in p.spans])
    if op == "any":
        parts = [p for p in (evaluate(c, ctx, allowed, strict) for c in arg) if p.holds]
        return Found(bool(parts), [h for p in parts for h in p.hits], [s for p in parts for s in p.spans])
    if op == "not":
        return Found(not evaluate(arg, ctx, allowed, strict).holds)
    if op == "metric":
        v = getattr(ctx.metrics, arg["name"])
        ok = v is not None and ("above" not in arg or v > arg["above"]) and \
            ("below" not in arg or v < arg["below"])
        shown = f"{arg['name']} = {v:g}" if isinstance(v, (int, float)) else ""
        return Found(ok, [], [Evidence(0.0, ctx.metrics.duration_s, "", shown)] if ok else [])
    if op == "silence":
        return _silence(arg, ctx, allowed)
    return _said(arg, ctx, allowed, strict)


def _party(u: Utterance, who: str, ctx: Context, strict: bool = False) -> bool:
    return who == "any" or u.role == who or (ctx.mono and not strict and u.role == "unknown")


def _said(m: dict[str, Any], ctx: Context, allowed: set[int] | None, strict: bool) -> Found:
    utts = ctx.utterances
    who = m.get("who", "agent")
    idx = [i for i, u in enumerate(utts)
           if (allowed is None or i in allowed) and _party(u, who, ctx, strict)]
    idx = _in(m.get("in"), idx, ctx)
    for rel in ("after", "before", "around"):
        if rel in m:
            idx = _near(rel, evaluate(m[rel], ctx, None, strict), m.get("within") or {}, idx, ctx)
    hits: list[tuple[int, str]] = []
    mine = [utts[i] for i in idx]
    for pos, i in enumerate(idx):
        words = _match(m, utts[i], mine[pos + 1:pos + 2], ctx)
        if words is not None:
            hits.append((i, words))
    if "nth" in m:
        hits = hits[m["nth"] - 1:m["nth"]]
    if "repeat" in m:
        hits = _repeated(hits, m["repeat"]["times"], m["repeat"]["within"])
    return Found(bool(hits), hits)


def bounds(where: dict[str, Any] | None, ctx: Context) -> tuple[float, float]:
    """The stretch of the recording (s) an `in` scope covers: its first/last seconds or share,
    the opening (up to the caller's first request) or the closing (from their last request
    on); where no request can be told (no caller speech, mono without roles), the first or
    last third of the call."""
    total = ctx.metrics.duration_s
    lo, hi = 0.0, max(total, max((u.end for u in ctx.utterances), default=0.0))
    if not where:
        return lo, hi
    if "first_s" in where or "first_share" in where:
        hi = min(hi, where["first_s"] if "first_s" in where else where["first_share"] * total)
    if "last_s" in where or "last_share" in where:
        lo = max(lo, total - (where["last_s"] if "last_s" in where else where["last_share"] * total))
    part = where.get("part")
    if part == "closing":
        last = last_request(ctx)
        lo = max(lo, last.start if last is not None else total * 2 / 3)
    elif part == "opening":
        made = requests(ctx)
        hi = min(hi, made[0].start + 1e-6 if made else total / 3)
    return lo, hi


def _in(where: dict[str, Any] | None, idx: list[int], ctx: Context) -> list[int]:
    """The utterances of `idx` that start within the `in` scope's stretch (`bounds`), or end
    within it for the last seconds / share and the closing."""
    if not where:
        return idx
    lo, hi = bounds(where, ctx)
    utts = ctx.utterances
    return [i for i in idx if utts[i].start < hi and utts[i].end > lo and
            (utts[i].start >= lo or "last_s" in where or "last_share" in where)]


def _near(rel: str, anchor: Found, within: dict[str, Any], idx: list[int], ctx: Context) -> list[int]:
    """The utterances in `idx` within N utterances / S seconds after, before or around one of
    the anchor's hits (not the anchor's own utterance)."""
    utts = ctx.utterances
    marks = sorted({i for i, _ in anchor.hits})
    n, s = within.get("utterances"), within.get("seconds")

    def close(i: int, a: int) -> bool:
        if i == a:
            return False
        d = i - a
        if rel == "after" and d < 0 or rel == "before" and d > 0:
            return False
        if n is not None:
            return abs(d) <= n
        if s is not None:
            gap = utts[i].start - utts[a].end if d > 0 else utts[a].start - utts[i].end
            return gap <= s
        return True

    return [i for i in idx if any(close(i, a) for a in marks)]


def _match(m: dict[str, Any], u: Utterance, nxt: list[Utterance], ctx: Context) -> str | None:
    """The words of `u` every matcher of `m` finds (a phrase may run into the party's next
    utterance across a short pause), or None."""
    words = ""
    if "phrases" in m:
        threshold = float(m.get("threshold", ctx.settings.match_threshold))
        # in the utterance itself first; else across a short pause into the party's next one,
        # starting in this one (so each utterance's own match is counted, for nth and repeat)
        for pair in ([u], [u] + [x for x in nxt if x.start - u.end < ctx.settings.phrase_join_gap_s]):
            stream = Stream.of(pair)
            hit = find_any(stream, m["phrases"], threshold)
            if hit is not None and stream.where[hit.first][0] == 0:
                break
        else:
            return None
        words = stream.span(hit)[0][1]
    if "words" in m:
        w = next((w for w in m["words"] if w in u.text), None)
        if w is None:
            return None
        words = words or w
    if "regex" in m:
        found = compile_pattern(m["regex"]).search(u.text)
        if not found:
            return None
        words = words or found.group(0)
    if "exclude" in m and compile_pattern(m["exclude"]).search(u.text):
        return None
    if "like" in m:
        if not any(_alike(u.text, ex) >= m.get("similarity", LIKE_SIMILARITY) for ex in m["like"]):
            return None
        words = words or u.text
    if "number" in m:
        runs = numbers_said([u], m["number"].get("min_digits", 4), ctx.settings.number_join_gap_s)
        if not runs:
            return None
        words = words or runs[0].digits
    if "rate" in m:
        d = u.end - u.start
        if d < ctx.settings.speech_rate_min_utterance_s:
            return None
        cpm = spoken_units(u.text) * 60 / d
        if ("above" in m["rate"] and cpm <= m["rate"]["above"]) or \
                ("below" in m["rate"] and cpm >= m["rate"]["below"]):
            return None
        words = words or f"{cpm:.0f}/min"
    if m.get("unless") and words and neutralised(u, words, m["unless"]):
        return None
    return words or u.text


def _alike(text: str, example: str) -> float:
    """How alike by sound (0-1) an utterance is to an example sentence: the example against
    the utterance's closest stretch when the utterance is longer; 0 when a key syllable of the
    example (`[不]`) is not heard in the utterance (我知道 is not like 我[不]知道)."""
    clean, keys = parse_phrase(example)
    sylls = syllables("".join(ch for ch in clean if is_han(spell_digits(ch))))
    heard = Stream.of([Utterance(0, 0, 0, text)])
    if any(k < len(sylls) and sylls[k] not in heard.sylls for k in keys):
        return 0.0
    a, b = encode(sylls), heard.code
    if not a or not b:
        return 0.0
    if len(b) > len(a):
        return fuzz.partial_ratio(a, b) / 100
    return Levenshtein.normalized_similarity(a, b)


def _repeated(hits: list[tuple[int, str]], times: int, within: int) -> list[tuple[int, str]]:
    """The first `times` hits that fall within `within` consecutive utterances, or []."""
    for k in range(len(hits) - times + 1):
        if hits[k + times - 1][0] - hits[k][0] < within:
            return hits[k:k + times]
    return []


def _silence(m: dict[str, Any], ctx: Context, allowed: set[int] | None) -> Found:
    """Silences of the call (metrics/timing.py: nobody speaking, by the VAD, so speech in which
    no word was heard is no silence) longer than `over_s`, after an utterance of the `after`
    party and before one of the `before` party. Its hit is the utterance before it (a moment
    for `each`, an anchor for `after`: what comes after it), its evidence the silence."""
    utts, hits, spans = ctx.utterances, [], []
    for s in ctx.metrics.silences:
        if s.duration <= m["over_s"]:
            continue
        before = [i for i, u in enumerate(utts) if u.end <= s.start + 0.05]
        nxt = next((i for i, u in enumerate(utts) if u.start >= s.end - 0.05), None)
        if not before or nxt is None or (allowed is not None and nxt not in allowed):
            continue
        last = max(before, key=lambda i: utts[i].end)
        if _party(utts[last], m.get("after", "any"), ctx) and \
                _party(utts[nxt], m.get("before", "any"), ctx):
            hits.append((last, ""))
            spans.append(Evidence(s.start, s.end, utts[nxt].role, ""))
    return Found(bool(hits), hits, spans)


def parts(node: dict[str, Any], failed_require: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The `said` conditions of a failed rule's condition by what the failure rests on:
    (missing, found). A failed `require` (`failed_require`) rests on its said conditions not
    holding, a failed `forbid` on them holding; each `not` turns that round. rules/doubt.py
    asks of the missing ones whether the words may have been lost, of the found ones whether
    they may have been misheard."""
    missing: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []

    def walk(n: dict[str, Any], absent: bool) -> None:
        if "said" in n:
            (missing if absent else found).append(n["said"])
        for k in ("all", "any"):
            for c in n.get(k) or []:
                walk(c, absent)
        if "not" in n:
            walk(n["not"], not absent)

    walk(node, failed_require)
    return missing, found


def uses_rate(node: Any) -> bool:
    """Whether a condition reads a speech rate (a `rate` matcher, or a metric condition on
    one): the recognizer drops syllables of fast speech, so rules/doubt.py cross-checks it
    against the rate heard in the sound."""
    if isinstance(node, dict):
        if "rate" in node or str(node.get("name", "")).endswith("speech_rate_cpm"):
            return True
        return any(uses_rate(v) for v in node.values())
    if isinstance(node, list):
        return any(uses_rate(v) for v in node)
    return False


# --- validation ----------------------------------------------------------------------------
def problems(node: Any, where: str) -> list[str]:
    """Every problem of condition `node` at `where` (its path in the rule, for the message),
    each starting `@N ` with the line it is on when the YAML reader recorded it
    (rules/validate.py turns that into the problem's line)."""
    out = _problems(node, where)
    line = node.get("__line__") if isinstance(node, dict) else None
    return [p if p.startswith("@") or line is None else f"@{line} {p}" for p in out]


def _problems(node: Any, where: str) -> list[str]:
    if not isinstance(node, dict):
        return [f"{where} must be a condition: a mapping with one of {list(OPERATORS)}"]
    ops = [k for k in node if k in OPERATORS]
    extra = [k for k in node if k not in OPERATORS and k != "__line__"]
    if len(ops) != 1 or extra:
        bad = extra[0] if extra else ""
        return [f"{where} must have exactly one of {list(OPERATORS)}"
                + (f", not `{bad}`{closest(bad, OPERATORS)}" if bad else "")]
    op = ops[0]
    arg = node[op]
    at = f"{where}.{op}"
    if op in ("all", "any"):
        if not isinstance(arg, list) or not arg:
            return [f"{at} must be a list of conditions"]
        return [p for k, c in enumerate(arg) for p in problems(c, f"{at}[{k}]")]
    if op == "not":
        return problems(arg, at)
    if not isinstance(arg, dict):
        return [f"{at} must be a mapping"]
    line = arg.get("__line__")
    return [p if p.startswith("@") or line is None else f"@{line} {p}" for p in _leaf(op, arg, at)]


def _leaf(op: str, arg: dict[str, Any], at: str) -> list[str]:
    if op == "metric":
        out = [] if arg.get("name") in METRIC_VALUES else \
            [f"{at}.name {arg.get('name')!r} is not one of {list(METRIC_VALUES)}"
             f"{closest(arg.get('name'), METRIC_VALUES)}"]
        if not any(k in arg for k in ("above", "below")):
            out.append(f"{at} needs `above` or `below`")
        return out + [f"{at}.{k} must be a number" for k in ("above", "below")
                      if k in arg and not _number(arg[k])] + _unknown(arg, ("name", "above", "below"), at)
    if op == "silence":
        out = _unknown(arg, ("after", "before", "over_s"), at)
        out += [f"{at}.{k} must be one of {list(WHO)}" for k in ("after", "before")
                if arg.get(k, "any") not in WHO]
        if not _number(arg.get("over_s")) or arg["over_s"] < 0:
            out.append(f"{at}.over_s must be a number of seconds >= 0")
        return out
    return _said_problems(arg, at)


def _said_problems(m: dict[str, Any], at: str) -> list[str]:
    out = _unknown(m, SAID_KEYS, at)
    if not any(k in m for k in MATCHERS):
        out.append(f"{at} needs a matcher: one of {list(MATCHERS)}")
    if m.get("who", "agent") not in WHO:
        out.append(f"{at}.who {m.get('who')!r} is not one of {list(WHO)}")
    for k in ("phrases", "words", "like", "unless"):
        if k in m and not (isinstance(m[k], list) and m[k] and all(isinstance(x, str) and x for x in m[k])):
            out.append(f"{at}.{k} must be a list of strings")
    for k in ("regex", "exclude"):
        if k in m:
            p = pattern_problem(m[k]) if isinstance(m[k], str) else "must be a string"
            if p:
                out.append(f"{at}.{k}: {p}")
    for k in ("threshold", "similarity"):
        if k in m and not (_number(m[k]) and 0 < m[k] <= 1):
            out.append(f"{at}.{k} must be a number in (0, 1]")
    num = m.get("number")
    if "number" in m and not (isinstance(num, dict) and _whole(num.get("min_digits", 4), 1)
                              and all(k in ("min_digits", "__line__") for k in num)):
        out.append(f"{at}.number must be {{min_digits: N}} (N >= 1)"
                   + (closest(next(iter(m["number"])), ("min_digits",)) if isinstance(m["number"], dict)
                      and m["number"] else ""))
    for k in ("phrases", "like"):
        given = m.get(k) if isinstance(m.get(k), list) else []
        out += [f"{at}.{k}: {p!r}: brackets mark key syllables and must pair: 我[不]知道"
                for p in given if isinstance(p, str) and not brackets_pair(p)]
    if "unless" in m and not any(k in m for k in ("phrases", "words", "regex")):
        out.append(f"{at}.unless goes with phrases, words or regex (the words it cancels)")
    if "rate" in m and not (isinstance(m["rate"], dict) and m["rate"] and all(
            k in ("above", "below") and _number(v) for k, v in m["rate"].items() if k != "__line__")):
        out.append(f"{at}.rate must be {{above: CPM}} and/or {{below: CPM}} (characters/min)")
    where = m.get("in")
    if where is not None:
        if not isinstance(where, dict):
            out.append(f"{at}.in must be a mapping ({', '.join(IN_KEYS)})")
        else:
            out += _unknown(where, IN_KEYS, f"{at}.in")
            for k in ("first_s", "last_s"):
                if k in where and not (_number(where[k]) and where[k] >= 0):
                    out.append(f"{at}.in.{k} must be a number of seconds >= 0")
            for k in ("first_share", "last_share"):
                if k in where and not (_number(where[k]) and 0 < where[k] <= 1):
                    out.append(f"{at}.in.{k} must be a share of the call in (0, 1]")
            if where.get("part", "opening") not in ("opening", "closing"):
                out.append(f"{at}.in.part must be opening or closing")
    rels = [k for k in ("after", "before", "around") if k in m]
    if len(rels) > 1:
        out.append(f"{at}: one of after / before / around, not {' and '.join(rels)}")
    for k in rels:
        out += problems(m[k], f"{at}.{k}")
        if isinstance(m[k], dict) and not any(x in m[k] for x in ("said", "silence", "all", "any")):
            out.append(f"{at}.{k} must find moments: a `said` or `silence` condition (or all / any)")
    if "within" in m:
        w = m["within"]
        if not rels:
            out.append(f"{at}.within goes with after / before / around")
        out += window_problems(w, f"{at}.within", ("utterances", "seconds"))
    if "nth" in m and not _whole(m["nth"], 1):
        out.append(f"{at}.nth must be a whole number >= 1")
    if "repeat" in m:
        r = m["repeat"]
        if not (isinstance(r, dict) and _whole(r.get("times"), 2) and _whole(r.get("within"), 1)
                and r["within"] >= r["times"]):
            out.append(f"{at}.repeat must be {{times: N, within: M}} (N >= 2 matches within M "
                       ">= N consecutive utterances)")
    return out


def window_problems(w: Any, at: str, keys: tuple[str, ...]) -> list[str]:
    """A window is one of `keys`: a whole number of utterances or seconds >= 0."""
    if not isinstance(w, dict):
        return [f"{at} must be a mapping with one of {list(keys)}"]
    given = [k for k in w if k != "__line__"]
    out = _unknown(w, keys, at)
    if len([k for k in given if k in keys]) != 1:
        out.append(f"{at} must have exactly one of {list(keys)}")
    for k in given:
        if k in keys and k.endswith("s") and k != "utterances" and not (_number(w[k]) and w[k] > 0):
            out.append(f"{at}.{k} must be a number of seconds > 0")
        elif k in keys and (k == "utterances" or not k.endswith("s")) and not _whole(w[k], 1):
            out.append(f"{at}.{k} must be a whole number of utterances >= 1")
    return out





def _unknown(m: dict[str, Any], keys: tuple[str, ...], at: str) -> list[str]:
    return [f"{at}.{k} is not one of {list(keys)}{closest(k, keys)}" for k in m
            if k not in keys and k != "__line__"]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v: Any, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def strip_lines(node: Any) -> Any:
    """A condition as written, without the YAML reader's `__line__` keys."""
    if isinstance(node, dict):
        return {k: strip_lines(v) for k, v in node.items() if k != "__line__"}
    if isinstance(node, list):
        return [strip_lines(v) for v in node]
    return node
