"""Hot words (issue 36): the caller's terms stored per call, what rose most on a night against
the week and the month before, per business line, why callers called, on the dashboard; kept
in step when the text changes (redact, rescore) and filled for an older database."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from callaudit.cli.results import write_dashboard
from callaudit.records import Utterance
from callaudit.results import hotwords
from callaudit.results.hotwords import caller_terms, earlier_days, pack_words, rise
from callaudit.results.redact import redact_stored
from callaudit.results.store import connect, stored_result, update_scores
from callaudit.rules.pack import load
from tests.helpers import copy_database
from tests.helpers.hotwords import LINES, NIGHT, PLANTED, PLANTED_SAID, said, store, week


@pytest.fixture(scope="module")
def week_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("hot") / "week.sqlite"
    conn = connect(db)
    week(conn)
    conn.close()
    return db


def _terms(db: Path | str, call_id: str) -> dict[str, tuple[int, int]]:
    conn = sqlite3.connect(db)
    try:
        return {t: (n, o) for t, n, o in conn.execute(
            "SELECT t.term, t.n, t.opening FROM call_terms t JOIN calls c ON c.id = t.call "
            "WHERE c.call_id = ?", (call_id,))}
    finally:
        conn.close()


def _first_terms(html: str, table: str) -> list[str]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<tr data-term="([^"]+)"', body)


def test_the_planted_complaint_is_the_dashboards_first_hot_word(week_db: Path, tmp_path: Path) -> None:
    """Done when (issue 36): on a week where one complaint rises, the dashboard lists it first,
    against the previous 7 days and the previous 30, with its count, change, trend and calls."""
    out = tmp_path / "nightly.html"
    write_dashboard(str(week_db), str(out))
    html = out.read_text("utf-8")
    for table in ("hot-7", "hot-30"):
        assert _first_terms(html, table)[0] == PLANTED, table
    conn = connect(week_db, readonly=True)
    h = hotwords.hot_words(conn, window=7)
    conn.close()
    top = h.words[0]
    assert (h.night, h.night_calls, h.earlier_calls) == (NIGHT, 40, 240)
    assert top.term == PLANTED and top.calls == 12
    assert top.usual == pytest.approx(15 / 240 * 40, abs=0.01)  # 1+1+2+4+7 of 240 calls before
    assert top.change == pytest.approx(12 - top.usual, abs=0.01)
    assert top.trend == (None, 0, 1, 1, 2, 4, 7, 12)  # 11-23 had no calls
    assert len(top.behind) == 12 and all(c.call_id.startswith("30-") for c in top.behind)
    assert "怎么又被扣款了" not in html  # terms, not what was said
    # the ordinary talk did not rise, whatever its counts
    assert all(w.score < top.score / 2 for w in h.words[1:])


def test_the_method_in_numbers() -> None:
    # a term from 0 to 1 scores 1; a complaint from 1 a night to 12 scores far more; a common
    # term wobbling by its square root scores about 1
    assert rise(1, 0.0, 40)[2] == pytest.approx(1.0)
    assert rise(12, 1 / 40, 40)[2] == pytest.approx(11 / 2 ** 0.5)
    assert rise(110, 0.25, 400)[2] == pytest.approx(10 / 101 ** 0.5)


def test_a_term_of_few_calls_is_not_listed(tmp_path: Path) -> None:
    db = tmp_path / "few.sqlite"
    conn = connect(db)
    for k in range(2):  # new tonight, in two calls: under MIN_CALLS
        store(conn, f"n{k}", NIGHT, said("耳机坏了"))
    h = hotwords.hot_words(conn)
    conn.close()
    assert h.words == ()


def test_terms_are_the_callers_once_per_call_without_stop_words_or_scripts(tmp_path: Path) -> None:
    db = tmp_path / "one.sqlite"
    conn = connect(db)
    r = said("你好，我那个宽带又断网了，宽带，宽带", "请问有什么可以帮您", late=("发票开一下",))
    r["utterances"].append({"role": "agent", "start": 60.0, "end": 62.0, "text": "套餐的事我帮您查询",
                            "channel": 0, "level_dbfs": -20.0})
    store(conn, "c1", NIGHT, r)
    conn.close()
    terms = _terms(db, "c1")
    assert terms["宽带"] == (3, 1)  # one row, said three times, in the first 30 s
    assert terms["发票"] == (1, 0)  # after the first 30 s
    assert "套餐" not in terms  # the agent's words are not the caller's
    for left_out in ("你好", "那个", "请问有什么可以帮您", "请问", "可以"):  # stop words, the script
        assert left_out not in terms
    assert all(len(t) >= 2 for t in terms)


def test_numbers_and_what_touches_a_mask_are_no_terms() -> None:
    words = pack_words()
    text = "我的手机号是一三八****五六七八，住在阳光＊＊小区，订单号二零二六"
    utts = [Utterance(1, 1.0, 3.0, text, "customer")]
    terms = {t.term for t in caller_terms(utts, words)}
    assert "阳光" not in terms and "小区" not in terms  # beside a masked run: part of an address
    assert not terms & {"三八", "五六", "七八", "二零二六"}
    assert not any(ch in t for t in terms for ch in "*＊")


def test_redact_leaves_only_masked_terms(tmp_path: Path) -> None:
    """A database masked by `audit redact` keeps no term cut from what was masked."""
    db = tmp_path / "plain.sqlite"
    conn = connect(db)
    for k in range(3):
        store(conn, f"p{k}", NIGHT, said("我的邮箱是zhangwei2020@qq.com，快递没到"))
    conn.close()
    assert "zhangwei2020" in _terms(db, "p0")  # as said, in a plain database
    redact_stored(str(db))
    for k in range(3):
        terms = _terms(db, f"p{k}")
        assert "快递" in terms
        assert not any("zhangwei" in t or "2020" in t for t in terms), terms


def test_rescore_keeps_terms_in_step_with_the_text(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    conn = connect(db)
    store(conn, "r1", NIGHT, said("我的宫号查一下"))
    call = int(conn.execute("SELECT id FROM calls").fetchone()[0])
    result = stored_result(conn, call)
    assert result is not None
    utts = [replace(u, text=u.text.replace("宫号", "积分")) for u in result.utterances]
    update_scores(conn, call, replace(result, utterances=utts))
    conn.close()
    terms = _terms(db, "r1")
    assert "积分" in terms and "宫号" not in terms


def test_an_older_database_gets_its_terms_when_migrated(week_db: Path, tmp_path: Path) -> None:
    db = copy_database(week_db, tmp_path / "old.sqlite")
    before = sqlite3.connect(db)
    want = sorted(before.execute("SELECT call, term, n, opening FROM call_terms"))
    before.execute("DROP TABLE call_terms")
    before.execute("UPDATE meta SET value = '10' WHERE key = 'schema_version'")
    before.commit()
    before.close()
    reader = connect(db, readonly=True)  # a reader never migrates: no hot words, no error
    assert hotwords.night_terms(reader).why == "not_stored"
    reader.close()
    connect(db).close()  # a writer upgrades it
    after = sqlite3.connect(db)
    assert sorted(after.execute("SELECT call, term, n, opening FROM call_terms")) == want
    after.close()


def test_per_business_line(week_db: Path) -> None:
    conn = connect(week_db, readonly=True)
    night = hotwords.night_terms(conn)
    conn.close()
    by_line = {h.line: h for h in night.lines}
    assert set(by_line) == set(LINES)
    assert by_line[LINES[0]].words[0].term == PLANTED  # where the complaint was
    assert PLANTED not in {w.term for w in by_line[LINES[1]].words}


def test_why_callers_call(week_db: Path) -> None:
    conn = connect(week_db, readonly=True)
    openings = hotwords.opening_terms(conn)
    conn.close()
    top = {o.term: o for o in openings}
    assert "话费" in top and top["话费"].calls == max(o.calls for o in openings)
    assert top[PLANTED].calls == 12 and top[PLANTED].share == pytest.approx(12 / 40)
    assert PLANTED_SAID not in top


def test_a_page_that_masks_shows_no_terms_of_a_plain_database(week_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "masked.html"
    write_dashboard(str(week_db), str(out), redact=load(None))
    html = out.read_text("utf-8")
    assert 'id="hot-7"' not in html and "audit redact" in html


@pytest.mark.parametrize(("night", "n", "want"), [
    ("2026-12-01", 2, ["2026-11-29", "2026-11-30"]),
    ("20261201", 2, ["20261129", "20261130"]),
    ("week-49", 2, ["week-47", "week-48"]),
])
def test_earlier_days(night: str, n: int, want: list[str]) -> None:
    assert earlier_days(night, n, ["week-46", "week-47", "week-48", "week-49"]) == want
