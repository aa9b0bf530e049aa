"""Personal data without the model: finding it (privacy/detect.py) on the labelled sets and
on each kind's own examples, masking it (privacy/mask.py) in text, results and audio
(privacy/audio.py), the rule pack's `entities:` and their validation, and every way masked
text leaves the auditor: the database setting and `audit redact`, exports, report pages and
the review workbench.

Fast: hand-built results and the stored audit of tests/data/results/demo_call with a mobile
number put into its words; a second of silence as the recording."""

from __future__ import annotations

import copy
import json
import re
import sqlite3
import wave
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callaudit.audio.decode import SAMPLE_RATE, Audio
from callaudit.cli import main
from callaudit.errors import AuditError, RulePackError
from callaudit.parts import PrivacyReport
from callaudit.privacy.audio import TONE_LEVEL, mask_audio, masked_audio, spans_of
from callaudit.privacy.detect import Entity, detect
from callaudit.privacy.labelled import evaluate, load_cases
from callaudit.privacy.mask import mask_utterances, privacy_report, redact
from callaudit.records import CallResult, Utterance
from callaudit.results import reviews, store
from callaudit.results.store import CallMeta, connect, redaction, stored_redaction
from callaudit.rules.pack import RulePack, load
from tests.helpers import DATA, copy_database, dump_database, record, record_of, stored_result
from tests.helpers.results import result as small_result

PII = DATA / "pii"
NUMBER = "13957214806"  # the mobile number put into the calls below
MASKED = "139****4806"  # ... as the mobile kind masks it (keep [3, 4])
WINDOW = 5  # five digits of a number in a row identify too much of it (privacy/labelled.py)
CN = str.maketrans("零〇○一幺二两三四五六七八九", "00011223456789")
PASSWORD = "password123"


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load()


def found(utts: list[Utterance], pack: RulePack) -> list[Entity]:
    s = pack.settings
    return detect(utts, pack.entities, s.number_join_gap_s, s.redact_context_s)


def said(text: str, role: str = "customer", start: float = 0.0, end: float = 4.0,
         channel: int = 1) -> Utterance:
    return Utterance(channel=channel, start=start, end=end, text=text, role=role)


def leaks(text: str, number: str = NUMBER) -> list[str]:
    """The 5-digit windows of `number` in `text`, its digits read as Arabic (一三九 too) and
    spaces and dashes between digits dropped (139 5721 4806)."""
    flat = re.sub(r"(?<=\d)[\s\-－—，、]+(?=\d)", "", text.translate(CN))
    return [number[i:i + WINDOW] for i in range(len(number) - WINDOW + 1)
            if number[i:i + WINDOW] in flat]


def masked_text(texts: list[str], pack: RulePack) -> list[str]:
    utts = [said(t, start=5.0 * i, end=5.0 * i + 4) for i, t in enumerate(texts)]
    return mask_utterances(utts, found(utts, pack))


def write_pack(tmp_path: Path, text: str, name: str = "pack.yaml") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


# --- 1. the labelled sets ---------------------------------------------------------------------
def test_labelled_set_is_found_and_masked(pack: RulePack) -> None:
    s = evaluate(load_cases(PII / "labelled.yaml"), pack)
    t = s.total
    assert t.expected >= 100 and set(s.by_type) >= {"mobile", "landline", "id_card", "bank_card",
                                                     "code", "email", "name", "number"}
    assert t.precision >= 0.97 and t.recall >= 0.97, s.errors
    assert t.leaked == 0, s.errors
    low = {k: round(v.recall, 3) for k, v in s.by_type.items() if v.expected and v.recall < 0.9}
    assert not low, (low, s.errors)


def test_heldout_set_is_found_and_masked(pack: RulePack) -> None:
    s = evaluate(load_cases(PII / "heldout.yaml"), pack)
    t = s.total
    assert t.expected >= 40
    assert t.precision >= 0.9 and t.recall >= 0.9, s.errors
    assert t.leaked <= 2, s.errors  # one spot, two entities: 我姓王，三横一竖那个王


# --- 2. each kind's own examples --------------------------------------------------------------
_KINDS = [k for k in load().entities if k.examples]


@pytest.mark.parametrize("kind", _KINDS, ids=[k.id for k in _KINDS])
def test_kind_finds_its_examples(kind: Any, pack: RulePack) -> None:
    assert kind.examples.get("find"), f"{kind.id}: no examples to find"
    for text in kind.examples["find"]:
        types = [e.type for e in found([said(text)], pack)]
        assert kind.type in types, (kind.id, text, types)
    for text in kind.examples.get("ignore", []):
        types = [e.type for e in found([said(text)], pack)]
        assert kind.type not in types, (kind.id, text, types)


def test_every_default_kind_has_examples(pack: RulePack) -> None:
    assert [k.id for k in pack.entities if not k.examples.get("find")] == []


# --- 3. masked text keeps its length and shape ------------------------------------------------
@pytest.mark.parametrize(("text", "want"), [
    ("一三八一二三四五六七八", "一三八****五六七八"),
    ("我的手机号是13812345678。", "我的手机号是138****5678。"),
    ("手机是138-1234-5678。", "手机是138-****-5678。"),
    ("幺三八，一二三四，五六七八", "幺三八，****，五六七八"),
    ("身份证号是11010519491231002X。", "身份证号是******************。"),
    ("卡号是6222 0212 3456 7893。", "卡号是**** **** **** 7893。"),
    ("我叫王晓明。", "我叫＊＊＊。"),  # letters and Han: ＊, not a digit to the read-back
    ("密码是Wx2023ab。", "密码是＊＊****＊＊。"),
])
def test_mask_keeps_length_and_shape(text: str, want: str, pack: RulePack) -> None:
    out = masked_text([text], pack)[0]
    assert out == want
    assert len(out) == len(text)


def test_mask_as_label_from_an_override(tmp_path: Path) -> None:
    path = write_pack(tmp_path, "entities:\n  - id: id_card\n    mask: {as: label}\n")
    over = load(path)
    assert next(k for k in over.entities if k.id == "id_card").as_label
    out = masked_text(["身份证号是11010519491231002X。", "手机13812345678。"], over)
    assert out == ["身份证号是[身份证号]。", "手机138****5678。"]  # other kinds as before


# --- 4. redact(result) ------------------------------------------------------------------------
def hand_result() -> dict[str, Any]:
    """An audit.call/1-like result: a mobile number said by the caller and read back, quoted
    in a finding's evidence, match, detail and detail_args."""
    quote = f"我的手机号是{NUMBER}。"
    return {
        "schema": "audit.call/1", "file": "/rec/pii.wav", "duration_s": 20.0, "score": 100.0,
        "utterances": [
            {"role": "agent", "start": 1.0, "end": 3.0, "text": "请问您的手机号是多少？", "channel": 0},
            {"role": "customer", "start": 3.5, "end": 7.5, "text": quote, "channel": 1},
            {"role": "agent", "start": 8.0, "end": 11.0, "text": "好的，一三九 五七二一 四八零六，对吗？",
             "channel": 0},
            {"role": "customer", "start": 11.5, "end": 12.0, "text": "对。", "channel": 1},
        ],
        "findings": [{
            "rule": "verify_numbers", "section": "professional", "severity": "major",
            "applicable": True, "passed": True, "deduction": 0.0, "message": "未复述客户提供的号码",
            "evidence": [{"start": 3.5, "end": 7.5, "role": "customer", "text": quote,
                          "match": NUMBER}],
            "detail": f"说了“{NUMBER}”（模式）", "review": False, "detail_id": "found_pattern",
            "detail_args": {"match": NUMBER, "tail": NUMBER[3:]}, "review_id": ""}],
        "versions": {"audit": "test", "model": "none", "rules": "test"},
    }


def test_redact_masks_every_text_of_a_result(pack: RulePack) -> None:
    result = hand_result()
    before = copy.deepcopy(result)
    assert leaks(json.dumps(result, ensure_ascii=False))  # the check can see the number
    out = redact(result, pack)
    dump = json.dumps(out, ensure_ascii=False)
    assert leaks(dump) == [], dump
    assert result == before  # the input is left as it was
    assert [(u["role"], u["start"], u["end"], u["channel"]) for u in out["utterances"]] == \
        [(u["role"], u["start"], u["end"], u["channel"]) for u in before["utterances"]]
    assert out["utterances"][1]["text"] == f"我的手机号是{MASKED}。"
    assert out["utterances"][2]["text"] == "好的，一三九 **** 四八零六，对吗？"
    f = out["findings"][0]
    assert f["evidence"][0]["text"] == f"我的手机号是{MASKED}。"
    assert f["evidence"][0]["match"] == MASKED
    assert f["detail_args"]["match"] == MASKED and NUMBER[3:] not in f["detail_args"]["tail"]
    assert (f["evidence"][0]["start"], f["evidence"][0]["end"]) == (3.5, 7.5)
    p = out["privacy"]
    assert p["redacted"] is True and p["counts"] == {"mobile": 2}
    assert {e["role"] for e in p["entities"]} == {"customer", "agent"}
    assert out["file"] == result["file"] and out["versions"] == result["versions"]
    again = redact(out, pack)
    assert again == out
    assert json.dumps(again, ensure_ascii=False) == dump


def test_redact_without_personal_data_changes_no_text(pack: RulePack) -> None:
    result = hand_result()
    result["utterances"] = [u for u in result["utterances"] if u["role"] == "agent"][:1]
    result["findings"] = []
    out = redact(result, pack)
    assert out["utterances"] == result["utterances"]
    assert out["privacy"]["counts"] == {} and out["privacy"]["redacted"] is True


# --- 5. a number read in parts ----------------------------------------------------------------
def test_number_read_in_parts_is_one_entity(pack: RulePack) -> None:
    gap = pack.settings.number_join_gap_s
    utts = [said("我的手机号是一三九", end=2.0), said("五七二一", start=2.0 + gap * 0.5, end=4.0),
            said("四八零六。", start=4.0 + gap * 0.9, end=8.0)]
    es = found(utts, pack)
    assert [(e.type, e.value, e.role) for e in es] == [("mobile", NUMBER, "customer")]
    assert [p.utt for p in es[0].pieces] == [0, 1, 2]
    texts = mask_utterances(utts, es)
    assert texts == ["我的手机号是一三九", "****", "四八零六。"]


def test_number_parts_after_a_long_pause_are_not_joined(pack: RulePack) -> None:
    gap = pack.settings.number_join_gap_s
    utts = [said("我的手机号是一三九", end=2.0), said("五七二一", start=2.0 + gap + 0.5, end=6.0 + gap),
            said("四八零六。", start=7.0 + 2 * gap, end=9.0 + 2 * gap)]
    assert [e for e in found(utts, pack) if e.type == "mobile"] == []
    assert all(len(e.pieces) == 1 for e in found(utts, pack))


def test_number_parts_of_two_speakers_are_not_joined(pack: RulePack) -> None:
    utts = [said("我的手机号是一三九五七", end=2.0),
            said("二一四八零六", role="agent", start=2.2, end=3.5, channel=0)]
    es = found(utts, pack)
    assert [e for e in es if e.type == "mobile"] == []
    assert all(len({utts[p.utt].role for p in e.pieces}) == 1 for e in es)


# --- 6, 7. context --------------------------------------------------------------------------
def test_the_other_partys_question_is_context(pack: RulePack) -> None:
    asked = [said("请说一下验证码", role="agent", start=0.0, end=2.0, channel=0),
             said("四八二七一五", start=2.5, end=4.0)]
    es = found(asked, pack)
    assert [(e.type, e.value, e.role) for e in es] == [("code", "482715", "customer")]
    assert mask_utterances(asked, es)[1] == "******"
    not_asked = [said("请说一下", role="agent", start=0.0, end=2.0, channel=0),
                 said("四八二七一五", start=2.5, end=4.0)]
    assert found(not_asked, pack) == []
    assert found([said("四八二七一五")], pack) == []  # six digits alone: no kind


def test_a_question_long_before_is_no_context(pack: RulePack) -> None:
    late = pack.settings.redact_context_s + 5
    utts = [said("请说一下验证码", role="agent", start=0.0, end=2.0, channel=0),
            said("四八二七一五", start=2.0 + late, end=4.0 + late)]
    assert found(utts, pack) == []


def test_context_word_heard_by_sound(pack: RulePack) -> None:
    es = found([said("验证马是四八二七一五")], pack)
    assert [(e.type, e.value) for e in es] == [("code", "482715")]


# --- 8. the pack's entities -------------------------------------------------------------------
BAD_PACK = """\
entities:
  - id: bad_check
    label: {zh: 坏一, en: bad one}
    digits: [6, 8]
    check: [nope]
  - id: bad_pattern
    label: {zh: 坏二, en: bad two}
    pattern: '(?<=卡号)[0-9]+'
  - id: bad_digits
    label: {zh: 坏三, en: bad three}
    digits: [5, 2]
  - id: bad_field
    label: {zh: 坏四, en: bad four}
    digits: [6, 8]
    colour: red
"""


def test_bad_entities_are_each_reported_with_their_line(tmp_path: Path) -> None:
    path = write_pack(tmp_path, BAD_PACK)
    with pytest.raises(RulePackError) as e:
        load(path)
    errs = e.value.errors
    want = [("line 2:", "bad_check", "'nope'"), ("line 6:", "bad_pattern", "lookaround"),
            ("line 9:", "bad_digits", "[MIN, MAX]"), ("line 12:", "bad_field", "`colour`")]
    for line, kind, what in want:
        assert any(x.startswith(line) and kind in x and what in x for x in errs), (line, kind, errs)
    assert len(errs) == 4, errs
    assert path in str(e.value)


def test_bad_entities_fail_rules_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_pack(tmp_path, BAD_PACK)
    assert main(["rules", "check", path]) != 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "bad_check" in text and "bad_field" in text


MEMBER = """\
entities:
  - id: member_no
    label: {zh: 会员号, en: member number}
    digits: [10, 10]
    context: [会员号]
"""
MEMBER_SAID = "我的会员号是一二三四五六七八九零。"


def test_an_added_kind_is_in_the_pack_and_its_number_masked(tmp_path: Path) -> None:
    over = load(write_pack(tmp_path, MEMBER))
    kind = next(k for k in over.entities if k.id == "member_no")
    assert (kind.type, kind.digits, kind.context) == ("member_no", (10, 10), ["会员号"])
    out = masked_text([MEMBER_SAID], over)[0]
    assert out == "我的会员号是**********。"


def test_an_added_kind_is_found_when_the_catch_all_is_off(tmp_path: Path) -> None:
    over = load(write_pack(tmp_path, MEMBER + "  - {id: number, enabled: false}\n"))
    es = found([said(MEMBER_SAID)], over)
    assert [(e.kind, e.type, e.value) for e in es] == [("member_no", "member_no", "1234567890")]
    assert found([said("订单号一二三四五六七八九零。")], over) == []  # context needed


def test_an_added_kind_is_found(tmp_path: Path) -> None:
    over = load(write_pack(tmp_path, MEMBER))
    es = found([said(MEMBER_SAID)], over)
    assert [(e.kind, e.type) for e in es] == [("member_no", "member_no")]


def test_an_override_disables_a_kind(tmp_path: Path, pack: RulePack) -> None:
    text = "好的王先生。"
    assert [e.kind for e in found([said(text, role="agent")], pack)] == ["name_addressed"]
    over = load(write_pack(tmp_path, "entities:\n  - {id: name_addressed, enabled: false}\n"))
    assert not next(k for k in over.entities if k.id == "name_addressed").enabled
    assert found([said(text, role="agent")], over) == []
    assert [e.type for e in found([said("我叫王晓明。")], over)] == ["name"]  # the others stay


# --- 9. masked audio --------------------------------------------------------------------------
def noise_audio(seconds: float = 2.0, channels: int = 2) -> Audio:
    rng = np.random.default_rng(7)
    n = int(seconds * SAMPLE_RATE)
    return Audio(path="/rec/x.wav", source_rate=SAMPLE_RATE, source_channels=channels,
                 channels=[(0.5 * rng.standard_normal(n)).clip(-1, 1).astype(np.float32)
                           for _ in range(channels)])


def test_mask_audio_puts_a_tone_over_the_spans_on_every_channel() -> None:
    audio = noise_audio()
    before = [c.copy() for c in audio.channels]
    out = mask_audio(audio, [(0.5, 1.0)], tone_hz=1000.0)
    i, j = int(0.5 * SAMPLE_RATE), int(1.0 * SAMPLE_RATE)
    for c, orig in zip(out.channels, before, strict=True):
        assert np.array_equal(c[:i], orig[:i]) and np.array_equal(c[j:], orig[j:])
        span = c[i:j]
        assert np.max(np.abs(span)) == pytest.approx(TONE_LEVEL, rel=1e-3)
        mid = span[200:-200]  # past the fades: the tone itself
        t = (np.arange(j - i) / SAMPLE_RATE)[200:-200]
        assert np.allclose(mid, TONE_LEVEL * np.sin(2 * np.pi * 1000.0 * t), atol=1e-5)
        assert abs(span[0]) < 1e-3  # faded in
    assert np.array_equal(out.channels[0][i:j], out.channels[1][i:j])
    for c, orig in zip(audio.channels, before, strict=True):  # the input is not modified
        assert np.array_equal(c, orig)
    assert out.duration == audio.duration and out.path == audio.path


def test_mask_audio_silence_and_edges() -> None:
    audio = noise_audio(1.0, channels=1)
    out = mask_audio(audio, [(-0.2, 0.25), (0.9, 5.0), (0.6, 0.6)], tone_hz=0)
    c, orig = out.channels[0], audio.channels[0]
    q = int(0.25 * SAMPLE_RATE)
    assert not c[:q].any() and not c[int(0.9 * SAMPLE_RATE):].any()
    assert np.array_equal(c[q:int(0.9 * SAMPLE_RATE)], orig[q:int(0.9 * SAMPLE_RATE)])
    assert len(c) == len(orig)


def with_privacy(d: dict[str, Any]) -> CallResult:
    """A call carrying the privacy report of the (hand-made) result `d`."""
    from dataclasses import replace

    return replace(record(small_result()), privacy=PrivacyReport.from_json(d.get("privacy")))


def test_spans_of_pads_and_merges() -> None:
    def entity(*pieces: tuple[float, float]) -> dict[str, Any]:
        return {"type": "phone", "start": pieces[0][0], "end": pieces[-1][1],
                "pieces": [{"start": a, "end": b} for a, b in pieces]}

    result = with_privacy({"privacy": {"entities": [
        entity((10.0, 11.0)), entity((1.0, 2.0), (2.4, 3.0)), entity((0.1, 0.5))]}})
    spans = spans_of(result, 0.3)
    assert [(round(a, 6), round(b, 6)) for a, b in spans] == [(0.0, 3.3), (9.7, 11.3)]
    assert spans_of(result, 0.0) == [(0.1, 0.5), (1.0, 2.0), (2.4, 3.0), (10.0, 11.0)]
    assert spans_of(with_privacy({}), 0.3) == [] and spans_of(with_privacy({"privacy": None}), 0.3) == []



def test_page_audio_is_masked_where_the_number_was_said(pack: RulePack) -> None:
    out = with_privacy(redact(hand_result(), pack))
    audio = noise_audio(14.0)
    page = masked_audio(audio, out, pack.settings)
    spans = spans_of(out, pack.settings.redact_audio_pad_s)
    assert len(spans) == 2 and spans[0][0] < 7.5 and spans[1][1] > 10.0  # caller's, read-back
    inside = np.zeros(len(audio.channels[0]), bool)
    for a, b in spans:
        seg = slice(int(a * SAMPLE_RATE) + 100, int(b * SAMPLE_RATE) - 100)
        inside[int(a * SAMPLE_RATE):int(np.ceil(b * SAMPLE_RATE))] = True
        for c in page.channels:
            assert np.max(np.abs(c[seg])) <= TONE_LEVEL + 1e-6
    for c, orig in zip(page.channels, audio.channels, strict=True):
        assert np.array_equal(c[~inside], orig[~inside])
        assert not np.array_equal(c, orig)


# --- the database: a plain one, made as a batch with --no-redact would --------------------------
def silence_wav(path: Path, seconds: float = 1.0) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(b"\0\0" * 2 * int(seconds * SAMPLE_RATE))
    return path


def pii_call(file: str, pack: RulePack, report: bool = True) -> dict[str, Any]:
    """demo_call's stored audit with the caller giving NUMBER and the agent reading it back;
    the verify_numbers finding, failed, quotes it. `report`: with the pipeline's (unmasked) privacy
    report, as a result of today's auditor has; without, as one from before it."""
    d = stored_result("demo_call")
    r = d["result"]
    r["file"] = file
    utts = r["utterances"]
    utts[1]["text"] = f"你好，我的手机号是{NUMBER}。"
    utts[2]["text"] = "好的，一三九，五七二一，四八零六，对吗？"
    f = next(f for f in r["findings"] if f["rule"] == "verify_numbers")
    f.update(passed=False, deduction=5.0,
             evidence=[{"start": utts[1]["start"], "end": utts[1]["end"], "role": "customer",
                        "text": utts[1]["text"], "match": NUMBER}],
             detail=f"说了“{NUMBER}”（模式）", detail_id="found_pattern", detail_args={"match": NUMBER})
    if report:
        es = found([Utterance.from_json(u) for u in utts], pack)
        r["privacy"] = privacy_report(es, redacted=False).to_json()
    return d


SHA = "a" * 64


def add_pii_call(conn: sqlite3.Connection, file: str, pack: RulePack, report: bool = True) -> None:
    d = pii_call(file, pack, report)
    store.write_result(conn, CallMeta(file=file, sha256=SHA, call_id="pii1", agent_id="A1",
                                      day="2026-11-30"), record_of(d))


@pytest.fixture(scope="module")
def plain_template(tmp_path_factory: pytest.TempPathFactory, pack: RulePack) -> Path:
    """A plain database (transcripts as said): the pii call, its recording (1 s of silence),
    and an admin account for the workbench."""
    from callaudit.review import accounts

    tmp = tmp_path_factory.mktemp("pii_db")
    wav = silence_wav(tmp / "pii1.wav")
    db = tmp / "plain.sqlite"
    conn = connect(db)
    add_pii_call(conn, str(wav), pack)
    assert redaction(conn, False) is False
    reviews.add_user(conn, "admin", "admin", accounts.hash_password(PASSWORD), None, "test")
    conn.close()
    return db


@pytest.fixture
def plain_db(plain_template: Path, tmp_path: Path) -> str:
    return copy_database(plain_template, tmp_path / "plain.sqlite")


def dump(db: str) -> str:
    return dump_database(db)


def setting(db: str) -> str | None:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'transcripts'").fetchone()
        return None if row is None else str(row[0])
    finally:
        conn.close()


def test_the_plain_database_holds_the_number(plain_db: str) -> None:
    assert leaks(dump(plain_db))  # what the tests below must not find after masking


# --- 10. the database setting and `audit redact` ----------------------------------------------
def test_a_new_database_stores_masked_transcripts(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    conn = connect(path)
    assert stored_redaction(conn) is None
    assert redaction(conn, None) is True
    assert conn.execute("SELECT value FROM meta WHERE key = 'transcripts'").fetchone()[0] == "masked"
    assert stored_redaction(conn) is True
    assert redaction(conn, True) is True and redaction(conn, None) is True
    with pytest.raises(AuditError, match=re.escape(str(path))):
        redaction(conn, False)
    conn.close()


def test_a_new_database_told_not_to_mask_stays_plain(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite"
    conn = connect(path)
    assert redaction(conn, False) is False
    assert conn.execute("SELECT value FROM meta WHERE key = 'transcripts'").fetchone()[0] == "plain"
    assert redaction(conn, None) is False
    with pytest.raises(AuditError, match=re.escape(str(path)) + ".*audit redact --db"):
        redaction(conn, True)
    conn.close()


def test_a_database_from_before_the_setting_is_plain(tmp_path: Path, pack: RulePack) -> None:
    conn = connect(tmp_path / "old.sqlite")
    add_pii_call(conn, "/rec/pii1.wav", pack, report=False)
    assert stored_redaction(conn) is None
    assert redaction(conn, None) is False
    assert stored_redaction(conn) is False
    with pytest.raises(AuditError):
        redaction(conn, True)
    conn.close()


def test_audit_redact_masks_what_a_database_holds(plain_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["redact", "--db", plain_db]) == 0
    assert "masked 1 calls" in capsys.readouterr().out
    conn = sqlite3.connect(plain_db)
    (rj,) = conn.execute("SELECT result_json FROM calls WHERE sha256 = ?", (SHA,)).fetchone()
    result = json.loads(rj)
    ev = conn.execute("SELECT evidence_text, evidence_json FROM findings WHERE rule = 'verify_numbers'"
                      ).fetchone()
    texts = [t for (t,) in conn.execute("SELECT text FROM utterances ORDER BY idx")]
    (setting,) = conn.execute("SELECT value FROM meta WHERE key = 'transcripts'").fetchone()
    conn.close()
    assert setting == "masked"
    assert result["privacy"]["redacted"] is True and result["privacy"]["counts"]["mobile"] == 2
    assert result["utterances"][1]["text"] == f"你好，我的手机号是{MASKED}。"
    assert MASKED in ev[0] and leaks(ev[0] + ev[1]) == []
    assert texts[1] == f"你好，我的手机号是{MASKED}。" and texts[2] == "好的，一三九，****，四八零六，对吗？"
    assert len(texts) == len(result["utterances"])
    assert leaks(dump(plain_db)) == []
    # masked now: a batch told --no-redact is refused, and a second run masks nothing
    conn = connect(plain_db)
    with pytest.raises(AuditError):
        redaction(conn, False)
    conn.close()
    assert main(["redact", "--db", plain_db]) == 0
    assert "masked 0 calls" in capsys.readouterr().out



@pytest.mark.parametrize(("flag", "want"), [([], None), (["--redact"], True), (["--no-redact"], False)])
def test_batch_redact_flags(flag: list[str], want: bool | None) -> None:
    from callaudit.cli.parser import build_parser

    assert build_parser().parse_args(["batch", "calls", "--db", "x.sqlite", *flag]).redact is want


def test_batch_sets_or_obeys_the_database(plain_db: str, tmp_path: Path) -> None:
    """The batch asks the database before it audits anything (an empty folder: no model)."""
    from callaudit.batch.jobs import BatchOptions
    from callaudit.batch.pool import run

    empty = tmp_path / "calls"
    empty.mkdir()
    new = str(tmp_path / "new.sqlite")
    run(str(empty), BatchOptions(db=new))
    assert setting(new) == "masked"  # a new database masks
    with pytest.raises(AuditError, match="never mixes"):
        run(str(empty), BatchOptions(db=new, redact=False))
    with pytest.raises(AuditError, match=re.escape(plain_db) + ".*audit redact --db"):
        run(str(empty), BatchOptions(db=plain_db, redact=True))
    run(str(empty), BatchOptions(db=plain_db))  # its own setting: plain
    assert setting(plain_db) == "plain"


# --- 11. exports ------------------------------------------------------------------------------
def xlsx_text(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return "\n".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "xlsx"])
def test_export_redact_holds_no_number(fmt: str, plain_db: str, tmp_path: Path) -> None:
    out = tmp_path / f"calls.{fmt}"
    assert main(["export", "--db", plain_db, "--format", fmt, "--out", str(out), "--redact"]) == 0
    text = xlsx_text(out) if fmt == "xlsx" else out.read_text(encoding="utf-8-sig")
    assert leaks(text) == []
    if fmt == "jsonl":
        (call,) = [json.loads(line) for line in text.splitlines()]
        assert call["privacy"]["redacted"] is True
        assert call["utterances"][1]["text"] == f"你好，我的手机号是{MASKED}。"
    if fmt == "xlsx":
        assert MASKED in text  # the failed-findings sheet quotes the masked evidence and detail
    if fmt == "csv":
        import csv
        import io

        (row,) = list(csv.DictReader(io.StringIO(text)))
        assert "mobile:2" in row["personal_data"].split(), row["personal_data"]


def test_export_without_redact_of_a_plain_database_holds_the_number(plain_db: str, tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    assert main(["export", "--db", plain_db, "--format", "jsonl", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert NUMBER in text and leaks(text)
    assert json.loads(text)["privacy"]["redacted"] is False


def test_export_of_a_masked_database_is_masked_without_asking(plain_db: str, tmp_path: Path) -> None:
    assert main(["redact", "--db", plain_db]) == 0
    out = tmp_path / "calls.jsonl"
    assert main(["export", "--db", plain_db, "--format", "jsonl", "--out", str(out)]) == 0
    assert leaks(out.read_text(encoding="utf-8")) == []



def test_export_redact_counts_personal_data_of_an_old_database(tmp_path: Path, pack: RulePack) -> None:
    import csv
    import io

    db = str(tmp_path / "old.sqlite")
    conn = connect(db)
    add_pii_call(conn, "/rec/pii1.wav", pack, report=False)
    conn.close()
    out = tmp_path / "calls.csv"
    assert main(["export", "--db", db, "--format", "csv", "--out", str(out), "--redact"]) == 0
    (row,) = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert "mobile:2" in row["personal_data"].split(), row["personal_data"]


# --- 12. report pages -------------------------------------------------------------------------
def page_text(path: Path) -> str:
    """A page without its embedded audio (base64 is not what the page says)."""
    html = path.read_text(encoding="utf-8")
    return re.sub(r'data:audio/ogg;base64,[^"]*', "data:audio/ogg;base64,", html)


def links(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', html)


def test_report_redact_dashboard_pages(plain_db: str, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    assert main(["report", "--db", plain_db, "--redact", "-o", str(out)]) == 0
    pages = [out, *sorted((tmp_path / "page_calls").glob("*.html"))]
    assert len(pages) == 2, pages
    call_page = pages[1].read_text(encoding="utf-8")
    assert 'src="data:audio/ogg;base64,' in call_page  # the audio embedded (masked), not linked
    assert MASKED in call_page
    for p in pages:
        text = page_text(p)
        assert leaks(text) == [], p
        assert not [x for x in links(text) if ".wav" in x], p


def test_report_redact_call_page(plain_db: str, tmp_path: Path) -> None:
    out = tmp_path / "call.html"
    assert main(["report", "--db", plain_db, "--call", "pii1", "--redact", "--link-audio",
                 "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert 'src="data:audio/ogg;base64,' in html  # masked audio is embedded even with --link-audio
    text = page_text(out)
    assert MASKED in text and leaks(text) == []
    assert not [x for x in links(text) if ".wav" in x]


def test_report_without_redact_of_a_plain_database_shows_the_number(plain_db: str, tmp_path: Path) -> None:
    out = tmp_path / "call.html"
    assert main(["report", "--db", plain_db, "--call", "pii1", "--link-audio", "-o", str(out)]) == 0
    text = page_text(out)
    assert leaks(text)
    assert [x for x in links(text) if x.endswith("pii1.wav")]


# --- 13. the workbench ------------------------------------------------------------------------
def logged_in(db: str, **kw: Any) -> Any:
    from callaudit.review.server import create_app

    app = create_app(db, **kw)
    app.config["WTF_CSRF_ENABLED"] = False
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = "10.9.9.1"
    m = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
    data = {"name": "admin", "password": PASSWORD, **({"csrf_token": m.group(1)} if m else {})}
    assert c.post("/login", data=data).status_code == 302
    return c


@pytest.mark.parametrize("how", ["serve --redact", "masked database"])
def test_workbench_shows_masked_text_and_plays_audio(how: str, plain_db: str) -> None:
    if how == "masked database":
        assert main(["redact", "--db", plain_db]) == 0
        c = logged_in(plain_db)
    else:
        c = logged_in(plain_db, redact=True)
    page = c.get(f"/calls/{SHA}")
    assert page.status_code == 200
    assert MASKED in page.text and leaks(page.text) == []
    assert f"/calls/{SHA}/audio" in page.text
    audio = c.get(f"/calls/{SHA}/audio")
    assert audio.status_code == 200 and audio.mimetype == "audio/ogg"
    assert audio.data[:4] == b"OggS"


def test_workbench_without_redact_of_a_plain_database_shows_the_number(plain_db: str) -> None:
    page = logged_in(plain_db).get(f"/calls/{SHA}")
    assert page.status_code == 200 and leaks(page.text)


# --- review findings --------------------------------------------------------------------------
def call_of(*lines: tuple[str, str, float, float]) -> dict[str, Any]:
    """A result holding only utterances: (role, text, start, end) each."""
    return {"schema": "audit.call/1", "file": "/rec/x.wav", "findings": [], "versions": {},
            "utterances": [{"role": r, "start": a, "end": b, "text": t, "channel": int(r != "agent")}
                           for r, t, a, b in lines]}


def test_redact_masks_utterances_quoted_in_metrics(pack: RulePack) -> None:
    result = hand_result()
    quote, back = result["utterances"][1]["text"], result["utterances"][2]["text"]
    result["metrics"] = {
        "response_latency": [{"start": 7.5, "end": 8.0, "duration_s": 0.5, "text": back}],
        "interruptions": [{"start": 3.5, "end": 4.0, "duration_s": 0.5, "text": quote}],
        "holds": [{"start": 4.0, "end": 7.0, "duration_s": 3.0, "kind": "hold", "text": quote}],
        "dead_air": [{"start": 4.0, "end": 7.0, "duration_s": 3.0, "kind": "dead_air", "text": back}],
        "agent_level_dbfs": -20.0,
    }
    assert len(leaks(json.dumps(result["metrics"], ensure_ascii=False))) == len(NUMBER) - WINDOW + 1
    out = redact(result, pack)
    dump = json.dumps(out, ensure_ascii=False)
    assert leaks(dump) == [], dump
    m = out["metrics"]
    assert m["interruptions"][0]["text"] == m["holds"][0]["text"] == f"我的手机号是{MASKED}。"
    back_masked = "好的，一三九 **** 四八零六，对吗？"
    assert m["response_latency"][0]["text"] == m["dead_air"][0]["text"] == back_masked
    assert m["agent_level_dbfs"] == -20.0


@pytest.mark.parametrize(("caller", "agent", "type_", "want_caller", "want_agent"), [
    ("验证码是四八二七一五。", "四八二七一五，对吧？", "code", "验证码是******。", "******，对吧？"),
    ("我叫王晓明。", "王晓明先生您好。", "name", "我叫＊＊＊。", "＊＊＊先生您好。"),
    ("密码是Wx2023ab。", "Wx2023ab是吧？", "code", "密码是＊＊****＊＊。", "＊＊****＊＊是吧？"),
], ids=["code", "name", "password"])
def test_a_value_said_again_by_the_agent_is_masked(caller: str, agent: str, type_: str, want_caller: str,
                                                   want_agent: str, pack: RulePack) -> None:
    late = pack.settings.redact_context_s + 20  # the caller's context word is long past
    result = call_of(("customer", caller, 0.0, 4.0), ("agent", agent, late, late + 3.0))
    out = redact(result, pack)
    assert [u["text"] for u in out["utterances"]] == [want_caller, want_agent]
    p = out["privacy"]
    assert p["counts"] == {type_: 2}
    assert sorted(e["role"] for e in p["entities"]) == ["agent", "customer"]
    (mine,) = [e for e in p["entities"] if e["role"] == "agent"]
    assert all(x["utt"] == 1 and late <= x["start"] < x["end"] <= late + 3.0 for x in mine["pieces"])
    spans = spans_of(with_privacy(out), 0.0)
    assert any(late <= a < b <= late + 3.0 for a, b in spans), spans  # the agent's words get a tone
    assert any(b <= 4.0 for a, b in spans), spans


def test_audit_redact_leaves_no_copy_in_the_database_file(tmp_path: Path, pack: RulePack,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "plain.sqlite"
    conn = connect(db)
    conn.execute("PRAGMA secure_delete = 0")  # deleted rows keep their text in free pages
    add_pii_call(conn, "/rec/pii1.wav", pack)
    assert redaction(conn, None) is False
    # a second call with the number, then replaced by a failure: its text is in free pages only
    d = pii_call("/rec/pii2.wav", pack)
    other = CallMeta(file="/rec/pii2.wav", sha256="b" * 64, call_id="pii2", agent_id="A1",
                     day="2026-11-30")
    store.write_result(conn, other, record_of(d))
    store.write_failure(conn, other, "re-run")
    conn.close()
    chinese = "一三九，五七二一，四八零六"

    def file_bytes() -> bytes:
        return b"".join(Path(f"{db}{s}").read_bytes() for s in ("", "-wal") if Path(f"{db}{s}").exists())

    before = file_bytes()
    assert NUMBER.encode() in before and chinese.encode() in before
    assert main(["redact", "--db", str(db)]) == 0
    assert "masked 1 calls" in capsys.readouterr().out
    after = file_bytes()
    assert NUMBER.encode() not in after
    assert chinese.encode() not in after and "五七二一".encode() not in after
    assert [w for w in {NUMBER[i:i + WINDOW] for i in range(len(NUMBER) - WINDOW + 1)}
            if w.encode() in after] == []
    assert MASKED.encode() in after  # the masked text is there


def test_two_numbers_said_in_a_row_are_each_read_back(pack: RulePack) -> None:
    from callaudit.rules.selftest import run, verdict

    given = ["C 5-8: 订单号是2024001。", "C 9-12: 13812345678。"]
    f = run(pack, "verify_numbers", [*given, "A: 订单号2024001，手机13812345678，对吗？"])
    assert verdict(f) == "pass", (f.detail, f.evidence)
    for back in ("A: 订单号2024001，对吗？", "A: 手机13812345678，对吗？"):
        f = run(pack, "verify_numbers", [*given, back])
        assert verdict(f) == "fail", (back, f.detail)


def test_masked_text_is_not_read_as_a_longer_number(pack: RulePack) -> None:
    from callaudit.rules.selftest import run, verdict
    from callaudit.speech.numbers import numbers_said
    from callaudit.speech.text import spoken_units

    gap = pack.settings.number_join_gap_s
    assert [n.digits for n in numbers_said([said("密码是＊＊****＊＊")], 4, gap)] == ["****"]
    (password,) = masked_text(["密码是Wx2023ab。"], pack)
    assert all(len(n.digits) <= 4 for n in numbers_said([said(password)], 4, gap)), password
    (email,) = masked_text(["我的邮箱是zhangsan@qq.com。"], pack)
    assert "zhangsan" not in email and numbers_said([said(email)], 4, gap) == [], email
    (name,) = masked_text(["我叫王晓明。"], pack)
    assert name == "我叫＊＊＊。" and "*" not in name
    assert numbers_said([said(name)], 1, gap) == []
    # a stored masked call is re-scored as the audit judged it: no number to read back
    f = run(pack, "verify_numbers", [f"C: {email}", "A: 好的，收到。"])
    assert verdict(f) == "n/a", (f.detail, f.evidence)
    assert spoken_units("＊＊****＊＊") == 8 and spoken_units("我叫＊＊＊。") == 5
    assert spoken_units(password) == spoken_units("密码是＊＊****＊＊。") == 11


def test_a_surname_does_not_mask_the_same_character_elsewhere(pack: RulePack) -> None:
    result = call_of(("customer", "我姓高。", 0.0, 2.0), ("agent", "好的，高先生。", 2.5, 4.0))
    message = "音量不适度（过低、过高或削波）"
    result["findings"] = [{"rule": "volume", "section": "voice", "severity": "minor", "applicable": True,
                           "passed": False, "deduction": 2.0, "message": message,
                           "detail": "音量偏高", "evidence": []}]
    out = redact(result, pack)
    assert out["utterances"][0]["text"] == "我姓＊。"  # the surname was found and masked
    assert out["privacy"]["counts"].get("name", 0) >= 1
    f = out["findings"][0]
    assert (f["message"], f["detail"]) == (message, "音量偏高")


def test_a_short_run_in_another_text_is_not_masked_for_a_number_holding_it(pack: RulePack) -> None:
    result = call_of(("agent", "您好，工号1234，很高兴为您服务。", 0.0, 3.0),
                     ("customer", "我的手机号是13812341234。", 3.5, 7.0))
    result["findings"] = [{"rule": "intro", "section": "opening", "severity": "minor", "applicable": True,
                           "passed": True, "deduction": 0.0, "message": "开场未自报单位和工号",
                           "detail": "说了“工号1234”",
                           "evidence": [{"start": 0.0, "end": 3.0, "role": "agent", "text": "工号1234"}]}]
    out = redact(result, pack)
    assert out["utterances"][0]["text"] == "您好，工号1234，很高兴为您服务。"
    assert out["utterances"][1]["text"] == "我的手机号是138****1234。"
    f = out["findings"][0]
    assert f["detail"] == "说了“工号1234”" and f["evidence"][0]["text"] == "工号1234"


def test_as_label_keeps_other_quoted_entities_in_place(tmp_path: Path) -> None:
    over = load(write_pack(tmp_path, "entities:\n  - id: mobile\n    mask: {as: label}\n"))
    text = "手机13812345678，我的验证码是482715"
    result = call_of(("customer", text, 0.0, 5.0))
    result["findings"] = [{"rule": "ask_secret", "section": "conduct", "severity": "major",
                           "applicable": True, "passed": True, "deduction": 0.0, "message": "",
                           "detail": "",
                           "evidence": [{"start": 0.0, "end": 5.0, "role": "customer",
                                         "text": "验证码是482715"}]}]
    out = redact(result, over)
    assert out["utterances"][0]["text"] == "手机[手机号]，我的验证码是******"
    assert out["findings"][0]["evidence"][0]["text"] == "验证码是******"


@pytest.mark.parametrize(("text", "want"), [
    ("座机010-62345678分机1234", [("landline", "01062345678")]),
    ("手机13812345678号", [("mobile", "13812345678")]),
    ("我的号码是13812345678OK", [("mobile", "13812345678")]),
    ("ID11010519491231002X", [("id_card", "11010519491231002X")]),
    ("身份证11010519491231002X6222021234567894",
     [("id_card", "11010519491231002X"), ("bank_card", "6222021234567894")]),
    ("1234567890" * 7, [("number", "1234567890" * 7)]),
], ids=["landline-extension", "mobile-hao", "mobile-ok", "id-letters", "id-then-card", "70-digits"])
def test_numbers_beside_letters_or_short_units_are_found(text: str, want: list[tuple[str, str]],
                                                         pack: RulePack) -> None:
    got = [(e.type, e.value) for e in found([said(text)], pack)]
    assert got == want
    (out,) = masked_text([text], pack)
    for _, value in want:
        digits = value.rstrip("X")
        assert not [digits[i:i + WINDOW] for i in range(len(digits) - WINDOW + 1)
                    if digits[i:i + WINDOW] in out], out


def test_rules_test_fails_for_a_wrong_entity_example(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = write_pack(tmp_path, MEMBER + "    examples:\n      find: [我的工号是一二三四五。]\n")
    assert main(["rules", "test", path]) == 1
    out = capsys.readouterr()
    assert "member_no" in out.out + out.err
    good = write_pack(tmp_path, MEMBER + f"    examples:\n      find: [{MEMBER_SAID}]\n", "good.yaml")
    assert main(["rules", "test", good]) == 0


def test_pack_fingerprint_follows_the_entity_kinds(tmp_path: Path) -> None:
    base = load().fingerprint()
    added = load(write_pack(tmp_path, MEMBER, "added.yaml")).fingerprint()
    changed = load(write_pack(tmp_path, "entities:\n  - id: mobile\n    mask: {as: label}\n",
                              "changed.yaml")).fingerprint()
    wider = load(write_pack(tmp_path, MEMBER.replace("[10, 10]", "[10, 12]"), "wider.yaml")).fingerprint()
    assert len({base, added, changed, wider}) == 4, (base, added, changed, wider)
    assert load(write_pack(tmp_path, MEMBER, "again.yaml")).fingerprint() == added


def test_a_batch_stores_masked_once_the_database_is_set_to_mask(tmp_path: Path, pack: RulePack) -> None:
    from callaudit.batch.jobs import BatchOptions, BatchStats
    from callaudit.batch.pool import _as_stored, _store

    db = str(tmp_path / "batch.sqlite")
    conn = connect(db)
    assert redaction(conn, False) is False  # the batch began on a plain database
    as_stored = _as_stored(conn, BatchOptions(db=db))
    d = pii_call("/rec/pii1.wav", pack)
    plain = record_of(d)
    assert as_stored(plain) is plain  # plain database: stored as it is
    store.set_redaction(conn, True)  # `audit redact` ran meanwhile
    masked = as_stored(copy.deepcopy(plain))
    assert masked.privacy is not None and masked.privacy.redacted is True
    assert leaks(json.dumps(masked.to_json(), ensure_ascii=False)) == []
    job = {"file": "/rec/pii1.wav", "sha256": SHA, "call_id": "pii1"}
    _store(conn, {"job": job, "result": d["result"], "regions": d["regions"],
                  "acoustics": d["acoustics"]},
           BatchStats(), None, None, as_stored)
    conn.close()
    assert leaks(dump(db)) == []
    assert MASKED in dump(db)
