"""The default pack's own examples (rules/examples.py): every example gets its verdict, every
rule that can fail shows a pass and a fail, the line grammar, and `audit rules test`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callaudit.cli import main
from callaudit.rules.examples import BUCKETS, Example, example_problems, examples_of, parse
from callaudit.rules.pack import Rule, load
from callaudit.rules.selftest import check_examples, run, verdict

PACK = load()
CASES = [(r.id, b, i, ex) for r in PACK.rules for b, i, ex in examples_of(r.examples)]


@pytest.mark.parametrize(("rule", "bucket", "index", "example"), CASES,
                         ids=[f"{r}-{b}-{i}" for r, b, i, _ in CASES])
def test_example_gets_its_verdict(rule: str, bucket: str, index: int, example: Any) -> None:
    f = run(PACK, rule, example)
    assert verdict(f) == BUCKETS[bucket], f"{f.detail} {f.evidence}"
    assert f.rule == rule


def _cannot_fail(r: Rule) -> bool:
    """Manual rules, counts without a limit and forbid rules with nothing to forbid."""
    return r.check == "manual" or (r.check == "count" and r.max_count is None) or (
        r.check == "forbid" and not any(r.categories.values()) and not r.patterns)


def test_every_rule_shows_what_passes_and_what_fails() -> None:
    assert len(PACK.rules) == 37
    for r in PACK.rules:  # disabled ones too (survey): their examples still prove them
        n = {b: len(r.examples.get(b) or []) for b in BUCKETS}
        assert sum(n.values()) >= 1, r.id
        if r.check == "manual" or (r.check == "forbid" and _cannot_fail(r)):
            assert n["na"] >= 1 and not n["pass"] and not n["fail"], r.id
        elif _cannot_fail(r):
            assert n["pass"] >= 1 and not n["fail"], r.id
        else:
            assert n["pass"] >= 1 and n["fail"] >= 1, r.id
    cannot = {r.id for r in PACK.rules if _cannot_fail(r)}
    assert cannot == {"mandarin", "leak_other", "polite_words", "jargon"}


def test_check_examples_of_the_default_pack_finds_nothing() -> None:
    assert check_examples(PACK) == []


def test_a_disabled_rule_is_run_as_if_enabled() -> None:
    assert not PACK.rule("survey").enabled
    f = run(PACK, "survey", ["C: 没有了。", "A: 再见。"])
    assert verdict(f) == "fail"
    with pytest.raises(KeyError):
        run(PACK, "no_such_rule", "A: 您好。")


# ---- the line grammar ---------------------------------------------------------------------
def test_times_default_absolute_span_and_relative() -> None:
    ex = parse(["A: 您好您好您好。", "C 10: 你好。", "A 12.5-15: 好的。", "C +8: 嗯。"])
    u = ex.utterances
    assert [(x.role, x.channel) for x in u] == [("agent", 0), ("customer", 1), ("agent", 0),
                                               ("customer", 1)]
    assert (u[0].start, u[0].end) == (0.6, 2.4)  # +0.6 s; 6 syllables at 200/min = 1.8 s
    assert (u[1].start, u[1].end) == (10.0, 10.6)
    assert (u[2].start, u[2].end) == (12.5, 15.0)
    assert u[3].start == 23.0 and [x.text for x in u][-1] == "嗯。"
    assert u[0].level_dbfs == -20.0 and ex.stereo and ex.duration_s is None


def test_options_set_rate_and_level() -> None:
    (u,) = parse("A 2 (cpm=300, level=-50): 您好您好您好。").utterances
    assert (u.start, u.end, u.level_dbfs) == (2.0, 3.2, -50.0)
    (u,) = parse("A (cpm=60): 好").utterances  # never shorter than 0.4 s, as in transcripts
    assert u.end - u.start == pytest.approx(1.0)
    (u,) = parse("A：您好").utterances  # a full-width colon is a colon
    assert u.text == "您好"


def test_lines_are_sorted_and_relative_times_follow_the_listed_line() -> None:
    u = parse(["A 20: 好的。", "C 5: 你好。", "A +1: 再见。"]).utterances
    assert [(x.text, x.start) for x in u] == [("你好。", 5.0), ("再见。", 6.6), ("好的。", 20.0)]


def test_mapping_example_and_mono() -> None:
    ex = parse({"lines": ["A: 您好。", "?: 我想查订单。", "C: 好的。"], "stereo": False,
                "rings": 2, "connect_s": 8.0, "duration_s": 700, "clipping": 0.02})
    assert isinstance(ex, Example) and not ex.stereo
    assert [(u.role, u.channel) for u in ex.utterances] == [("agent", 0), ("unknown", 0),
                                                          ("customer", 0)]
    assert (ex.rings, ex.connect_s, ex.duration_s, ex.clipping) == (2, 8.0, 700.0, 0.02)
    assert parse({"lines": [], "duration_s": 10}).utterances == []
    assert run(PACK, "call_length", {"lines": ["A: 您好。"], "duration_s": 700}).passed is False


@pytest.mark.parametrize(("example", "reason"), [
    ("A 您好", "not `<who>"),
    ("B: 您好", "speaker 'B'"),
    ("?: 您好", "needs `stereo: false`"),
    ("A: ", "no text"),
    ("A 15-12: 您好", "not after it starts"),
    ("A 1.2.3: 您好", "not `<who>"),
    ("A (speed=3): 您好", "unknown option 'speed'"),
    ("A (cpm=fast): 您好", "option cpm needs a number"),
    ("A (level=5): 您好", "option level needs a number in [-100, 0]"),
    ({"A": "您好"}, "unknown key 'A'"),  # `- A: 您好` unquoted: YAML makes it a mapping
    ({"stereo": False}, "needs `lines:`"),
    (["A: 您好", 3], "a list of lines"),
    ({"lines": ["A: 您好"], "stereo": "no"}, "`stereo` must be true or false"),
    ({"lines": ["A: 您好"], "rings": -1}, "`rings` must be a whole number"),
    ({"lines": ["A: 您好"], "clipping": 2}, "`clipping` is a share"),
    ({"lines": ["A: 您好"], "duration_s": "long"}, "`duration_s` must be a number"),
])
def test_bad_examples_are_refused_with_a_one_line_reason(example: Any, reason: str) -> None:
    with pytest.raises(ValueError) as e:
        parse(example)
    assert reason in str(e.value) and "\n" not in str(e.value)


def test_example_problems_for_validation() -> None:
    assert example_problems({"id": "x"}) == []
    assert example_problems({"examples": [["A: 您好"]]}) == [
        "`examples` must map fail / pass / na to a list of examples"]
    probs = example_problems({"examples": {"__line__": 3, "fails": [], "pass": "A: 您好",
                                           "na": ["C: 你好", "X: 你好"]}})
    assert probs[0] == "examples: unknown bucket `fails` (one of fail, pass, na)"
    assert probs[1] == "examples.pass must be a list of examples"
    assert probs[2].startswith("examples.na[1]: 'X: 你好': speaker 'X'")
    assert len(probs) == 3


# ---- audit rules test / check -------------------------------------------------------------
def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "center.yaml"
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_cli_rules_test_on_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "test"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == f"37 rules, {len(CASES)} examples: all pass"
    assert out[1].endswith("kinds of personal data, 41 examples: all pass") and len(out) == 2


def test_cli_rules_test_reports_a_wrong_example_with_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "rules:\n"
                 "  - id: greeting\n"
                 "    examples:\n"
                 "      fail:\n"
                 "        - \"A: 您好，这里是客户服务中心。\"\n"
                 "      pass:\n"
                 "        - \"A: 您好。\"\n")
    assert main(["rules", "test", path]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == (f"{path}: line 2: rule 'greeting': fail example 0: expected fail, got pass "
                      "(found '您好' (similarity 1.00))")
    greeting = sum(c[0] == "greeting" for c in CASES)  # the default's, replaced by these 2
    assert out[-2] == f"37 rules, {len(CASES) - greeting + 2} examples: 1 fail" and len(out) == 3


def test_cli_rules_test_catches_an_override_that_breaks_the_defaults_examples(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a center drops 你好 from the greeting: the default's 你好 example now fails, and the
    # line shown is the override's (its rule changed the verdict)
    path = write(tmp_path, "rules:\n  - id: greeting\n    phrases: [您好]\n")
    assert main(["rules", "test", path]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith(f"{path}: line 2: rule 'greeting': pass example 2: expected pass, "
                             "got fail (none of the phrases")
    assert out[-2] == f"37 rules, {len(CASES)} examples: 1 fail" and len(out) == 3


def test_an_example_that_does_not_parse_is_a_pack_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "rules:\n"
                 "  - id: greeting\n"
                 "    examples:\n"
                 "      fail:\n"
                 "        - A: 您好\n")  # unquoted: a mapping, not a line
    assert main(["rules", "check", path]) == 2
    out = capsys.readouterr().out
    assert f"{path}: line 2: rule 'greeting': examples.fail[0]: unknown key 'A'" in out
    assert main(["rules", "test", path]) == 2
    assert "examples.fail[0]" in capsys.readouterr().out
