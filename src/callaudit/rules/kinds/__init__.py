"""The `check:` kinds of a rule pack, one module each (rules/units.Kind). Adding one: a
module here with its KIND, listed below, and a rule with examples in a pack; validation and
the rule reference in docs/RULES.md follow from the KIND (tests/rules/test_reference.py)."""

from __future__ import annotations

from callaudit.rules.kinds.condition import KIND as CONDITION
from callaudit.rules.kinds.count import KIND as COUNT
from callaudit.rules.kinds.forbid import KIND as FORBID
from callaudit.rules.kinds.manual import KIND as MANUAL
from callaudit.rules.kinds.metric import KIND as METRIC
from callaudit.rules.kinds.readback import KIND as READBACK
from callaudit.rules.kinds.reply import KIND as REPLY
from callaudit.rules.kinds.require import KIND as REQUIRE
from callaudit.rules.rule import Rule
from callaudit.rules.units import Kind

KINDS: dict[str, Kind] = {k.name: k for k in (
    REQUIRE, FORBID, REPLY, METRIC, READBACK, COUNT, MANUAL, CONDITION)}


def words_judged(rule: Rule) -> str:
    """"absence" when the rule fails on words not found, "presence" when on words found, ""
    when it judges no words, or (`condition`) when each failure says (rules/doubt.py)."""
    return KINDS[rule.check].judges_words
