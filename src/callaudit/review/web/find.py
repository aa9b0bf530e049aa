"""Find calls (the calls list's form): the filters are GET parameters, so a search is a
bookmark. Each value is checked; a bad one is dropped and named in one flashed message
(never an error page). Sorting is by a column's name (results/reviews.CALL_SORTS), never
by SQL from the request. An agent's own agent id is always the filter, whatever is asked."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from callaudit.results.reviews import CALL_SORTS, OUTCOMES, REVIEW_FILTERS, CallQuery

PER_PAGE = 50
MAX_VALUE = 100  # characters of a typed value
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# parameter -> its words.py label, in the form's order
FIELDS = {"from": "day_from", "to": "day_to", "agent": "agent", "line": "team",
          "score_min": "score_min", "score_max": "score_max", "outcome": "outcome",
          "state": "review_filter", "reviewer": "reviewer", "rule": "rule_failed",
          "q": "search_calls", "sort": "sort_by", "dir": "sort_by", "page": "page"}


@dataclass(frozen=True)
class Found:
    query: CallQuery
    page: int
    params: dict[str, str]  # the valid parameters as given: the form's values, the links'
    bad: list[str]  # parameters refused (their FIELDS labels' keys), in the form's order


def _day(v: str) -> str | None:
    if not _DAY.fullmatch(v):
        return None
    try:
        return dt.date.fromisoformat(v).isoformat()
    except ValueError:
        return None


def _score(v: str) -> float | None:
    try:
        x = float(v)
    except ValueError:
        return None
    return x if math.isfinite(x) and 0 <= x <= 100 else None


def read(args: Mapping[str, str], staff: bool, own_agent: str | None, rules: set[str]) -> Found:
    """The filters of a request's `args`. `staff`: may see every call (else only
    `own_agent`'s, and searches match the file's name, not where it is kept); `rules`: the
    rule ids one may filter by."""
    raw = {k: (args.get(k) or "").strip()[:MAX_VALUE] for k in FIELDS}
    if args.get("day") and not raw["from"] and not raw["to"]:  # the older single-day link
        raw["from"] = raw["to"] = (args.get("day") or "").strip()[:MAX_VALUE]
    bad: list[str] = []
    ok: dict[str, Any] = {}

    def keep(name: str, value: Any) -> None:
        if value is None:
            bad.append(name)
        else:
            ok[name] = value

    for k in ("from", "to"):
        if raw[k]:
            keep(k, _day(raw[k]))
    for k in ("score_min", "score_max"):
        if raw[k]:
            keep(k, _score(raw[k]))
    if "from" in ok and "to" in ok and ok["from"] > ok["to"]:
        bad.append("to")
        del ok["to"]
    if "score_min" in ok and "score_max" in ok and ok["score_min"] > ok["score_max"]:
        bad.append("score_max")
        del ok["score_max"]
    for k, allowed in (("outcome", OUTCOMES), ("state", REVIEW_FILTERS), ("rule", rules),
                       ("sort", CALL_SORTS), ("dir", ("asc", "desc"))):
        if raw[k]:
            keep(k, raw[k] if raw[k] in allowed else None)
    for k in ("agent", "line", "reviewer", "q"):
        if raw[k]:
            ok[k] = raw[k]
    page = 1
    if raw["page"]:
        keep("page", int(raw["page"]) if raw["page"].isdigit() and 0 < int(raw["page"]) < 10**6
             else None)
        page = ok.pop("page", 1)
    if not staff:  # an agent: their own calls only, whatever was asked
        ok.pop("reviewer", None)
        ok.pop("agent", None)
    q = CallQuery(agent_id=ok.get("agent"), day_from=ok.get("from"), day_to=ok.get("to"),
                  line=ok.get("line"), score_min=ok.get("score_min"), score_max=ok.get("score_max"),
                  outcome=ok.get("outcome"), review=ok.get("state"), reviewer=ok.get("reviewer"),
                  rule=ok.get("rule"), search=ok.get("q"), search_paths=staff,
                  sort=ok.get("sort"), descending=ok.get("dir") == "desc")
    if not staff:
        q = replace(q, agent_id=own_agent or "\0")  # an agent without an id sees nothing
    params = {k: raw[k] for k in ok}
    order = list(FIELDS)
    return Found(q, page, params, sorted(dict.fromkeys(bad), key=order.index))


def pages(total: int) -> int:
    return max(1, math.ceil(total / PER_PAGE))
