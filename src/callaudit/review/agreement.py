"""Inter-reviewer agreement for calibration sessions (校准): several reviewers judge the same
machine findings blind, and the page shows, per rule, how far they agree beyond chance.

A rating is one reviewer's state for one finding (a rule failed on a call), one of STATES.
Two statistics, both "observed agreement corrected for chance", (p_o - p_e) / (1 - p_e):

- Cohen's kappa (Cohen 1960, "A coefficient of agreement for nominal scales", Educational and
  Psychological Measurement 20(1)): two fixed raters; p_e from each rater's own category shares.
- Fleiss' kappa (Fleiss 1971, "Measuring nominal scale agreement among many raters",
  Psychological Bulletin 76(5)): any raters, a fixed number n of ratings per item; p_e from the
  pooled category shares. For n = 2 it equals Scott's pi (Scott 1955).

Both are 1 for perfect agreement, 0 for chance-level agreement and negative below chance; both
are undefined (None here) when chance agreement is already certain (p_e == 1), e.g. every rating
is one and the same category.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

STATES = ("confirmed", "overturned", "not_applicable")


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters over the same items (Cohen 1960).

    `a[i]` and `b[i]` are the categories raters A and B gave item i. With N items,
    p_o = (items where a[i] == b[i]) / N and p_e = sum_k (n_Ak / N) * (n_Bk / N), where n_Ak is
    how many items A put in category k; kappa = (p_o - p_e) / (1 - p_e), in [-1, 1].

    Returns None when p_e == 1 (both raters used one and the same category throughout).
    Raises ValueError when the sequences differ in length or are empty.
    """
    if len(a) != len(b):
        raise ValueError(f"raters rated different numbers of items ({len(a)} and {len(b)})")
    n = len(a)
    if n == 0:
        raise ValueError("no items to compare")
    agree = sum(x == y for x, y in zip(a, b, strict=True))
    ca, cb = Counter(a), Counter(b)
    # p_e * n^2 in integers, so "p_e == 1" is an exact test, not a float comparison
    chance = sum(ca[k] * cb[k] for k in ca)
    if chance == n * n:
        return None
    return (agree * n - chance) / (n * n - chance)


def fleiss_kappa(items: Sequence[Sequence[str]]) -> float | None:
    """Fleiss' kappa of many raters (Fleiss 1971).

    `items[i]` lists the categories item i's raters gave it, n >= 2 of them for every item
    (the raters need not be the same people from item to item). With N items and n_ij the
    number of item i's ratings in category j:
      P_i = (sum_j n_ij^2 - n) / (n (n - 1))   the share of agreeing rater pairs on item i,
      P̄ = mean_i P_i,  p_j = sum_i n_ij / (N n),  P̄_e = sum_j p_j^2,
      kappa = (P̄ - P̄_e) / (1 - P̄_e).

    Returns None when P̄_e == 1 (every rating is the same category).
    Raises ValueError on no items, on items with differing numbers of ratings, or with fewer
    than two ratings.
    """
    if not items:
        raise ValueError("no items to compare")
    n = len(items[0])
    if any(len(it) != n for it in items):
        counts = sorted({len(it) for it in items})
        raise ValueError(f"every item needs the same number of ratings; got {counts}")
    if n < 2:
        raise ValueError(f"every item needs at least 2 ratings; got {n}")
    big_n = len(items)
    pairs = sum(_agreeing_pairs(it) for it in items)  # sum_i P_i * C(n, 2), in integers
    totals: Counter[str] = Counter()
    for it in items:
        totals.update(it)
    all_ratings = big_n * n
    chance = sum(c * c for c in totals.values())  # P̄_e * (N n)^2
    if chance == all_ratings * all_ratings:
        return None
    p_bar = pairs / (big_n * n * (n - 1) / 2)
    p_e = chance / (all_ratings * all_ratings)
    return (p_bar - p_e) / (1 - p_e)


def _agreeing_pairs(ratings: Sequence[str]) -> int:
    """Unordered rater pairs that gave the item the same category: sum_j C(n_ij, 2)."""
    return sum(c * (c - 1) // 2 for c in Counter(ratings).values())


@dataclass
class Agreement:
    """Agreement on one rule's findings in a calibration session.

    Attributes:
      rule: the rule id.
      items: calls whose finding of this rule entered the statistic (rated by >= 2 reviewers;
        for Fleiss, only those with the most common number of ratings, see `agreement_by_rule`).
      raters: distinct reviewers who rated those items.
      observed: 0-1, the share of reviewer pairs that agreed on an item, averaged over the
        items (Fleiss' P̄; for two raters, Cohen's p_o).
      kappa: chance-corrected agreement in [-1, 1]; None when undefined (every rating the same
        state, so chance alone explains the agreement).
      method: "cohen" (the same two reviewers rated every item) or "fleiss".
    """

    rule: str
    items: int
    raters: int
    observed: float
    kappa: float | None
    method: str


def agreement_by_rule(ratings: Iterable[tuple[str, str, str, str]]) -> list[Agreement]:
    """Per-rule agreement of a calibration session.

    `ratings` are (call, rule, reviewer, state) tuples in time order; when a reviewer rated the
    same (call, rule) more than once the latest rating counts. Per rule, the items are the calls
    rated by at least two reviewers:
      - if the same two reviewers rated every item: Cohen's kappa, method "cohen";
      - otherwise Fleiss' kappa, which needs one number of ratings per item: only the items with
        the most common number of ratings are used (ties: the larger number), and the others
        are left out of the statistic and of `items`.
    Rules with no call rated twice are left out. Returns one Agreement per rule, sorted by rule.
    Raises ValueError for a state not in STATES.
    """
    latest: dict[tuple[str, str], dict[str, str]] = {}  # (rule, call) -> reviewer -> state
    for call, rule, reviewer, state in ratings:
        if state not in STATES:
            raise ValueError(f"unknown review state {state!r} (call {call}, rule {rule}); "
                             f"expected one of {', '.join(STATES)}")
        latest.setdefault((rule, call), {})[reviewer] = state  # a later rating replaces
    by_rule: dict[str, list[dict[str, str]]] = {}
    for (rule, _call), who in sorted(latest.items()):  # sorted: the result never depends on order
        if len(who) >= 2:
            by_rule.setdefault(rule, []).append(who)
    return [_agreement(rule, items) for rule, items in sorted(by_rule.items())]


def _agreement(rule: str, items: list[dict[str, str]]) -> Agreement:
    """One rule's Agreement from its items, each {reviewer: state} with >= 2 reviewers."""
    pairs = {frozenset(who) for who in items}
    if len(pairs) == 1 and len(next(iter(pairs))) == 2:
        first, second = sorted(next(iter(pairs)))
        a = [who[first] for who in items]
        b = [who[second] for who in items]
        observed = sum(x == y for x, y in zip(a, b, strict=True)) / len(items)
        return Agreement(rule, len(items), 2, observed, cohen_kappa(a, b), "cohen")
    sizes = Counter(len(who) for who in items)
    n = max(sizes, key=lambda size: (sizes[size], size))
    used = [who for who in items if len(who) == n]
    observed = sum(_agreeing_pairs(list(who.values())) for who in used) / (len(used) * n * (n - 1) / 2)
    raters = len(set().union(*used))
    return Agreement(rule, len(used), raters, observed,
                     fleiss_kappa([list(who.values()) for who in used]), "fleiss")


def _latest(ratings: Iterable[tuple[str, str, str, str]]) -> dict[tuple[str, str], dict[str, str]]:
    """(call, rule) -> reviewer -> their latest state; ValueError for a state not in STATES."""
    latest: dict[tuple[str, str], dict[str, str]] = {}
    for call, rule, reviewer, state in ratings:
        if state not in STATES:
            raise ValueError(f"unknown review state {state!r} (call {call}, rule {rule}); "
                             f"expected one of {', '.join(STATES)}")
        latest.setdefault((call, rule), {})[reviewer] = state
    return latest


def overall_agreement(ratings: Iterable[tuple[str, str, str, str]]) -> Agreement | None:
    """The session's agreement over every rule at once: each (call, rule) rated by at least
    two reviewers is one item, and the statistic is chosen as in `agreement_by_rule` (Cohen's
    kappa when the same two reviewers rated every item, else Fleiss' over the items with the
    most common number of ratings). `rule` is "*". None when no finding was rated twice."""
    items = [who for _, who in sorted(_latest(ratings).items()) if len(who) >= 2]
    return _agreement("*", items) if items else None


@dataclass
class PairAgreement:
    """Two reviewers' agreement over the findings both rated (Cohen's kappa).

    Attributes:
      a, b: the reviewers (a < b).
      items: findings (call, rule) both rated.
      observed: 0-1, the share of those they rated alike.
      kappa: Cohen's kappa; None when undefined (both gave one and the same state throughout).
    """

    a: str
    b: str
    items: int
    observed: float
    kappa: float | None


def pair_agreement(ratings: Iterable[tuple[str, str, str, str]]) -> list[PairAgreement]:
    """Cohen's kappa of every pair of reviewers over the findings (call, rule) both rated
    (latest rating each), sorted by the pair's names; pairs with no finding in common are
    left out."""
    latest = _latest(ratings)
    names = sorted({r for who in latest.values() for r in who})
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = [(who[a], who[b]) for _, who in sorted(latest.items()) if a in who and b in who]
            if both:
                xa, xb = [x for x, _ in both], [y for _, y in both]
                agree = sum(x == y for x, y in both) / len(both)
                out.append(PairAgreement(a, b, len(both), agree, cohen_kappa(xa, xb)))
    return out


def disagreements(ratings: Iterable[tuple[str, str, str, str]]
                  ) -> list[tuple[str, str, dict[str, str]]]:
    """The findings the reviewers did not rate alike: (call, rule, {reviewer: latest state}),
    sorted by call and rule."""
    return [(call, rule, dict(sorted(who.items())))
            for (call, rule), who in sorted(_latest(ratings).items())
            if len(set(who.values())) > 1]


# Landis & Koch (1977, "The measurement of observer agreement for categorical data",
# Biometrics 33(1)): the usual words for a kappa's size, (highest kappa, band) in order.
KAPPA_BANDS = ((0.2, "slight"), (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial"))


def kappa_band(kappa: float) -> str:
    """A kappa's band in Landis & Koch's words: poor (below 0), slight (up to 0.2), fair
    (0.4), moderate (0.6), substantial (0.8), almost_perfect (above 0.8)."""
    if kappa < 0:
        return "poor"
    return next((band for top, band in KAPPA_BANDS if kappa <= top), "almost_perfect")
