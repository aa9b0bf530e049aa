"""Rule packs: merging a center's file, validation with line numbers, the CLI; scoring."""

from __future__ import annotations

from pathlib import Path

import pytest
from transcripts import BASE, audit, replace, verdict

from audit.cli import main
from audit.errors import RulePackError
from audit.rulepack import load


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "pack.yaml"
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_default_pack_cites_norms_and_sections() -> None:
    pack = load()
    ids = {r.id for r in pack.rules}
    for norm in ("answer_delay", "speech_rate", "dead_air", "greeting", "self_id", "offer_help",
                 "hold_before", "hold_after", "forbidden_phrase", "ask_secret", "abuse",
                 "ask_more", "farewell", "silent_call", "thanks_reply", "empathy", "retention"):
        assert norm in ids
    assert {r.section for r in pack.rules} == set(pack.sections) == {
        "professional", "communication", "care", "resolution"}
    assert all(r.source and r.message.get("zh") and r.message.get("en") for r in pack.rules)


def test_merge_settings_rules_and_lists(tmp_path: Path) -> None:
    pack = load(write(tmp_path, """
version: center-7
settings:
  speech_rate_max_cpm: 240
  pass_mark: 90
rules:
  - id: self_id
    extra_phrases: [幸福银行]
  - id: forbidden_phrase
    deduction: 20
    extra_categories:
      shirking: [这个我管不了]
  - id: survey
    enabled: true
  - id: say_bank_name
    section: communication
    severity: minor
    deduction: 1
    check: require
    phrases: [幸福银行]
    message: {zh: 未报银行名称, en: Bank name not said}
"""))
    assert pack.settings["speech_rate_max_cpm"] == 240 and pack.settings["dead_air_s"] == 30
    assert "幸福银行" in pack.rule("self_id").phrases and "工号" in pack.rule("self_id").phrases
    fp = pack.rule("forbidden_phrase")
    assert fp.deduction == 20 and "这个我管不了" in fp.categories["shirking"]
    assert "我也没办法" in fp.categories["shirking"]
    assert pack.rule("survey").enabled and pack.rule("say_bank_name").check == "require"
    assert "center-7" in pack.fingerprint()
    f, s, _ = audit(replace(BASE, 2, "这个我管不了。"), pack=pack)
    assert verdict(f["forbidden_phrase"]) == "fail" and f["forbidden_phrase"].deduction == 20
    assert verdict(f["say_bank_name"]) == "fail" and verdict(f["survey"]) == "fail"
    assert not s.passed  # 100 - 20 - 1 - 2 = 77 < 90


def test_disabled_rule_is_not_evaluated(tmp_path: Path) -> None:
    pack = load(write(tmp_path, "rules:\n  - id: name_use\n    enabled: false\n"))
    f, _, _ = audit(BASE, pack=pack)
    assert "name_use" not in f


def test_every_error_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, """rules:
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
    want = ["line 2: rule 'greeting': unknown field `colour`",
            "line 2: rule 'greeting': severity 'huge'",
            "line 5: rule 'brand_new': missing `severity`",
            "line 5: rule 'brand_new': missing `message`",
            "line 5: rule 'brand_new': section 'nowhere'",
            "line 5: rule 'brand_new': pattern '(['",
            "line 5: rule 'brand_new': threshold"]
    for w in want:
        assert any(x.startswith(w) for x in errs), (w, errs)
    assert len(errs) == len(want)


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "settings:\n  pass_mark: 80\nrules: [\n  - id: x\n")
    with pytest.raises(RulePackError) as e:
        load(path)
    assert e.value.errors[0].startswith("line ") and "YAML" in e.value.errors[0]


def test_cli_rules_check_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "settings:\n  pass_mark: 85\n")
    assert main(["rules", "check", good]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: greeting\n    severity: huge\n", encoding="utf-8")
    assert main(["rules", "check", str(bad)]) == 2
    assert "line 2" in capsys.readouterr().out
    assert main(["rules", "list"]) == 0
    assert "ask_secret" in capsys.readouterr().out
    assert main(["rules", "check", str(tmp_path / "missing.yaml")]) == 2


def test_score_is_100_minus_deductions_and_sections_add_up() -> None:
    call = replace(replace(BASE, 2, "这是规定，我有什么办法。"), 9, "不客气。")
    f, s, _ = audit(call)
    lost = sum(x.deduction for x in f.values())
    assert lost == 15 + 10 + 3 + 2  # forbidden, farewell, verify_numbers, confirm_need
    assert s.score == 100 - lost and sum(s.sections.values()) == lost
    assert s.sections["communication"] == 25 and not s.passed  # 70 < 80
    assert all(x.deduction == 0 for x in f.values() if not x.applicable or x.passed)


def test_fatal_fails_the_call_whatever_the_score(tmp_path: Path) -> None:
    pack = load(write(tmp_path, "rules:\n  - id: ask_secret\n    deduction: 1\n"))
    f, s, _ = audit(replace(BASE, 7, "请把您的银行卡密码告诉我。请问还有什么可以帮您？"), pack=pack)
    assert verdict(f["ask_secret"]) == "fail"
    assert s.score == 99 and s.fatal and not s.passed


def test_pass_mark_is_a_setting(tmp_path: Path) -> None:
    call = replace(BASE, 9, "不客气。")  # farewell -10 -> 90
    assert audit(call)[1].passed
    pack = load(write(tmp_path, "settings:\n  pass_mark: 95\n"))
    assert not audit(call, pack=pack)[1].passed


def test_mono_unknown_speaker_is_never_fatal() -> None:
    call = replace(BASE, 2, "请把您的银行卡密码告诉我。")
    f, s, _ = audit(call, stereo=False)  # every utterance role "unknown"
    sec = f["ask_secret"]
    assert verdict(sec) == "fail" and sec.severity == "major" and "needs review" in sec.detail
    assert not s.fatal
    f, s, _ = audit(call)  # the same words on the agent's channel of a stereo call: fatal
    assert f["ask_secret"].severity == "fatal" and s.fatal
