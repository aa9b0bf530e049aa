"""Rule packs: the default pack, merging a center's file over it, validation with line
numbers (`audit rules check`), and the CLI run in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from callaudit.cli import main
from callaudit.errors import RulePackError
from callaudit.rules.pack import load
from callaudit.rules.validate import CHECKS, METRICS, SEVERITIES
from tests.helpers.transcripts import BASE, audit, findings, replace, verdict


def write(tmp_path: Path, text: str, name: str = "pack.yaml") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


# ---- the default pack --------------------------------------------------------------------
def test_default_pack_cites_norms_and_sections() -> None:
    pack = load()
    ids = [r.id for r in pack.rules]
    assert len(ids) == len(set(ids))
    for norm in ("answer_delay", "speech_rate", "dead_air", "hold_reminder", "response_latency",
                 "interruption", "volume", "call_length", "mandarin", "greeting", "self_id",
                 "offer_help", "name_use", "casual_opener", "hold_before", "hold_after",
                 "confirm_need", "confirm_understood", "verify_numbers", "thanks_reply", "empathy",
                 "civil_warning", "retention", "vague_words", "absolute_promise", "jargon",
                 "polite_words", "forbidden_phrase", "ask_secret", "leak_other", "abuse",
                 "ask_more", "farewell", "survey", "silent_call", "repeat_requests"):
        assert norm in ids  # every id of NORMS.md is a rule
    assert {r.section for r in pack.rules} == set(pack.sections) == {
        "professional", "communication", "care", "resolution"}
    for r in pack.rules:
        assert r.source and r.message.get("zh") and r.message.get("en"), r.id
        assert r.severity in SEVERITIES and r.check in CHECKS
        assert r.check != "metric" or r.metric in METRICS
        assert (r.deduction == 0) == (r.severity == "info"), r.id
    assert {r.id for r in pack.rules if r.severity == "fatal"} == {"ask_secret", "abuse", "leak_other"}


def test_forbidden_categories_follow_the_norms() -> None:
    cats = load().rule("forbidden_phrase").categories
    assert set(cats) == {"sarcasm", "command", "blame", "complaining", "lecturing", "shirking",
                         "impatience", "disloyal", "accusing"}
    assert "这是规定我有什么办法" in cats["shirking"] and "我也[没]办法" in cats["shirking"]


# ---- merging -----------------------------------------------------------------------------
CENTER = """
version: center-7
settings:
  speech_rate_max_cpm: 240
  pass_mark: 90
rules:
  - id: self_id
    extra_phrases: [幸福银行]
    extra_patterns: ["幸福.{0,2}热线"]
  - id: forbidden_phrase
    deduction: 20
    extra_categories:
      shirking: [这个我管不了]
      rude: [你听好了]
  - id: name_use
    enabled: false
  - id: survey
    enabled: true
  - id: say_bank_name
    section: communication
    severity: minor
    deduction: 1
    check: require
    phrases: [幸福银行]
    message: {zh: 未报银行名称, en: Bank name not said}
"""


def test_merge_settings_rules_and_lists(tmp_path: Path) -> None:
    default = load()
    pack = load(write(tmp_path, CENTER))
    # settings: by key; the others keep their default
    assert pack.settings.speech_rate_max_cpm == 240 and pack.settings.pass_mark == 90
    changed = ("speech_rate_max_cpm", "pass_mark")
    assert {k: v for k, v in pack.settings.to_json().items() if k not in changed} \
        == {k: v for k, v in default.settings.to_json().items() if k not in changed}
    # rules by id: a given field replaces, the others stay; extra_ lists add
    fp, dfp = pack.rule("forbidden_phrase"), default.rule("forbidden_phrase")
    assert fp.deduction == 20 and fp.severity == dfp.severity and fp.message == dfp.message
    assert fp.categories["shirking"] == dfp.categories["shirking"] + ["这个我管不了"]
    assert fp.categories["rude"] == ["你听好了"]  # a new category
    assert pack.rule("self_id").phrases == default.rule("self_id").phrases + ["幸福银行"]
    assert pack.rule("self_id").patterns == default.rule("self_id").patterns + ["幸福.{0,2}热线"]
    # enabled: false turns a rule off, true turns the disabled survey on; a new id is added
    assert not pack.rule("name_use").enabled and pack.rule("survey").enabled
    assert [r.id for r in pack.rules][-1] == "say_bank_name"
    assert pack.rule("say_bank_name").check == "require"
    assert len(pack.rules) == len(default.rules) + 1
    assert pack.fingerprint().startswith("default@2026.11.1+center-7+")
    assert pack.fingerprint() != default.fingerprint()
    assert pack.sources[-1].endswith("pack.yaml")


def test_merged_pack_is_what_the_rules_use(tmp_path: Path) -> None:
    pack = load(write(tmp_path, CENTER))
    f, s, _ = audit(replace(BASE, 2, "这个我管不了。"), pack=pack)
    assert verdict(f["forbidden_phrase"]) == "fail" and f["forbidden_phrase"].deduction == 20
    assert f["forbidden_phrase"].evidence[0].category == "shirking"
    assert verdict(findings(replace(BASE, 2, "你听好了，订单号是2024001。"), pack=pack)
                   ["forbidden_phrase"]) == "fail"
    assert verdict(f["say_bank_name"]) == "fail" and verdict(f["survey"]) == "fail"
    assert "name_use" not in f  # disabled: not evaluated at all
    # 100 - forbidden 20 - verify_numbers 3 - confirm_need 2 - say_bank_name 1 - survey 2 = 72
    assert s.score == 72 and not s.passed
    good = replace(BASE, 0, "您好，这里是幸福银行客服热线，工号001，很高兴为您服务。")
    assert verdict(findings(good, pack=pack)["say_bank_name"]) == "pass"
    # the speech-rate band moved to 240: 230 chars/min now passes
    rate = [(t[0], t[1], {**(t[2] if len(t) > 2 else {}), "cpm": 230}) if t[0] == "agent" else t
            for t in BASE]
    assert verdict(findings(rate)["speech_rate"]) == "fail"
    assert verdict(findings(rate, pack=pack)["speech_rate"]) == "pass"


def test_empty_override_is_the_default(tmp_path: Path) -> None:
    pack = load(write(tmp_path, "settings: {}\n"))
    assert pack.fingerprint().split("+")[-1] == load().fingerprint().split("+")[-1]


# ---- validation: every error, with its line ------------------------------------------------
BAD_PACKS: list[tuple[str, str, list[tuple[int, str]]]] = [
    ("unknown field", "rules:\n  - id: greeting\n    colour: red\n",
     [(2, "rule 'greeting': unknown field `colour`")]),
    ("bad severity", "settings:\n  pass_mark: 80\nrules:\n  - id: abuse\n    severity: deadly\n",
     [(4, "rule 'abuse': severity 'deadly'")]),
    ("bad section", "rules:\n  - id: farewell\n    section: closing\n",
     [(2, "rule 'farewell': section 'closing'")]),
    ("bad regex", "rules:\n  - id: self_id\n    patterns: ['工号([0-9]+']\n",
     [(2, "rule 'self_id': pattern '工号([0-9]+' is not a valid regular expression")]),
    ("missing message",
     "rules:\n  - id: mine\n    section: care\n    severity: minor\n    check: require\n"
     "    phrases: [您好]\n", [(2, "rule 'mine': missing `message`")]),
    ("YAML syntax", "settings:\n  pass_mark: 80\nrules:\n  - id: greeting\n   severity: x\n",
     [(5, "not valid YAML")]),
    ("block in a flow list", "settings:\n  pass_mark: 80\nrules: [\n  - id: x\n", [(4, "not valid YAML")]),
    ("bad check", "rules:\n  - id: x\n    section: care\n    severity: minor\n    check: vibes\n"
     "    message: {zh: x}\n", [(2, "rule 'x': check 'vibes'")]),
    ("bad metric", "rules:\n  - id: answer_delay\n    metric: patience\n",
     [(2, "rule 'answer_delay': metric 'patience'")]),
    ("negative deduction", "rules:\n  - id: greeting\n    deduction: -5\n",
     [(2, "rule 'greeting': deduction must be a number >= 0")]),
    ("threshold out of range", "rules:\n  - id: greeting\n    threshold: 80\n",
     [(2, "rule 'greeting': threshold must be a number in (0, 1]")]),
    ("reply without trigger", "rules:\n  - id: x\n    section: care\n    severity: minor\n"
     "    check: reply\n    phrases: [好]\n    message: {zh: x}\n",
     [(2, "rule 'x': a `reply` rule needs trigger.phrases")]),
    ("unknown where key", "rules:\n  - id: greeting\n    where: {first_seconds: 15}\n",
     [(2, "rule 'greeting': where.first_seconds is not one of")]),
    ("message not a mapping", "rules:\n  - id: greeting\n    message: 开场未问候\n",
     [(2, "rule 'greeting': `message` must be {zh: ..., en: ...}")]),
    ("unknown setting", "settings:\n  pass_mark: 80\n  pass_mak: 90\n",
     [(3, "setting `pass_mak` is not a known setting")]),
    ("setting not a number", "settings:\n  pass_mark: 80\n\n  dead_air_s: thirty\n",
     [(4, "setting `dead_air_s` must be a number")]),
    ("setting not a list", "settings:\n  backchannels: 嗯\n",
     [(2, "setting `backchannels` must be a list of strings")]),
    ("threshold as a percentage", "settings:\n  match_threshold: 80\n",
     [(2, "setting `match_threshold` must be in (0, 1]")]),
    ("top-level typo", "name: c\nsetings:\n  pass_mark: 90\n", [(2, "unknown top-level key `setings`")]),
    ("extra_phrases not a list", "rules:\n  - id: greeting\n    extra_phrases: 早上好\n",
     [(2, "rule 'greeting': `extra_phrases` must be a list of strings")]),
    ("extra_categories not lists", "rules:\n  - id: forbidden_phrase\n    extra_categories:\n"
     "      rude: 滚吧\n", [(2, "rule 'forbidden_phrase': `extra_categories` must map")]),
    ("enabled not a boolean", "rules:\n  - id: survey\n    enabled: yes please\n",
     [(2, "rule 'survey': `enabled` must be true or false")]),
    ("where not a number", "rules:\n  - id: greeting\n    where: {first_s: soon}\n",
     [(2, "rule 'greeting': where.first_s must be a number")]),
    ("when not a boolean", "rules:\n  - id: greeting\n    when: {agent_spoke: maybe}\n",
     [(2, "rule 'greeting': when.agent_spoke must be true or false")]),
    ("trigger who", "rules:\n  - id: thanks_reply\n    trigger: {who: caller, phrases: [谢谢]}\n",
     [(2, "rule 'thanks_reply': trigger.who 'caller'")]),
    ("max_count not a number", "rules:\n  - id: repeat_requests\n    max_count: two\n",
     [(2, "rule 'repeat_requests': `max_count` must be a whole number")]),
    ("rule without id", "rules:\n  - deduction: 3\n", [(2, "each rule needs an `id`")]),
    ("rules not a list", "rules:\n  greeting: {deduction: 3}\n", [(1, "`rules:` must be a list")]),
    ("same id twice", "rules:\n  - id: greeting\n    deduction: 3\n  - id: greeting\n    deduction: 4\n",
     [(4, "rule 'greeting': given twice")]),
    # patterns run on RE2 (linear time): what it cannot run is refused, naming the pattern
    ("backreference", "rules:\n  - id: self_id\n    extra_patterns: ['(工号)\\1']\n",
     [(2, "rule 'self_id': pattern '(工号)\\\\1' is refused: backreferences and lookaround are not "
          "supported (patterns run in linear time, RE2 syntax)")]),
    # the default's own lookaround patterns of ask_secret stay; a center's are refused
    ("lookaround", "rules:\n  - id: ask_secret\n    extra_patterns: ['(?<!不)告诉我密码']\n",
     [(2, "rule 'ask_secret': pattern '(?<!不)告诉我密码' is refused: backreferences and lookaround")]),
    ("repetition beyond RE2", "rules:\n  - id: self_id\n    extra_patterns: ['工号\\d{2000}']\n",
     [(2, "rule 'self_id': pattern '工号\\\\d{2000}' is refused: invalid repetition size")]),
    ("YAML alias", "settings: &s\n  pass_mark: 80\nrules:\n  - id: greeting\n    where: *s\n",
     [(1, "YAML anchors (&s) are not allowed in a rule pack"),
      (5, "YAML aliases (*s) are not allowed in a rule pack")]),
]


@pytest.mark.parametrize(("name", "text", "want"), BAD_PACKS, ids=[b[0] for b in BAD_PACKS])
def test_bad_pack_errors_name_their_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         name: str, text: str, want: list[tuple[int, str]]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RulePackError) as e:
        load(path)
    errs = e.value.errors
    for line, fragment in want:
        assert any(x.startswith(f"line {line}: ") and fragment in x for x in errs), (line, fragment, errs)
    assert len(errs) == len(want), errs
    assert path in str(e.value)
    # the CLI: exit 2, each error printed with the file and its line
    assert main(["rules", "check", path]) == 2
    out = capsys.readouterr().out
    for line, _ in want:
        assert f"{path}: line {line}: " in out


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, """settings:
  pass_mak: 90
rules:
  - id: greeting
    severity: huge
    colour: red
  - id: brand_new
    section: nowhere
    check: require
    patterns: ["(["]
    threshold: 3
""")
    with pytest.raises(RulePackError) as e:
        load(path)
    errs = e.value.errors
    want = ["line 2: setting `pass_mak`",
            "line 4: rule 'greeting': unknown field `colour`",
            "line 4: rule 'greeting': severity 'huge'",
            "line 7: rule 'brand_new': missing `severity`",
            "line 7: rule 'brand_new': missing `message`",
            "line 7: rule 'brand_new': section 'nowhere'",
            "line 7: rule 'brand_new': pattern '(['",
            "line 7: rule 'brand_new': threshold"]
    for w in want:
        assert any(x.startswith(w) for x in errs), (w, errs)
    assert len(errs) == len(want), errs


def test_cli_rules_check_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "settings:\n  pass_mark: 85\n")
    assert main(["rules", "check", good]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["rules", "check", write(tmp_path, CENTER, "center.yaml")]) == 0
    capsys.readouterr()
    assert main(["rules", "check", str(tmp_path / "missing.yaml")]) == 2
    assert "file not found" in capsys.readouterr().out
    assert main(["rules", "list"]) == 0
    out = capsys.readouterr().out
    assert "ask_secret" in out and "greeting" in out
    assert main(["rules", "list", "--rules", good]) == 0
    capsys.readouterr()


def test_a_bad_pack_is_refused_before_anything_is_audited(tmp_path: Path) -> None:
    # values that used to load and then crash every call of a batch
    for text in ("settings:\n  dead_air_s: '30'\n", "rules:\n  - id: verify_numbers\n    min_digits: four\n",
                 "rules:\n  - id: greeting\n    where: {first_s: soon}\n", "settings: [pass_mark]\n",
                 "sections:\n  extra: 额外\n"):
        with pytest.raises(RulePackError):
            load(write(tmp_path, text))


def test_a_message_may_cite_only_values_its_rule_has(tmp_path: Path) -> None:
    # greeting has no threshold: citing one would fail at run time, so it is refused at load
    path = write(tmp_path, "rules:\n  - id: greeting\n    message: {zh: '低于{threshold}'}\n")
    with pytest.raises(RulePackError) as e:
        load(path)
    assert any("{threshold}" in x for x in e.value.errors), e.value.errors
    ok = write(tmp_path, "rules:\n  - id: greeting\n    message: {zh: '开场{first_s}秒内未问候'}\n",
               "ok.yaml")
    assert load(ok).rule("greeting").text("zh", load(ok).settings) == "开场15秒内未问候"


# ---- hostile packs: a center's file is written by people and may be shared -------------------
def test_patterns_run_in_linear_time(tmp_path: Path) -> None:
    # nested quantifiers: under `re` this backtracks exponentially (22 characters take 0.2 s,
    # each one more doubles it), so 5000 would never return; RE2 runs it in linear time.
    # Single-quoted YAML keeps Python's \u escapes as written: they mean what `re` made of them.
    path = write(tmp_path, "rules:\n  - id: nested\n    section: care\n    severity: minor\n"
                 "    deduction: 1\n    check: forbid\n    patterns: ['([\\u4e00-\\u9fff]+)+x$']\n"
                 "    message: {zh: x}\n")
    pack = load(path)
    long = "中" * 5000
    assert verdict(findings(BASE + [("agent", long)], pack=pack)["nested"]) == "pass"
    f = findings(BASE + [("agent", f"好的，{long}x")], pack=pack)["nested"]
    assert verdict(f) == "fail" and f.evidence[0].match == f"{long}x"  # offsets are characters


def test_yaml_aliases_are_refused_not_expanded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # "billion laughs": 9 levels of 9 aliases make a few hundred bytes name 9^9 strings; whatever
    # walks them (an error's repr, the fingerprint) grew `rules check` to 24 GB
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{b}: &{b} [{','.join(['*' + a] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(RulePackError) as e:
        load(path)
    assert e.value.errors[0] == "line 1: YAML anchors (&a) are not allowed in a rule pack"
    assert e.value.errors[1:] == [f"line {n}: YAML aliases (*{a}) are not allowed in a rule pack"
                                  for n, a in enumerate("abcdefgh", 2)]
    assert main(["rules", "check", path]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: 9 error(s)" and len(out) == 10


def test_an_oversized_pack_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, "settings:\n  pass_mark: 80\n" + "# padding\n" * 110_000)
    with pytest.raises(RulePackError) as e:
        load(path)
    assert e.value.errors == ["rule pack is 1075 KB, over the 1024 KB limit"]


def test_unreadable_pack_files_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("rules:\n  - id: greeting\n    extra_phrases: [早上好]\n".encode("gbk"))
    cases = {str(gbk): "not UTF-8 text (byte 0xd4 at offset 44); save the rule pack as UTF-8",
             str(tmp_path): "is a directory, not a rule pack file",
             str(tmp_path / "missing.yaml"): "file not found"}
    for path, problem in cases.items():
        with pytest.raises(RulePackError) as e:
            load(path)
        assert e.value.errors == [problem]
        assert main(["rules", "check", path]) == 2
        assert capsys.readouterr().out.splitlines() == [f"{path}: 1 error(s)", f"  {path}: {problem}"]
        # `audit check --rules` refuses it before touching the recording: one line, exit 2
        assert main(["check", str(tmp_path / "call.wav"), "--rules", path]) == 2
        err = capsys.readouterr().err
        assert problem in err and "Traceback" not in err
