"""The transcript index (results/search.py): kept in step by every write, equal to one
rebuilt from scratch, masked text only in a masked database, queries by words, phrase and
sound with AND / OR / NOT, and one-line errors."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from callaudit.results import search
from callaudit.results.redact import redact_stored
from callaudit.results.rescore import rescore
from callaudit.results.store import CallMeta, connect, transaction, write_result
from callaudit.results.writes import set_redaction
from tests.helpers import stored

NAMES = ("demo_call", "bad_call", "mono_call", "ringback_call")


def database(path: Path, masked: bool | None = None) -> sqlite3.Connection:
    conn = connect(path)
    if masked is not None:
        set_redaction(conn, masked)
    for i, n in enumerate(NAMES):
        write_result(conn, CallMeta(file=f"/rec/{n}.wav", sha256=f"{i:064x}", call_id=n,
                                    agent_id="A1" if i < 2 else "A2", day=f"2026-11-2{i}"), stored(n))
    return conn


def found(conn: sqlite3.Connection, q: str, **kw: str) -> list[tuple[str | None, float]]:
    return [(m.call_id, m.start) for m in search.search(conn, q, search.Filters(**kw)).moments]


def same_as_rebuilt(conn: sqlite3.Connection) -> None:
    kept = search.index_terms(conn)
    with transaction(conn):
        search.rebuild(conn)
    assert search.index_terms(conn) == kept and kept


def test_a_phrase_said_in_one_call_is_found_with_its_time(tmp_path: Path) -> None:
    conn = database(tmp_path / "r.sqlite")
    f = search.search(conn, '"密码告诉我"')
    assert f.total == 1
    m = f.moments[0]
    assert (m.call_id, m.start, m.end, m.role) == ("bad_call", 16.89, 21.69, "agent")
    assert "".join(t for t, on in m.parts() if on) == "密码告诉我"
    assert found(conn, "密码告诉我") == [("bad_call", 16.89)]  # unquoted Chinese: a phrase too


def test_pinyin_search_finds_the_homophone(tmp_path: Path) -> None:
    conn = database(tmp_path / "r.sqlite")
    assert found(conn, "工号") == []  # as written: the recognizer wrote 宫号 and 公号
    hits = search.search(conn, "~工号").moments
    assert {m.call_id for m in hits} == {"demo_call", "mono_call", "ringback_call"}
    assert {m.text[m.marks[0][0]:m.marks[0][1]] for m in hits} == {"宫号", "公号"}
    assert found(conn, '~"gong hao"') == found(conn, "~工号")
    assert found(conn, "~工号", who="customer") == []


def test_and_or_not(tmp_path: Path) -> None:
    conn = database(tmp_path / "r.sqlite")
    hello, bye = set(found(conn, "您好")), set(found(conn, "再见"))
    assert hello and bye
    assert set(found(conn, "您好 OR 再见")) == hello | bye
    assert set(found(conn, "您好 AND 服务")) <= hello
    assert set(found(conn, "您好 NOT 服务")) == hello - set(found(conn, "您好 服务"))
    assert set(found(conn, "再见 -感谢")) == set(found(conn, "再见 NOT 感谢"))
    assert set(found(conn, "(您好 OR 再见) NOT 感谢")) <= hello | bye


def test_filters(tmp_path: Path) -> None:
    conn = database(tmp_path / "r.sqlite")
    assert {c for c, _ in found(conn, "~工号", agent_id="A2")} == {"mono_call", "ringback_call"}
    assert {c for c, _ in found(conn, "~工号", day_from="2026-11-22")} == {"mono_call", "ringback_call"}
    assert {c for c, _ in found(conn, "~工号", day_to="2026-11-20")} == {"demo_call"}
    assert {c for c, _ in found(conn, "密码", rule="ask_secret")} == {"bad_call"}
    assert found(conn, "密码", rule="no_such_rule") == []


@pytest.mark.parametrize("query, problem", [
    ('"不知道', "not closed"), ("(退款", "not closed"), ("退款)", "without its ("),
    ("NOT 退款", "alone finds nothing"), ("退款 OR", "nothing to join"), ("", "empty"),
    ("，。", "no word"), ("~!!", "by sound")])
def test_a_malformed_query_is_one_line(query: str, problem: str) -> None:
    with pytest.raises(search.QueryError, match=re.escape(problem)) as e:
        search.parse(query)
    assert "\n" not in str(e.value)


def test_an_index_kept_in_step_equals_one_rebuilt_from_scratch(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    conn = database(db)
    same_as_rebuilt(conn)
    # a call replaced (the same content stored again) and one audited again as failed
    write_result(conn, CallMeta(file="/rec/demo_call.wav", sha256=f"{0:064x}", call_id="demo_call",
                                agent_id="A1", day="2026-11-20"), stored("demo_call"))
    from callaudit.results.store import write_failure

    write_failure(conn, CallMeta(file="/rec/mono_call.wav", sha256=f"{2:064x}", call_id="mono_call"), "x")
    assert [c for c, _ in found(conn, "~工号")].count("demo_call") == 1
    assert "mono_call" not in {c for c, _ in found(conn, "~工号")}
    same_as_rebuilt(conn)
    conn.close()
    rescore(str(db), None)  # the text as the pack's vocabulary writes it (工号)
    conn = connect(db)
    assert {c for c, _ in found(conn, "工号")} == {"demo_call", "ringback_call"}
    same_as_rebuilt(conn)


def test_a_masked_database_never_returns_masked_digits(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    conn = database(db, masked=False)
    conn.close()
    digits = _digits_said(db)
    assert digits, "the stored calls say a number that masking hides"
    redact_stored(str(db))
    conn = connect(db)
    for d in digits:
        assert search.search(conn, d).total == 0, d
    for m in search.search(conn, "~一 OR ~幺 OR ~三 OR ~八", limit=1000).moments:
        assert not any(d in m.text for d in digits)
    same_as_rebuilt(conn)
    raw = Path(db).read_bytes()
    assert not any(d.encode() in raw for d in digits)  # nor in the index's pages


def _digits_said(db: Path) -> list[str]:
    """Numbers of 7+ digits the calls say (before masking)."""
    conn = sqlite3.connect(db)
    try:
        texts = [r[0] for r in conn.execute("SELECT text FROM utterances")]
    finally:
        conn.close()
    return sorted({n for t in texts for n in re.findall(r"\d{7,}", t)})


def test_a_database_made_before_the_index_gets_it(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    database(db).close()
    raw = sqlite3.connect(db)  # as a version-9 database: no index, no triggers
    for name in ("utterances_index_add", "utterances_index_drop", "utterances_index_change"):
        raw.execute(f"DROP TRIGGER {name}")
    raw.execute("DROP TABLE transcript_index")
    raw.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    reader = connect(db, readonly=True)
    with pytest.raises(search.QueryError, match="no transcript index.*audit db reindex"):
        search.search(reader, "密码")
    reader.close()
    conn = connect(db)  # a writer: migration 10
    assert found(conn, "密码") == [("bad_call", 16.89)]
    same_as_rebuilt(conn)


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from callaudit.cli import main

    db = tmp_path / "r.sqlite"
    database(db).close()
    assert main(["search", "--db", str(db), "密码告诉我", "--who", "agent"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["2026-11-21  bad_call  A1  00:16  agent  "
                                "可以,请把你们银行卡密码告诉我,我要何时身分?"]
    assert err.strip() == "1 moments"
    assert main(["search", "--db", str(db), "~工号", "--agent", "A2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"] == 2 and {m["call_id"] for m in doc["moments"]} == {"mono_call", "ringback_call"}
    assert all(m["text"][m["marks"][0][0]:m["marks"][0][1]] == "公号" for m in doc["moments"])
    assert main(["search", "--db", str(db), "量子纠缠"]) == 1
    assert capsys.readouterr().err.strip() == "0 moments"
    assert main(["search", "--db", str(db), '"不知道']) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["db", "reindex", "--db", str(db)]) == 0
    assert "transcript index made again" in capsys.readouterr().out
