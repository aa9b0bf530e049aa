"""docs/RULES.md's reference is generated from the registry (rules/reference.py): it names every
check kind, metric and parameter the code has, and is rewritten when they change."""

from __future__ import annotations

import re

from callaudit.rules.kinds import KINDS
from callaudit.rules.measures import MEASURES
from callaudit.rules.pack import load
from callaudit.rules.reference import BEGIN, END, markdown, replace_in
from tests.helpers import ROOT

DOC = ROOT / "docs" / "RULES.md"


def test_the_reference_in_the_docs_is_the_code_s() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert BEGIN in doc and END in doc
    assert replace_in(doc, load().settings) == doc, \
        "docs/RULES.md is stale: run `.venv/bin/python tools/rules_reference.py`"


def test_the_reference_names_every_kind_metric_and_parameter() -> None:
    text = markdown(load().settings)
    for name in [*KINDS, *MEASURES]:
        assert f"| `{name}`" in text, name
    for m in MEASURES.values():
        for p in m.params:
            assert f"`{p.name}`" in text and f"`settings.{p.setting}`" in text
    # a table row has as many cells as its header: no stray | in a cell
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert all(len(re.findall(r"(?<!\\)\|", r)) == 6 for r in rows), rows


def test_a_stale_reference_is_rewritten() -> None:
    doc = DOC.read_text(encoding="utf-8")
    stale = doc.replace("`min_cpm`", "`slowest_cpm`")
    assert stale != doc and replace_in(stale, load().settings) == doc
