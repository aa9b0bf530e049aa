"""Inter-reviewer agreement: Cohen's and Fleiss' kappa against published worked examples, and
the per-rule summary of a calibration session."""

from __future__ import annotations

import random

import pytest

from callaudit.review.agreement import STATES, Agreement, agreement_by_rule, cohen_kappa, fleiss_kappa


def _from_table(rows: list[list[int]], categories: str = "ABCDE") -> list[list[str]]:
    """Items as lists of ratings from a subjects x categories count table."""
    return [[cat for cat, n in zip(categories, row, strict=True) for _ in range(n)] for row in rows]


# --- Cohen ----------------------------------------------------------------------------------

def test_cohen_wikipedia_example() -> None:
    # https://en.wikipedia.org/wiki/Cohen%27s_kappa#Simple_example: 50 proposals, both yes 20,
    # both no 15, A yes / B no 5, A no / B yes 10: p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5
    pairs = [("y", "y")] * 20 + [("n", "n")] * 15 + [("y", "n")] * 5 + [("n", "y")] * 10
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    assert cohen_kappa(a, b) == pytest.approx(0.4, abs=1e-9)
    assert cohen_kappa(b, a) == pytest.approx(0.4, abs=1e-9)  # symmetric in the raters


def test_cohen_perfect_agreement() -> None:
    a = ["confirmed", "overturned", "confirmed", "overturned", "confirmed"]
    assert cohen_kappa(a, list(a)) == 1.0


def test_cohen_systematic_disagreement_is_negative() -> None:
    # p_o = 0, p_e = 0.5: kappa = -1, the worst possible
    a = ["confirmed", "overturned"] * 3
    b = ["overturned", "confirmed"] * 3
    k = cohen_kappa(a, b)
    assert k is not None and k < 0 and k == pytest.approx(-1.0)


def test_cohen_chance_level_is_zero() -> None:
    # B says "confirmed" on every other item whatever A says: p_o = p_e = 0.5
    a = ["confirmed", "confirmed", "overturned", "overturned"]
    b = ["confirmed", "overturned", "confirmed", "overturned"]
    assert cohen_kappa(a, b) == pytest.approx(0.0)


def test_cohen_undefined_when_both_use_one_category() -> None:
    assert cohen_kappa(["confirmed"] * 4, ["confirmed"] * 4) is None


def test_cohen_one_rater_constant_is_defined() -> None:
    # p_e = 1 * 0.5 = 0.5 < 1: defined, and zero (agreement is exactly chance)
    assert cohen_kappa(["confirmed"] * 4, ["confirmed", "overturned"] * 2) == pytest.approx(0.0)


def test_cohen_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="different numbers"):
        cohen_kappa(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="no items"):
        cohen_kappa([], [])


# --- Fleiss ---------------------------------------------------------------------------------

WIKI_FLEISS = [  # https://en.wikipedia.org/wiki/Fleiss%27_kappa#Worked_example: 14 raters
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]


def test_fleiss_wikipedia_example() -> None:
    items = _from_table(WIKI_FLEISS)
    assert all(len(it) == 14 for it in items)
    # P̄ = 0.378, P̄_e = 0.213 -> kappa = 0.210
    assert fleiss_kappa(items) == pytest.approx(0.210, abs=0.001)


def test_fleiss_does_not_depend_on_rating_or_item_order() -> None:
    items = _from_table(WIKI_FLEISS)
    rng = random.Random(7)
    shuffled = [rng.sample(it, len(it)) for it in items]
    rng.shuffle(shuffled)
    assert fleiss_kappa(shuffled) == pytest.approx(fleiss_kappa(items))


def test_fleiss_two_raters_is_scotts_pi() -> None:
    # A = y y y n, B = y y n n. p_o = 3/4. Scott's pi pools both raters' shares:
    # y = 5/8, n = 3/8, p_e = 25/64 + 9/64 = 17/32, pi = (3/4 - 17/32) / (1 - 17/32) = 7/15.
    # (Cohen's kappa differs: p_e = 3/4*1/2 + 1/4*1/2 = 1/2, kappa = 1/2.)
    a, b = ["y", "y", "y", "n"], ["y", "y", "n", "n"]
    assert fleiss_kappa([[x, y] for x, y in zip(a, b, strict=True)]) == pytest.approx(7 / 15)
    assert cohen_kappa(a, b) == pytest.approx(0.5)


def test_fleiss_perfect_and_undefined() -> None:
    assert fleiss_kappa([["a", "a", "a"], ["b", "b", "b"], ["c", "c", "c"]]) == pytest.approx(1.0)
    assert fleiss_kappa([["a", "a", "a"], ["a", "a", "a"]]) is None


def test_fleiss_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no items"):
        fleiss_kappa([])
    with pytest.raises(ValueError, match=r"same number of ratings.*\[2, 3\]"):
        fleiss_kappa([["a", "b"], ["a", "b", "a"]])
    with pytest.raises(ValueError, match="at least 2"):
        fleiss_kappa([["a"], ["b"]])


# --- per rule -------------------------------------------------------------------------------

C, X, NA = STATES  # confirmed, overturned (X), not_applicable


def test_same_two_reviewers_use_cohen() -> None:
    ratings = [
        ("c1", "greet", "ann", X),  # ann changes her mind: the later rating counts
        ("c1", "greet", "bob", C), ("c1", "greet", "ann", C),
        ("c2", "greet", "ann", C), ("c2", "greet", "bob", X),
        ("c3", "greet", "ann", X), ("c3", "greet", "bob", X),
        ("c4", "greet", "ann", NA), ("c4", "greet", "bob", NA),
    ]
    [ag] = agreement_by_rule(ratings)
    a = [C, C, X, NA]
    b = [C, X, X, NA]
    assert ag == Agreement("greet", 4, 2, 0.75, cohen_kappa(a, b), "cohen")
    # p_o = 3/4; p_e = (2*1 + 1*2 + 1*1) / 16 = 5/16; kappa = (12/16 - 5/16) / (11/16) = 7/11
    assert ag.kappa == pytest.approx(7 / 11)


def test_changing_pairs_use_fleiss_and_count_raters() -> None:
    # two ratings per call, but not from the same two reviewers
    ratings = [
        ("c1", "hold", "ann", C), ("c1", "hold", "bob", C),
        ("c2", "hold", "ann", C), ("c2", "hold", "cy", X),
        ("c3", "hold", "bob", X), ("c3", "hold", "cy", X),
    ]
    [ag] = agreement_by_rule(ratings)
    assert (ag.method, ag.items, ag.raters) == ("fleiss", 3, 3)
    assert ag.observed == pytest.approx(2 / 3)
    assert ag.kappa == pytest.approx(fleiss_kappa([[C, C], [C, X], [X, X]]))


def test_fleiss_uses_the_most_common_number_of_ratings() -> None:
    three = [("c1", C, C, C), ("c2", C, X, X), ("c3", X, X, X)]
    ratings = [(call, "rate", who, s) for call, *states in three
               for who, s in zip(("ann", "bob", "cy"), states, strict=True)]
    # c4 has only two ratings (from dan and eve), so it is left out: items 3, raters 3
    ratings += [("c4", "rate", "dan", C), ("c4", "rate", "eve", X)]
    [ag] = agreement_by_rule(ratings)
    assert (ag.method, ag.items, ag.raters) == ("fleiss", 3, 3)
    # agreeing pairs: 3 of 3, 1 of 3, 3 of 3
    assert ag.observed == pytest.approx(7 / 9)
    assert ag.kappa == pytest.approx(fleiss_kappa([[C, C, C], [C, X, X], [X, X, X]]))


def test_tie_in_rating_counts_prefers_more_ratings() -> None:
    ratings = [("c1", "r", "ann", C), ("c1", "r", "bob", X),
               ("c2", "r", "ann", C), ("c2", "r", "bob", C), ("c2", "r", "cy", C)]
    [ag] = agreement_by_rule(ratings)
    assert (ag.items, ag.raters, ag.observed, ag.kappa, ag.method) == (1, 3, 1.0, None, "fleiss")


def test_rules_sorted_single_ratings_dropped_and_undefined_kappa() -> None:
    ratings = [
        ("c1", "zeta", "ann", C), ("c1", "zeta", "bob", C),
        ("c2", "zeta", "ann", C), ("c2", "zeta", "bob", C),
        ("c1", "alpha", "ann", X), ("c1", "alpha", "bob", X),
        ("c2", "alpha", "ann", C), ("c2", "alpha", "bob", C),
        ("c1", "lonely", "ann", C), ("c2", "lonely", "bob", X),  # never the same call twice
        ("c3", "alpha", "ann", C),  # rated once: not an item
    ]
    out = agreement_by_rule(ratings)
    assert [ag.rule for ag in out] == ["alpha", "zeta"]
    alpha, zeta = out
    assert (alpha.items, alpha.kappa, alpha.observed) == (2, 1.0, 1.0)
    # all "confirmed": full agreement, but kappa is undefined (chance explains it)
    assert (zeta.items, zeta.kappa, zeta.observed, zeta.method) == (2, None, 1.0, "cohen")


def test_same_reviewer_twice_is_one_rating() -> None:
    ratings = [("c1", "r", "ann", C), ("c1", "r", "ann", X)]
    assert agreement_by_rule(ratings) == []


def test_order_of_different_ratings_does_not_matter() -> None:
    ratings = [(f"c{i}", "r", who, STATES[(i * k) % 3]) for i in range(12)
               for k, who in enumerate(("ann", "bob", "cy"))]
    expected = agreement_by_rule(ratings)
    random.Random(3).shuffle(ratings)
    assert agreement_by_rule(ratings) == expected


def test_unknown_state_rejected() -> None:
    with pytest.raises(ValueError, match="'agree'"):
        agreement_by_rule([("c1", "r", "ann", "agree"), ("c1", "r", "bob", C)])
